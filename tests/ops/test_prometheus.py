"""The Prometheus rules, checked and unit-tested by promtool, then evaluated by a real Prometheus
server that scrapes a running acd after scripted calls."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from acd.config import load_config
from acd.metrics import WAIT_BUCKETS
from tests.ops.conftest import DEPLOY, ROOT, free_port, http, program

RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "acd.json"


def promtool() -> str:
    return program("promtool", "Debian package prometheus")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_promtool_checks_the_recording_and_alerting_rules():
    assert RULES, "no rule files in deploy/prometheus/rules"
    result = run(promtool(), "check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULES)


def test_promtool_unit_tests_of_the_rules_pass():
    assert RULE_TESTS, "no promtool unit tests in deploy/prometheus/tests"
    result = run(promtool(), "test", "rules", *(p.name for p in RULE_TESTS), cwd=RULE_TESTS[0].parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout


def test_the_service_level_is_the_records_threshold_in_the_rules_and_the_dashboard():
    """The supervisors' service level is the published one: the recording rule's histogram bucket,
    the dashboard's title and the records' `service_level_s` (config/records.yaml) agree, and the
    wait histogram has that bucket (else the rule would count nothing)."""

    threshold = load_config(ROOT / "config").records.service_level_s
    rules = (DEPLOY / "prometheus" / "rules" / "acd.rules.yml").read_text()
    (bucket,) = set(re.findall(r'outcome="answered", le=~"(\d+)\(', rules))
    assert float(bucket) == threshold
    assert threshold in WAIT_BUCKETS
    sys.path.insert(0, str(DEPLOY / "grafana"))
    try:
        import build_dashboard
    finally:
        sys.path.pop(0)
    assert threshold == build_dashboard.SERVICE_LEVEL_S


def test_the_compose_prometheus_config_is_valid(tmp_path):
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]  # where compose mounts the rules
    config["rule_files"] = [str(p) for p in RULES]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = run(promtool(), "check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["acd"]["static_configs"][0]["targets"] == ["acd:8080"]


def test_every_alert_the_issue_asks_for_exists():
    alerts = {
        rule["alert"]: rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    for name in (
        "ACDAnswerRateBelowTarget",
        "ACDQueueUnstaffed",
        "ACDCallsWaitingWithNoAgent",
        "ACDOutboxBacklog",
        "ACDOverflowActive",
        "ACDInstanceNotReady",
        "ACDInstanceDown",
        "ACDWatchdogFlagged",
        "ACDRecordsLagging",
        "ACDRecordsDropped",
    ):
        assert name in alerts, name
        assert alerts[name]["labels"]["severity"] in ("critical", "warning", "info")
        assert alerts[name]["annotations"]["summary"]
    assert "0.85" in alerts["ACDAnswerRateBelowTarget"]["expr"]


# -- a real Prometheus scraping a real acd


class Prometheus:
    def __init__(self, tmp: Path, target: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(p) for p in RULES],
            "scrape_configs": [{"job_name": "acd", "static_configs": [{"targets": [target]}]}],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = (tmp / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                program("prometheus", "Debian package prometheus"),
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self.log,
            stderr=self.log,
        )
        self.wait(lambda: http("GET", self.url + "/-/ready", timeout=1)[0] == 200, 30, "prometheus ready")

    def query(self, expr: str) -> list[dict[str, Any]]:
        status, body = http("GET", f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert status == 200 and body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait(self, ready: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.proc.returncode}")
            try:
                if ready():
                    return
            except (OSError, AssertionError):
                pass
            time.sleep(0.25)
        try:
            targets = http("GET", self.url + "/api/v1/targets", timeout=2)[1]
        except OSError as exc:
            targets = repr(exc)
        raise AssertionError(f"timed out waiting for {what}; targets: {targets}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def prometheus(tmp_path) -> Iterator[Any]:
    started: list[Prometheus] = []

    def start(target: str) -> Prometheus:
        p = Prometheus(tmp_path, target)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def lille_agents(n: int) -> list[str]:
    config = load_config(ROOT / "config")
    # Level 4 or more: impot_revenu calls go to experts first (config/routing.yaml, widening).
    ids = [a.id for a in config.agents if a.site == "lille" and a.skills.get("impot_revenu", 0) >= 4]
    assert len(ids) >= n
    return ids[:n]


def test_prometheus_scrapes_acd_and_the_rules_give_the_answer_rate(acd_process, prometheus, artifacts):
    acd = acd_process()
    agents = lille_agents(9)
    n = iter(range(1, 10_000))

    def ev(type_: str, **fields: Any) -> dict[str, Any]:
        return {"id": f"p{next(n)}", "type": type_, **fields}

    def offer(call_id: str) -> dict[str, Any]:
        return ev("call.offered", call_id=call_id, caller="+33612345678", skill="impot_revenu")

    # Seed: every counter the ratios use exists before Prometheus' first scrape (a counter child
    # appears on its first increment, and increase() counts from a series' first sample).
    acd.events(
        ev("agent.state", agent_id=agents[0], state="available"),
        offer("seed-1"),
        ev("call.answered", call_id="seed-1", agent_id=agents[0]),
        offer("seed-2"),
        ev("call.ended", call_id="seed-2", reason="abandoned"),
    )
    prom = prometheus(f"127.0.0.1:{acd.port}")
    prom.wait(
        lambda: (prom.value('count_over_time(acd_calls_offered_total{job="acd"}[1m])') or 0) >= 3,
        30,
        "3 scrapes",
    )

    # Scripted calls: 10 offered, 8 answered by 8 agents, 2 abandoned in line: c9 at once (a short
    # abandon, within 5 s: neither offered nor abandoned for the answer rate, as in the records),
    # c8 after more than 5 s. Answer rate 8 / 9.
    acd.events(*(ev("agent.state", agent_id=a, state="available") for a in agents[1:]))
    offered_at = time.monotonic()
    decisions = acd.events(*(offer(f"c{i}") for i in range(10)))["results"]
    actions = [r["decision"]["action"] for r in decisions]
    assert actions == ["connect"] * 8 + ["queue"] * 2, actions
    acd.events(
        *(
            ev("call.answered", call_id=f"c{i}", agent_id=r["decision"]["agent_id"])
            for i, r in enumerate(decisions[:8])
        ),
        ev("call.ended", call_id="c9", reason="abandoned"),
    )
    time.sleep(max(0.0, offered_at + 5.5 - time.monotonic()))
    acd.events(ev("call.ended", call_id="c8", reason="abandoned"))
    prom.wait(
        lambda: (prom.value('count_over_time(acd_calls_offered_total{job="acd"}[5m])') or 0) >= 10,
        40,
        "samples",
    )

    def settled() -> bool:
        value = prom.value(":acd_answer_rate:ratio5m")
        return value is not None and abs(value - 8 / 9) < 0.005

    prom.wait(settled, 20, "the recorded answer rate")
    rate, gone = pytest.approx(8 / 9, abs=0.005), pytest.approx(1 / 9, abs=0.005)
    assert prom.value(":acd_answer_rate:ratio5m") == rate
    assert prom.value('skill:acd_answer_rate:ratio5m{skill="impot_revenu"}') == rate
    assert prom.value('skill:acd_abandon_rate:ratio5m{skill="impot_revenu"}') == gone
    # The formula of docs/operations.md, straight from the counters, agrees with the recording
    # rule; the bare ratio of the counters counts the short abandon as offered (8 / 10).
    direct = prom.value(
        "sum(increase(acd_calls_answered_total[5m])) / (sum(increase(acd_calls_offered_total[5m]))"
        " - (sum(increase(acd_calls_closed_total[5m])) or vector(0))"
        " - (sum(increase(acd_calls_short_abandoned_total[5m])) or vector(0)))"
    )
    assert direct == pytest.approx(8 / 9, abs=0.005)
    bare = prom.value(
        "sum(increase(acd_calls_answered_total[5m])) / sum(increase(acd_calls_offered_total[5m]))"
    )
    assert bare == pytest.approx(0.8, abs=0.005)
    assert prom.value('skill:acd_agents_staffed:max{skill="impot_revenu"}') == 9
    assert prom.value('skill:acd_queue_waiting_calls:max{skill="impot_revenu"}') == 0
    assert prom.value('up{job="acd"}') == 1

    # Every rule evaluates without error on the real series, and the dashboard's queries all run.
    _, body = http("GET", prom.url + "/api/v1/rules")
    rules = [r for g in body["data"]["groups"] for r in g["rules"]]
    assert len(rules) >= 30
    bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] == "err"]
    assert not bad, bad
    assert sum(r["health"] == "ok" for r in rules) >= 25  # the 1-minute group may not have run yet
    firing = {r["name"] for r in rules if r["type"] == "alerting" and r["state"] != "inactive"}
    assert "ACDInstanceDown" not in firing
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            prom.query(target["expr"].replace("$skill", ".*"))
    preview_dashboard(prom.url, artifacts)


def preview_dashboard(prometheus_url: str, artifacts: Path) -> None:
    """The dashboard's panels drawn from this Prometheus (deploy/grafana/preview.py), kept as an
    artifact, and screenshot in Chromium when it is installed."""
    sys.path.insert(0, str(DEPLOY / "grafana"))
    try:
        import preview
    finally:
        sys.path.pop(0)
    page = artifacts / "dashboard-preview.html"
    page.write_text(preview.render(prometheus_url, minutes=1), encoding="utf-8")
    chromium = Path("/usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return
    if not chromium.exists():
        return
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"])
        try:
            tab = browser.new_page(viewport={"width": 1600, "height": 1000})
            tab.goto(page.as_uri())
            tab.screenshot(path=str(artifacts / "dashboard-preview.png"), full_page=True)
        finally:
            browser.close()
