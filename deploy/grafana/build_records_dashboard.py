"""Writes deploy/grafana/dashboards/acd-records.json, the daily indicators from the call records
(PostgreSQL data source `acd-records`, the views of docs/records.md), with Grafana's own builder
library (grafana-foundation-sdk), so the dashboard is checked against Grafana's types.

    python deploy/grafana/build_records_dashboard.py          # rewrite the JSON
    python deploy/grafana/build_records_dashboard.py --check  # exit 1 if the JSON is out of date

Panels: the answer rate by site per day against the 85 % target; satisfaction (share of 4-5
scores) by site per day; the answer rate of the whole line per day with short abandons and
callbacks answered.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, dashboard

OUT = Path(__file__).resolve().parent / "dashboards" / "acd-records.json"
DATASOURCE = dashboard.DataSourceRef(type_val="grafana-postgresql-datasource", uid="acd-records")
TARGET = 0.85

#: The panels' SQL, over the views the records migrations create ($__timeFilter: Grafana's macro).
ANSWER_RATE_BY_SITE = """\
SELECT day::timestamp AS time, COALESCE(site, 'no agent') AS metric, answer_rate
FROM daily_site_indicators
WHERE $__timeFilter(day::timestamp) AND offered > 0
ORDER BY 1, 2"""
SATISFACTION_BY_SITE = """\
SELECT day::timestamp AS time, COALESCE(site, 'no agent') AS metric, satisfied_share
FROM daily_site_satisfaction
WHERE $__timeFilter(day::timestamp)
ORDER BY 1, 2"""
LINE_BY_DAY = """\
SELECT day::timestamp AS time,
       1.0 * SUM(answered) / NULLIF(SUM(offered), 0) AS answer_rate,
       1.0 * SUM(answered_by_callback) / NULLIF(SUM(offered), 0) AS through_callbacks,
       1.0 * SUM(short_abandoned) / NULLIF(SUM(offered) + SUM(short_abandoned), 0) AS short_abandons
FROM call_outcomes
WHERE $__timeFilter(day::timestamp)
GROUP BY day
ORDER BY 1"""
QUERIES = [ANSWER_RATE_BY_SITE, SATISFACTION_BY_SITE, LINE_BY_DAY]


class SqlQuery(cogvariants.Dataquery):
    """A raw SQL query of Grafana's PostgreSQL data source (the SDK has no builder for it)."""

    def __init__(self, sql: str, ref_id: str = "A", format_val: str = "time_series") -> None:
        self.sql = sql
        self.ref_id = ref_id
        self.format_val = format_val

    def to_json(self) -> dict[str, Any]:
        return {
            "refId": self.ref_id,
            "datasource": DATASOURCE.to_json(),
            "editorMode": "code",
            "format": self.format_val,
            "rawQuery": True,
            "rawSql": self.sql,
        }


class Sql(cogbuilder.Builder[SqlQuery]):
    def __init__(self, sql: str, ref_id: str = "A") -> None:
        self._query = SqlQuery(sql, ref_id)

    def build(self) -> SqlQuery:
        return self._query


def target_thresholds() -> dashboard_builders.ThresholdsConfig:
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(dashboard.ThresholdsMode.ABSOLUTE)
        .steps(
            [dashboard.Threshold(value=None, color="red"), dashboard.Threshold(value=TARGET, color="green")]
        )
    )


def ratio_panel(title: str, description: str, sql: str, *, target: bool) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(Sql(sql))
        .unit("percentunit")
        .min(0)
        .max(1)
        .decimals(1)
        .interval("1d")
        .draw_style(common.GraphDrawStyle.LINE)
        .line_width(2)
        .show_points(common.VisibilityMode.ALWAYS)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .show_legend(True)
            .calcs(["mean", "min"])
        )
        .height(9)
        .span(12)
    )
    if target:
        panel = panel.thresholds(target_thresholds()).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.LINE)
        )
    return panel


def build() -> dashboard_builders.Dashboard:
    return (
        dashboard_builders.Dashboard("ACD: daily indicators (call records)")
        .uid("acd-records")
        .tags(["acd", "records", "indicators"])
        .timezone("Europe/Paris")
        .time("now-30d", "now")
        .refresh("1h")
        .with_row(dashboard_builders.Row("Published indicators, from the call records"))
        .with_panel(
            ratio_panel(
                "Answer rate by site (daily, target 85 %)",
                "Calls answered by an agent (directly or through the callback the caller accepted) / "
                "calls offered while open, short abandons (< 5 s) left out. Calls that never reached "
                "an agent show as 'no agent'.",
                ANSWER_RATE_BY_SITE,
                target=True,
            )
        )
        .with_panel(
            ratio_panel(
                "Satisfaction by site (daily, share of 4-5 scores)",
                "Post-call survey answers scored 4 or 5 / answers, by the site of the agent who answered.",
                SATISFACTION_BY_SITE,
                target=False,
            )
        )
        .with_panel(
            ratio_panel(
                "The line: answer rate, through callbacks, short abandons (daily)",
                "The whole line's answer rate against 85 %; the part answered through accepted "
                "callbacks; short abandons among all calls offered while open.",
                LINE_BY_DAY,
                target=True,
            ).span(24)
        )
    )


def render() -> str:
    return json.dumps(json.loads(JSONEncoder().encode(build().build())), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
