"""Start-up: settings from the environment, the shipped config, clear refusals of bad values."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime

import pytest
from prometheus_client import CollectorRegistry

from acd.api.app import create_app
from acd.settings import Settings
from tests.conftest import ROOT, small_config


def run_acd(*args: str, env: dict[str, str] | None = None, cwd=ROOT) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "acd", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_config_accepts_the_shipped_configuration():
    result = run_acd("check-config")
    assert result.returncode == 0, result.stderr
    assert "20 sites, 5 skills" in result.stdout


def test_a_broken_config_file_stops_start_up_with_file_line_and_reason(tmp_path):
    broken = tmp_path / "config"
    shutil.copytree(ROOT / "config", broken)
    text = (broken / "agents.yaml").read_text().splitlines()
    index = next(i for i, line in enumerate(text) if line.lstrip().startswith("- {id:"))
    text[index] = text[index].replace("site: ", "site: atlantis-", 1)
    (broken / "agents.yaml").write_text("\n".join(text) + "\n")
    result = run_acd("serve", env={"ACD_CONFIG_DIR": str(broken), "ACD_PORT": "0"})
    assert result.returncode != 0
    assert f"agents.yaml:{index + 1}:" in result.stderr
    assert "atlantis" in result.stderr


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"ACD_PORT": "eighty"}, "ACD_PORT"),
        ({"ACD_PORT": "70000"}, "ACD_PORT"),
        ({"ACD_CLOCK_START": "2026-03-02T08:29:00"}, "ACD_CLOCK_START"),
        ({"ACD_REDIS_URL": "http://localhost"}, "ACD_REDIS_URL"),
        ({"ACD_ROUTER": "quantum"}, "ACD_ROUTER"),
    ],
)
def test_a_bad_setting_stops_start_up_with_a_clear_message(env, needle):
    result = run_acd("serve", env=env)
    assert result.returncode != 0
    assert "bad settings" in result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


async def test_clock_start_sets_the_service_clock(aiohttp_client):
    start = datetime.fromisoformat("2026-03-02T08:29:00+01:00")
    app = create_app(Settings(clock_start=start), small_config(), registry=CollectorRegistry())
    client = await aiohttp_client(app)
    body = {"id": "e", "type": "call.offered", "call_id": "c1", "caller": "+33612345678", "skill": "lsf"}
    assert (await client.post("/v1/events", json=body)).status == 200
    call = await (await client.get("/v1/calls/c1")).json()
    offered = datetime.fromisoformat(call["offered_at"])
    assert 0 <= (offered - start).total_seconds() < 60  # the clock runs on from the start instant


def test_the_api_does_not_import_any_adapter():
    code = "import sys, acd.api.app; print(sorted(m for m in sys.modules if m.startswith('acd.adapters')))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


async def test_serve_wires_the_kamailio_adapter_only_when_its_url_is_set(aiohttp_client):
    from acd.cli import extensions

    assert extensions(Settings()) == []
    with_url = Settings(kamailio_url="http://127.0.0.1:5080/acd/command")
    app = create_app(with_url, small_config(), registry=CollectorRegistry(), extensions=extensions(with_url))
    client = await aiohttp_client(app)
    answer = await client.post("/adapters/kamailio/ended", data={"call_id": "nobody"})
    assert answer.status == 422, await answer.text()  # the adapter is there: a call acd does not know
    bare = create_app(with_url, small_config(), registry=CollectorRegistry())
    client = await aiohttp_client(bare)
    assert (await client.post("/adapters/kamailio/ended", data={"call_id": "nobody"})).status == 404
