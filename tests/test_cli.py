"""Start-up: settings from the environment, the shipped config, clear refusals of bad values."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from acd.api.app import create_app
from acd.cli import main as cli_main
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


def test_a_reader_that_stops_reading_ends_the_output_quietly():
    """`acd simulate ... | head`: the pipe's reader gone before the report is written (here,
    closed at once), the command ends without a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}
    args = ["simulate", "config/scenarios/mm50m.yaml", "--json", "--no-progress", "--calls", "10"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "acd", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # nobody reads: the report's write finds the pipe broken
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err, err.decode()
    assert proc.returncode == 1


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
    "text",
    [
        "routing: &x [*x]\n",  # a list holding itself
        "routing: &x {wrap_up_s: *x}\n",  # a mapping holding itself
        "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 3000)).replace("*a0", "1"),  # 3,000 deep
    ],
    ids=["list", "mapping", "deep"],
)
def test_a_config_file_whose_aliases_nest_without_end_is_refused_with_its_file_not_a_traceback(
    tmp_path, text
):
    """An alias inside its own anchor, or aliases nested thousands deep: a RecursionError
    traceback from the YAML reader, for `acd check-config`, `acd serve` and a scenario alike."""
    broken = tmp_path / "config"
    shutil.copytree(ROOT / "config", broken)
    (broken / "routing.yaml").write_text(text)
    result = run_acd("check-config", env={"ACD_CONFIG_DIR": str(broken)})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert "routing.yaml:" in result.stderr and "alias" in result.stderr


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


@pytest.mark.parametrize(
    "start",
    [
        "9999-12-31T20:00:00+00:00",
        "1970-01-01T00:00:00+00:00",
        "2100-01-01T12:00:00+01:00",
        # 2000 in its own offset, 1999 on the line (Paris): the warm-up's events refused, every
        # call closed with no reopening (/work/notes/audit-time.md, D1)
        "2000-01-01T00:00:00+14:00",
    ],
)
def test_a_clock_start_outside_the_calendar_s_years_is_refused(start):
    """The service's clock must stand where requests may: ACD_CLOCK_START at year 9999 started
    a service whose first call.offered was a 500 (the day's figures overflowed the date) and
    whose first due callback spun the timer loop for ever (no next opening)."""
    with pytest.raises(ValidationError) as exc:
        Settings(clock_start=datetime.fromisoformat(start))
    assert "ACD_CLOCK_START" in str(exc.value) and "2000 to 2099" in str(exc.value)
    Settings(clock_start=datetime.fromisoformat("2099-12-31T18:00:00+01:00"))  # the last year is fine


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


def test_acd_loads_only_the_subcommands_it_runs_and_help_still_lists_them_all():
    code = (
        "import sys, acd.cli; acd.cli.main(sys.argv[1:])\n"
        "mods = ('acd.sim.cli', 'acd.records.cli', 'acd.store.state_cli')\n"
        "print(sorted(m for m in sys.modules if m in mods))"
    )
    staff = ["staff", "--rate-per-min", "4", "--aht-s", "60", "--service-level", "0.8", "--calls", "0"]
    result = subprocess.run(
        [sys.executable, "-c", code, *staff], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['acd.sim.cli']"
    helped = run_acd("--help")
    assert helped.returncode == 0, helped.stderr
    for name in ("serve", "check-config", "simulate", "staff", "tune", "records", "state"):
        assert name in helped.stdout
    wrong = run_acd("simulat")  # a typo: the error lists every command, as before
    assert wrong.returncode == 2 and "records" in wrong.stderr and "simulate" in wrong.stderr


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


# -- acd state export / import


def _store_url(db: int = 8) -> str:
    import redis

    base = os.environ.get("ACD_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    client = redis.Redis.from_url(f"{base}/{db}")
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {base}: {exc}")
    client.flushdb()
    client.close()
    return f"{base}/{db}"


def _a_busy_morning() -> dict:
    """The state of an engine under the shipped config/ after a few calls, a callback and an
    appointment, as plain data."""
    from acd.config import load_config
    from acd.engine import Engine
    from acd.engine import state as engine_state
    from tests.conftest import T0, Driver

    d = Driver(Engine(load_config(ROOT / "config"), router="reference"), now=T0)
    agents = list(d.engine.agents)[:2]
    for agent in agents:
        d.agent(agent, "available")
    for i in range(5):
        d.offer(f"c{i}")
    d.send("call.answered", call_id="c0", agent_id=d.engine.calls["c0"].agent_id)
    d.send("callback.requested", callback_id="rq1", number="+33611111111", skill="paiement")
    d.send(
        "appointment.booked",
        appointment_id="ap1",
        number="+33622222222",
        skill="impot_revenu",
        start="2026-03-03T10:00:00+01:00",
    )
    return json.loads(json.dumps(engine_state.dump(d.engine)))


def test_state_import_fills_an_empty_store_and_export_gives_the_same_document_back(tmp_path):
    url = _store_url()
    document = _a_busy_morning()
    source = tmp_path / "state.json"
    source.write_text(json.dumps(document))
    env = {"ACD_REDIS_URL": url, "ACD_ROUTER": "reference"}
    imported = run_acd("state", "import", str(source), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "calls waiting" in imported.stderr and "1 appointments" in imported.stderr

    again = run_acd("state", "import", str(source), env=env)
    assert again.returncode != 0 and "not empty" in again.stderr

    out = tmp_path / "out.json"
    exported = run_acd("state", "export", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(out.read_text()) == document
    to_stdout = run_acd("state", "export", env=env)
    assert json.loads(to_stdout.stdout) == document


def test_state_export_and_import_say_why_they_refuse(tmp_path):
    no_store = run_acd("state", "export")
    assert no_store.returncode != 0 and "Redis" in no_store.stderr
    url = _store_url()
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    bad = run_acd("state", "import", str(junk), env={"ACD_REDIS_URL": url})
    assert bad.returncode != 0 and "not JSON" in bad.stderr
    junk.write_text(json.dumps({"format": 99}))
    future = run_acd("state", "import", str(junk), env={"ACD_REDIS_URL": url})
    assert future.returncode != 0 and "newer" in future.stderr
    # each said in a sentence, never a traceback (/work/notes/audit-redis.md, D4)
    for text in ("[1, 2]", '"hello"', "4"):
        junk.write_text(text)
        not_object = run_acd("state", "import", str(junk), env={"ACD_REDIS_URL": url})
        assert not_object.returncode != 0 and "not a state document" in not_object.stderr
        assert "Traceback" not in not_object.stderr
    document = _a_busy_morning()
    document["agents"][0]["skills"] = "impot_revenu"
    junk.write_text(json.dumps(document))
    shape = run_acd("state", "import", str(junk), env={"ACD_REDIS_URL": url, "ACD_ROUTER": "reference"})
    assert shape.returncode != 0 and "Traceback" not in shape.stderr, shape.stderr
    for target in (tmp_path / "missing" / "x.json", tmp_path):
        nowhere = run_acd("state", "export", str(target), env={"ACD_REDIS_URL": url})
        assert nowhere.returncode != 0 and "cannot write" in nowhere.stderr, nowhere.stderr
        assert "Traceback" not in nowhere.stderr


def _edited(document: dict, how: str) -> dict:
    edited = json.loads(json.dumps(document))
    if how == "a call twice in the line":
        edited["waiting"].append(list(edited["waiting"][0]))
    elif how == "a line naming an ended call":
        ended = next(c for c in edited["calls"] if c.get("status") == "ended" or c["id"] == "c0")
        edited["waiting"].append([ended["id"], None, 0.0])
    elif how == "an agent listed twice":
        edited["agents"].append(dict(edited["agents"][0]))
    elif how == "agents not a list":
        edited["agents"] = {}
    elif how == "an agent owned by a call the document lacks":
        next(a for a in edited["agents"] if a.get("call_id"))["call_id"] = "ghost"
    elif how == "an agent that is not an object":
        edited["agents"].append("a9")
    elif how == "a line entry naming a list":
        edited["waiting"].append([["c1"], None, 0.0])
    elif how == "a call naming another agent than the one it owns":  # its end would free nobody
        owned = next(a for a in edited["agents"] if a.get("call_id"))["call_id"]
        next(c for c in edited["calls"] if c["id"] == owned)["agent_id"] = "ghost"
    elif how == "an appointment's start that is not a time":  # later a 500 at each GET
        edited["appointments"][0]["start"] = "soon"
    elif how == "a timer of a kind acd never sets":
        edited["timers"]["due"].append([edited["now"] + 60, 1, "explode", "c1", 0])
    elif how == "a timer counter below zero":
        edited["timers"]["seq"] = -5
    elif how == "a timer whose time is not a number":
        edited["timers"]["due"].append(["soon", 1, "call", "c1", 0])
    elif how == "a clock at Infinity":  # Python's JSON writes and reads it
        edited["now"] = float("inf")
    elif how == "a clock in the year 11,000":
        edited["now"] = 3e11
    elif how == "a call offered at NaN":
        edited["calls"][0]["offered_at"] = float("nan")
    elif how == "no remembered events":  # was "KeyError: 'remembered'"
        del edited["remembered"]
    elif how == "the remembered events a list":  # was "TypeError: list indices must be integers..."
        edited["remembered"] = []
    return edited


@pytest.mark.parametrize(
    "how",
    [
        "a call twice in the line",
        "a line naming an ended call",
        "an agent listed twice",
        "agents not a list",
        "an agent owned by a call the document lacks",
        "an agent that is not an object",
        "a line entry naming a list",
        "a call naming another agent than the one it owns",
        "an appointment's start that is not a time",
        "a timer of a kind acd never sets",
        "a timer counter below zero",
        "a timer whose time is not a number",
        "a clock at Infinity",
        "a clock in the year 11,000",
        "a call offered at NaN",
        "no remembered events",
        "the remembered events a list",
    ],
)
def test_state_import_refuses_a_hand_edited_document_that_does_not_hold_together(tmp_path, how):
    """A document edited by hand into a state the engine never makes (one caller twice in the
    line: two agents rung for one call) is refused with its reason, and the store stays empty.
    Before, each of these was imported (exit 0)."""
    import redis

    url = _store_url()
    source = tmp_path / "state.json"
    source.write_text(json.dumps(_edited(_a_busy_morning(), how)))
    refused = run_acd("state", "import", str(source), env={"ACD_REDIS_URL": url, "ACD_ROUTER": "reference"})
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "does not hold together" in refused.stderr, refused.stderr
    assert "Error" not in refused.stderr  # said in the document's words, not Python's
    if "remembered" in how:
        assert "`remembered`" in refused.stderr, refused.stderr
    client = redis.Redis.from_url(url)
    assert client.dbsize() == 0
    client.close()


def test_commands_still_pending_move_with_the_state(tmp_path):
    """Moving a deployment (export, import into a new store, start) carries the commands the
    platform has not acknowledged yet: the `connect` of an agent reserved while the platform was
    down is sent by the new store's service. Before, the document left them out: the caller was
    never put through and the agent stayed reserved."""
    import asyncio

    import redis

    from acd.model import Command
    from acd.store.outbox_redis import RedisOutboxStore

    old, new = _store_url(8), _store_url(5)
    source = tmp_path / "state.json"
    source.write_text(json.dumps(_a_busy_morning()))
    env = {"ACD_REDIS_URL": old, "ACD_ROUTER": "reference"}
    assert run_acd("state", "import", str(source), env=env).returncode == 0
    pending = Command(
        id="c1.connect.1", command="connect", fields={"call_id": "c1", "agent_id": "a", "target": "t"}
    )

    async def put() -> None:
        client = redis.asyncio.Redis.from_url(old)
        await RedisOutboxStore(client, "acd:").put([pending])
        await client.aclose()

    asyncio.run(put())
    moved = tmp_path / "moved.json"
    exported = run_acd("state", "export", str(moved), env=env)
    assert exported.returncode == 0, exported.stderr
    assert "1 commands pending" in exported.stderr
    imported = run_acd("state", "import", str(moved), env={**env, "ACD_REDIS_URL": new})
    assert imported.returncode == 0, imported.stderr
    client = redis.Redis.from_url(new)
    assert [k.decode() for k in client.hkeys("acd:outbox:commands")] == ["c1.connect.1"]
    assert json.loads(client.hget("acd:outbox:commands", "c1.connect.1"))["fields"] == pending.fields
    client.close()


def test_serve_given_an_option_says_its_settings_are_the_environment(capsys):
    """`acd serve --port 8091` (as other servers take it) is refused saying where the port is set."""
    with pytest.raises(SystemExit) as exited:
        cli_main(["serve", "--port", "8091"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --port 8091" in err and "ACD_PORT=8091 acd serve" in err


def test_another_command_given_an_unknown_option_is_refused_as_before(capsys):
    with pytest.raises(SystemExit) as exited:
        cli_main(["check-config", "--strict"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --strict" in err and "ACD_PORT" not in err


def test_state_import_of_json_nested_past_the_reader_s_stack_is_refused_with_a_message(tmp_path):
    """JSON arrays nested 100,000 deep: a RecursionError traceback from json.loads."""
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    result = run_acd("state", "import", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr[-500:]
    assert f"{path} is not JSON acd reads: it nests too deep" in result.stderr


def test_acd_says_its_version_the_one_it_is_packaged_and_snapshotted_as():
    """`acd --version`: the release a snapshot's header names (acd/store/snapshot.py compares
    it), the package's own (pyproject.toml) and, installed, the distribution's."""
    import tomllib
    from importlib import metadata

    import acd

    ran = run_acd("--version")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == f"acd {acd.__version__}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == acd.__version__
    assert metadata.version("acd") == acd.__version__


@pytest.mark.parametrize(("given", "seen"), [(None, "1"), ("4", "4")])
def test_the_command_keeps_openblas_to_one_thread_unless_told(given, seen):
    """acd does no linear algebra: numpy's OpenBLAS pool would only spin at start-up."""
    code = (
        "import os; import acd.cli as c\n"
        "c.main = lambda: print(os.environ.get('OPENBLAS_NUM_THREADS'), flush=True)\n"
        "c.run()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    ran = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == seen
