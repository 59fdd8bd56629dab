"""Writes deploy/grafana/dashboards/acd.json, the supervisors' Grafana dashboard, from the panel list
below (built on the recording rules of deploy/prometheus/rules/acd.rules.yml).

    python deploy/grafana/build_dashboard.py          # rewrite the JSON
    python deploy/grafana/build_dashboard.py --check  # exit 1 if the JSON is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards" / "acd.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
SKILL = '{skill=~"$skill"}'
TARGET = 0.85
#: The service level's threshold: the records' `service_level_s` (config/records.yaml), which the
#: recording rules use too (tests/ops/test_prometheus.py checks the three agree).
SERVICE_LEVEL_S = 60


class Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping to new rows."""

    def __init__(self) -> None:
        self.x = self.y = self.row_h = 0
        self.next_id = 1
        self.panels: list[dict[str, Any]] = []

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "id": self._id(),
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["datasource"] = DS
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_h
        self.x = self.row_h = 0

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def target(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> dict[str, Any]:
    t: dict[str, Any] = {"refId": ref, "datasource": DS, "expr": expr, "legendFormat": legend or "__auto"}
    if instant:
        t |= {"instant": True, "range": False, "format": "table"}
    return t


def _targets(exprs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [target(e, legend, ref=chr(ord("A") + i)) for i, (e, legend) in enumerate(exprs)]


def red_under_target() -> dict[str, Any]:
    return {
        "mode": "absolute",
        "steps": [{"color": "red", "value": None}, {"color": "green", "value": TARGET}],
    }


def stat(title: str, expr: str, unit: str, *, thresholds: dict | None = None, mappings: list | None = None):
    return {
        "type": "stat",
        "title": title,
        "targets": [target(expr, title)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "decimals": 1 if unit == "percentunit" else None,
                "thresholds": thresholds or {"mode": "absolute", "steps": [{"color": "blue", "value": None}]},
                "mappings": mappings or [],
                "color": {"mode": "thresholds"},
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "area",
            "textMode": "value",
            "justifyMode": "center",
            "orientation": "auto",
        },
    }


def series(
    title: str,
    exprs: list[tuple[str, str]],
    unit: str,
    *,
    stack: bool = False,
    description: str = "",
    threshold_line: float | None = None,
    minimum: float | None = 0,
    maximum: float | None = None,
) -> dict[str, Any]:
    custom: dict[str, Any] = {
        "drawStyle": "line",
        "lineWidth": 2,
        "fillOpacity": 25 if stack else 0,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "line+area" if threshold_line is not None else "off"},
    }
    thresholds = (
        red_under_target()
        if threshold_line is not None
        else {"mode": "absolute", "steps": [{"color": "green", "value": None}]}
    )
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "targets": _targets(exprs),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": minimum,
                "max": maximum,
                "custom": custom,
                "thresholds": thresholds,
                "color": {"mode": "palette-classic"},
            },
            "overrides": [
                {
                    "matcher": {"id": "byName", "options": "target 85 %"},
                    "properties": [
                        {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                    ],
                }
            ],
        },
        "options": {
            "legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def bars(title: str, expr: str, legend: str, unit: str, *, maximum: float | None = None) -> dict[str, Any]:
    return {
        "type": "bargauge",
        "title": title,
        "targets": [target(expr, legend)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "max": maximum,
                "thresholds": {
                    "mode": "absolute",
                    "steps": [
                        {"color": "green", "value": None},
                        {"color": "orange", "value": 0.8 if maximum == 1 else 1e9},
                        {"color": "red", "value": 1 if maximum == 1 else 1e9},
                    ],
                },
                "color": {"mode": "thresholds"},
            },
            "overrides": [],
        },
        "options": {
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    }


def build() -> dict[str, Any]:
    g = Layout()
    on_off = [{"type": "value", "options": {"0": {"text": "off", "color": "green"}, "1": {"text": "ON"}}}]
    overflow_colours = {
        "mode": "absolute",
        "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 1}],
    }

    g.row("Answer rate (taux de décroché)")
    g.add(
        stat("Answer rate, 5 min", ":acd_answer_rate:ratio5m", "percentunit", thresholds=red_under_target()),
        5,
        5,
    )
    g.add(
        stat("Answer rate, 24 h", ":acd_answer_rate:ratio1d", "percentunit", thresholds=red_under_target()),
        5,
        5,
    )
    level = f"Service level (≤ {SERVICE_LEVEL_S} s), 5 min"
    g.add(stat(level, ":acd_service_level:ratio5m", "percentunit"), 5, 5)
    g.add(stat("Abandoned, 5 min", ":acd_abandon_rate:ratio5m", "percentunit"), 5, 5)
    g.add(
        stat("Overflow", "max(acd_overflow_active)", "none", thresholds=overflow_colours, mappings=on_off),
        4,
        5,
    )
    g.add(
        series(
            "Answer rate by skill vs the 85 % target (5 min)",
            [
                (f"skill:acd_answer_rate:ratio5m{SKILL}", "{{skill}}"),
                (":acd_answer_rate:ratio5m", "all skills"),
                (f"vector({TARGET})", "target 85 %"),
            ],
            "percentunit",
            threshold_line=TARGET,
            maximum=1,
            description="Calls answered / calls offered over the last 5 minutes (recording rules).",
        ),
        16,
        9,
    )
    g.add(
        series(
            "Answer rate by skill, rolling 24 h",
            [(f"skill:acd_answer_rate:ratio1d{SKILL}", "{{skill}}"), (f"vector({TARGET})", "target 85 %")],
            "percentunit",
            threshold_line=TARGET,
            maximum=1,
        ),
        8,
        9,
    )

    g.row("Calls")
    g.add(
        series(
            "Calls by outcome (per 5 min)",
            [
                (f"sum(skill:acd_calls_offered:increase5m{SKILL})", "offered in opening hours"),
                (f"sum(skill:acd_calls_answered:increase5m{SKILL})", "answered"),
                (f"sum(skill:acd_calls_abandoned:increase5m{SKILL})", "abandoned"),
                (f"sum(skill:acd_calls_overflowed:increase5m{SKILL})", "overflowed to local services"),
                (f"sum(skill:acd_calls_closed:increase5m{SKILL})", "closed hours"),
            ],
            "short",
        ),
        12,
        8,
    )
    g.add(
        series(
            "Service level and abandonment by skill (5 min)",
            [
                (f"skill:acd_service_level:ratio5m{SKILL}", "{{skill}} service level"),
                (f"skill:acd_abandon_rate:ratio5m{SKILL}", "{{skill}} abandoned"),
            ],
            "percentunit",
            maximum=1,
        ),
        12,
        8,
    )

    g.row("Queues")
    g.add(
        series(
            "Calls waiting by skill",
            [(f"skill:acd_queue_waiting_calls:max{SKILL}", "{{skill}}")],
            "short",
            stack=True,
        ),
        8,
        8,
    )
    g.add(
        series(
            "Expected wait (EWT) by skill", [(f"skill:acd_queue_ewt_seconds:max{SKILL}", "{{skill}}")], "s"
        ),
        8,
        8,
    )
    g.add(
        series(
            "Longest wait and mean answer time by skill",
            [
                (f"skill:acd_queue_oldest_caller_wait_seconds:max{SKILL}", "{{skill}} longest wait on hold"),
                (f"skill:acd_queue_oldest_wait_seconds:max{SKILL}", "{{skill}} longest in line"),
                (f"skill:acd_asa_seconds:mean5m{SKILL}", "{{skill}} ASA"),
            ],
            "s",
        ),
        8,
        8,
    )

    g.row("Agents")
    g.add(
        series(
            "Agents by state",
            [('sum by (state) (site_state:acd_agents:max{state!="logged_out"})', "{{state}}")],
            "short",
            stack=True,
        ),
        8,
        8,
    )
    g.add(
        bars(
            "Agents logged in by site",
            'sum by (site) (site_state:acd_agents:max{state!="logged_out"})',
            "{{site}}",
            "short",
        ),
        8,
        8,
    )
    g.add(
        series(
            "Agents by skill (staffed, available)",
            [
                (f"skill:acd_agents_staffed:max{SKILL}", "{{skill}} staffed"),
                (
                    'max by (skill) (acd_skill_agents{activity="available", skill=~"$skill"})',
                    "{{skill}} available",
                ),
            ],
            "short",
        ),
        8,
        8,
    )

    g.row("Overflow to local services")
    g.add(
        series(
            "Overflow active and mode",
            [
                ("max(acd_overflow_active)", "active"),
                ("max by (mode) (acd_overflow_mode == 1)", "mode {{mode}}"),
            ],
            "short",
            maximum=1,
        ),
        8,
        8,
    )
    g.add(
        series(
            "Calls overflowed by department (top 10, per 5 min)",
            [("topk(10, department:acd_calls_overflowed:increase5m > 0)", "{{department}}")],
            "short",
        ),
        8,
        8,
    )
    g.add(
        bars(
            "Local service load / capacity (top 15)",
            "topk(15, max by (department) (acd_local_service_load)"
            " / max by (department) (acd_local_service_capacity > 0))",
            "{{department}}",
            "percentunit",
            maximum=1,
        ),
        8,
        8,
    )

    g.row("Callbacks and appointments")
    g.add(
        series(
            "Callbacks by status (per hour)",
            [(f"sum by (status) (increase(acd_callbacks_total{SKILL}[1h]))", "{{status}}")],
            "short",
        ),
        6,
        8,
    )
    g.add(
        series(
            "Appointments by status (per hour)",
            [("sum by (status) (increase(acd_appointments_total[1h]))", "{{status}}")],
            "short",
        ),
        6,
        8,
    )
    g.add(
        series(
            "Callback delay (p50, p90)",
            [
                (
                    "histogram_quantile(0.5, sum by (le) (rate(acd_callback_delay_seconds_bucket[1h])))",
                    "p50",
                ),
                (
                    "histogram_quantile(0.9, sum by (le) (rate(acd_callback_delay_seconds_bucket[1h])))",
                    "p90",
                ),
            ],
            "s",
        ),
        6,
        8,
    )
    g.add(
        bars(
            "Appointment places booked today",
            f"max by (skill) (acd_appointment_slot_occupancy{SKILL})",
            "{{skill}}",
            "percentunit",
            maximum=1,
        ),
        6,
        8,
    )

    g.row("Service health")
    g.add(
        series(
            "Outbox: commands pending, delivered per minute",
            [
                ("max by (instance) (acd_outbox_pending)", "{{instance}} pending"),
                (
                    "sum by (command) (rate(acd_commands_delivered_total[5m])) * 60",
                    "{{command}} delivered/min",
                ),
            ],
            "short",
        ),
        8,
        8,
    )
    g.add(
        series(
            "Routing decision time (p50, p99)",
            [
                (
                    "histogram_quantile(0.5, sum by (le) (rate(acd_routing_decision_seconds_bucket[5m])))",
                    "p50",
                ),
                (
                    "histogram_quantile(0.99, sum by (le) (rate(acd_routing_decision_seconds_bucket[5m])))",
                    "p99",
                ),
            ],
            "s",
        ),
        8,
        8,
    )
    g.add(
        series(
            "Events per second and requests refused",
            [
                ("sum by (type) (rate(acd_events_total[5m]))", "{{type}}"),
                ("sum by (code) (rate(acd_requests_rejected_total[5m]))", "refused: {{code}}"),
            ],
            "reqps",
        ),
        8,
        8,
    )

    return {
        "uid": "acd-overview",
        "title": "ACD — helpline overview",
        "description": "Answer rate against the 85 % target, calls, queues, agents, overflow, callbacks.",
        "tags": ["acd"],
        "timezone": "Europe/Paris",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Prometheus", "value": "acd-prometheus"},
                    "hide": 0,
                },
                {
                    "name": "skill",
                    "label": "Skill",
                    "type": "query",
                    "datasource": DS,
                    "query": {"query": "label_values(acd_calls_offered_total, skill)", "refId": "skill"},
                    "definition": "label_values(acd_calls_offered_total, skill)",
                    "refresh": 2,
                    "multi": True,
                    "includeAll": True,
                    "allValue": ".*",
                    "current": {"text": ["All"], "value": ["$__all"]},
                    "sort": 1,
                    "hide": 0,
                },
            ]
        },
        "panels": g.panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
