"""The records' Grafana side: the dashboard built with grafana-foundation-sdk is what is committed,
its data source is provisioned and backed by the compose PostgreSQL, and every panel's SQL runs on
a real PostgreSQL with acd's migrations (Grafana's macros replaced)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid

import pytest
import yaml

from acd.records.db import PostgresDB
from tests.ops.conftest import DEPLOY
from tests.records.conftest import PG_BASE

GRAFANA = DEPLOY / "grafana"
BOARD = GRAFANA / "dashboards" / "acd-records.json"


def board() -> dict:
    return json.loads(BOARD.read_text())


def test_the_records_dashboard_json_is_what_the_sdk_builder_writes():
    result = subprocess.run(
        [sys.executable, str(GRAFANA / "build_records_dashboard.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_records_datasource_is_provisioned_on_the_compose_postgresql():
    [ds] = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "records.yml").read_text())[
        "datasources"
    ]
    assert ds["type"] == "grafana-postgresql-datasource" and ds["uid"] == "acd-records"
    services = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    db = services["records-db"]
    assert ds["url"] == "records-db:5432" and ds["jsonData"]["database"] == db["environment"]["POSTGRES_DB"]
    assert services["acd"]["environment"]["ACD_RECORDS_URL"].startswith("postgresql://")
    assert "@records-db:5432/acd" in services["acd"]["environment"]["ACD_RECORDS_URL"]
    assert services["acd"]["depends_on"]["records-db"]["condition"] == "service_healthy"
    assert "./postgres/init:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    assert (DEPLOY / "postgres" / "init" / "10-grafana-role.sh").exists()
    for panel in board()["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == ds["uid"]
            assert all(t["datasource"]["uid"] == ds["uid"] for t in panel["targets"])


def test_the_daily_panels_show_answer_rate_by_site_against_85_and_satisfaction_by_site():
    panels = {p["title"]: p for p in board()["panels"] if p["type"] != "row"}
    rate = next(p for t, p in panels.items() if t.startswith("Answer rate by site"))
    steps = rate["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.85]
    assert rate["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
    assert "daily_site_indicators" in rate["targets"][0]["rawSql"]
    satisfaction = next(p for t, p in panels.items() if t.startswith("Satisfaction by site"))
    assert "daily_site_satisfaction" in satisfaction["targets"][0]["rawSql"]


@pytest.fixture
def migrated_postgres():
    import psycopg

    name = f"acd_test_records_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_BASE.rsplit("/", 1)[0] + f"/{name}"
    try:
        asyncio.run(PostgresDB(url).open())
        yield url
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_every_panel_query_runs_on_postgresql_with_the_migrations(migrated_postgres):
    import psycopg

    with psycopg.connect(migrated_postgres) as conn:
        for panel in board()["panels"]:
            for target in panel.get("targets", []):
                sql = re.sub(
                    r"\$__timeFilter\(([^()]*(\([^()]*\))?[^()]*)\)",
                    r"\1 > now() - interval '30 days'",
                    target["rawSql"],
                )
                assert "$__" not in sql
                conn.execute(sql).fetchall()
