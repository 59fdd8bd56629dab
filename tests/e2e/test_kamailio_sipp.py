"""End to end with a real SIP proxy: Kamailio asks `acd` where each call goes, sipp plays callers and agents.

Everything runs on 127.0.0.1, started by the test: `acd serve` (signed API, the Kamailio adapter, its
outbox POSTing signed commands to the adapter), Kamailio with deploy/kamailio/kamailio.cfg, one sipp
UAS per agent phone (plus one for a local service), and sipp UAC callers. Skipped only when the
`kamailio` or `sipp` binary (Debian: kamailio kamailio-utils-modules kamailio-extra-modules
sip-tester) is missing.

Workload (13 calls): 3 agents (2 with impot_revenu, 1 with paiement); 6 patient impot_revenu callers
and 3 patient paiement callers (more callers than agents: most are queued and connected when an agent
frees up), 3 impatient impot_revenu callers who hang up in the queue (abandons), and one
espace_particulier caller of department 59 whom no agent can take, overflowed to the local service
(overflow mode `on`).

A second test runs two `acd serve` sharing one Redis behind one Kamailio that spreads its requests
across both (ACD_URL, ACD_URL_2), with an agent's phone that never answers (call.unanswered, the call
goes back in line) and Call-IDs acd knows by a digest (the leader's connect commands find the SIP
Call-ID in the shared call map): every call ends on both instances' views, no agent stays busy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from acd.adapters.kamailio import call_id_of
from acd.signing import signed_headers
from tools.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kamailio"
SECRET = "e2e-secret"
CLOCK_START = "2026-03-03T10:00:00+01:00"  # a Tuesday, within the line's and the services' hours
TALK_MS = 2000
PATIENT_MS = 25000
IMPATIENT_MS = 1500
DEADLINE_S = 90

KAMAILIO = shutil.which("kamailio") or ("/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None)
SIPP = shutil.which("sipp")
HTTP_CLIENT_SO = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/http_client.so")
JANSSON_SO = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/jansson.so")

pytestmark = [
    pytest.mark.skipif(
        KAMAILIO is None or SIPP is None,
        reason="end-to-end SIP test needs the kamailio and sipp binaries "
        "(apt-get install kamailio kamailio-utils-modules kamailio-extra-modules sip-tester)",
    ),
    pytest.mark.skipif(
        not (HTTP_CLIENT_SO.exists() and JANSSON_SO.exists()),
        reason="Kamailio's http_client and jansson modules are missing "
        "(apt-get install kamailio-utils-modules kamailio-extra-modules)",
    ),
]

AGENTS = {
    "e2e-ir-1": {"skills": {"impot_revenu": 5}},
    "e2e-ir-2": {"skills": {"impot_revenu": 5}},
    "e2e-pay-1": {"skills": {"paiement": 5}},
}


def _free_ports(n: int) -> list[int]:
    return free_ports(n, udp=True)  # SIP listens on UDP, acd and Kamailio's xhttp on TCP


class Acd:
    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method: str, path: str, body: object | None = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if path.startswith("/v1/"):
            headers.update(signed_headers(SECRET.encode(), data or b""))
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        text = raw.decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text


def _wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} not up after {timeout} s:\n{log.read_text()[-3000:]}")


def _wait_udp_listening(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return  # taken: the server is listening
        finally:
            s.close()
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on udp {port}")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


_TRACE_HEAD = re.compile(r"^-{10,} (\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+)", re.M)


def _sip_messages(path: Path) -> list[tuple[float, str, str]]:
    """(unix time, 'sent'|'received', message) of each message in a sipp -trace_msg file."""
    text = path.read_text(errors="replace") if path.exists() else ""
    heads = list(_TRACE_HEAD.finditer(text))
    out = []
    for i, head in enumerate(heads):
        chunk = text[head.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        stamp = datetime.strptime(re.sub(r"\s+", " ", head.group(1)), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        direction = "sent" if " sent " in chunk.split("\n", 2)[1] + " " else "received"
        body = chunk.split("\n", 3)[-1] if chunk.count("\n") >= 3 else chunk
        out.append((stamp, direction, body.strip()))
    return out


def _call_id(message: str) -> str | None:
    m = re.search(r"^(?:Call-ID|i):\s*(\S+)", message, re.M | re.I)
    return m.group(1) if m else None


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _report(capsys: pytest.CaptureFixture[str], lines: list[str]) -> None:
    """Print past pytest's capture: the CI log shows the figures and a real SIP message."""
    with capsys.disabled():
        print("\n".join(lines), flush=True)


def _start_acd(
    config: Path,
    clock_start: str,
    acd_port: int,
    http_port: int,
    procs: list[subprocess.Popen],
    logs: Path,
    *,
    redis_url: str | None = None,
    name: str = "acd",
) -> Acd:
    """`acd serve` with the signed API, the Kamailio adapter, and its outbox POSTing to the adapter
    (with `redis_url`: one of several instances sharing that Redis)."""
    env = {
        **os.environ,
        "ACD_PORT": str(acd_port),
        "ACD_CONFIG_DIR": str(config),
        "ACD_CLOCK_START": clock_start,
        "ACD_WEBHOOK_SECRET": SECRET,
        "ACD_COMMAND_URL": f"http://127.0.0.1:{acd_port}/adapters/kamailio/commands",
        "ACD_KAMAILIO_URL": f"http://127.0.0.1:{http_port}/acd/command",
        "ACD_LOG_FORMAT": "text",
    }
    env.pop("ACD_REDIS_URL", None)
    if redis_url is not None:
        env.update({"ACD_REDIS_URL": redis_url, "ACD_REDIS_LEASE_TTL_S": "1", "ACD_INSTANCE_ID": name})
    acd_log = logs / f"{name}.log"
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "acd", "serve"],
            env=env,
            cwd=ROOT,
            stdout=acd_log.open("w"),
            stderr=subprocess.STDOUT,
        )
    )
    acd = Acd(f"http://127.0.0.1:{acd_port}")
    _wait_http(acd.base + "/readyz", 60, procs[-1], acd_log)
    return acd


def _start_kamailio(
    acd: Acd,
    sip_port: int,
    http_port: int,
    tmp_path: Path,
    procs: list[subprocess.Popen],
    logs: Path,
    **env: str,
) -> None:
    """Kamailio with deploy/kamailio/kamailio.cfg, asking `acd` where each call goes (`env`: more of
    its environment, ACD_URL_2 or KAMAILIO_RING_MS)."""
    kam_env = {k: v for k, v in os.environ.items() if k not in ("ACD_URL_2", "KAMAILIO_RING_MS")}
    kam_env.update(
        {"ACD_URL": acd.base, "KAMAILIO_SIP_PORT": str(sip_port), "KAMAILIO_HTTP_PORT": str(http_port), **env}
    )
    run_dir = tmp_path / "kamailio-run"
    run_dir.mkdir()
    procs.append(
        subprocess.Popen(
            [
                KAMAILIO,
                "-DD",
                "-E",
                "-f",
                str(DEPLOY / "kamailio.cfg"),
                "-w",
                str(run_dir),
                "-Y",
                str(run_dir),
                "-P",
                str(run_dir / "kamailio.pid"),
            ],
            env=kam_env,
            stdout=(logs / "kamailio.log").open("w"),
            stderr=subprocess.STDOUT,
        )
    )
    _wait_udp_listening(sip_port, 20)


def test_kamailio_routes_calls_through_acd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    acd_port, sip_port, http_port, service_port, *agent_ports = _free_ports(4 + len(AGENTS))
    sipp_ports = _free_ports(4)

    # -- a config: the shipped one, agents wrap up in 1 s, the local service of 59 is a sipp phone
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("scenarios"))
    routing = config / "routing.yaml"
    routing.write_text(re.sub(r"wrap_up_s: \d+", "wrap_up_s: 1", routing.read_text()))
    services = config / "services.yaml"
    services.write_text(
        services.read_text().replace(
            "sip:accueil@sip-59.services.acd.example", f"sip:accueil@127.0.0.1:{service_port}"
        )
    )
    procs: list[subprocess.Popen] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        # -- acd
        acd = _start_acd(config, CLOCK_START, acd_port, http_port, procs, logs)

        # -- Kamailio
        _start_kamailio(acd, sip_port, http_port, tmp_path, procs, logs)

        # -- agents: their phones (sipp UAS), the roster (PUT), logged in (signed agent.state)
        def uas(name: str, port: int) -> None:
            procs.append(
                subprocess.Popen(
                    [
                        SIPP,
                        "-sf",
                        str(DEPLOY / "sipp" / "agent.xml"),
                        "-i",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "-nostdin",
                        "-trace_msg",
                        "-message_file",
                        str(logs / f"{name}.msg"),
                        "-trace_logs",
                        "-log_file",
                        str(logs / f"{name}.log"),
                    ],
                    stdout=(logs / f"{name}.screen").open("w"),
                    stderr=subprocess.STDOUT,
                )
            )

        for (agent_id, spec), port in zip(AGENTS.items(), agent_ports, strict=True):
            uas(agent_id, port)
            status, body = acd.request(
                "PUT",
                f"/v1/agents/{agent_id}",
                {"site": "lille", "skills": spec["skills"], "target": f"sip:{agent_id}@127.0.0.1:{port}"},
            )
            assert status in (200, 201), body
            status, body = acd.request(
                "POST",
                "/v1/events",
                {
                    "id": f"login-{agent_id}",
                    "type": "agent.state",
                    "agent_id": agent_id,
                    "state": "available",
                },
            )
            assert status == 200, body
        uas("service-59", service_port)
        assert acd.request("PUT", "/v1/overflow", {"mode": "on"})[0] == 200
        for port in [*agent_ports, service_port]:
            _wait_udp_listening(port, 10)

        # -- callers
        scenario = (DEPLOY / "sipp" / "caller.xml").read_text()

        def callers(name: str, rows: list[str], patience_ms: int, local_port: int, rate: int) -> None:
            xml = tmp_path / f"{name}.xml"
            xml.write_text(scenario.replace('timeout="30000"', f'timeout="{patience_ms}"'))
            csv = tmp_path / f"{name}.csv"
            csv.write_text("SEQUENTIAL\n" + "\n".join(rows) + "\n")
            procs.append(
                subprocess.Popen(
                    [
                        SIPP,
                        "-sf",
                        str(xml),
                        "-inf",
                        str(csv),
                        f"127.0.0.1:{sip_port}",
                        "-i",
                        "127.0.0.1",
                        "-p",
                        str(local_port),
                        "-m",
                        str(len(rows)),
                        "-r",
                        str(rate),
                        "-d",
                        str(TALK_MS),
                        "-timeout",
                        f"{DEADLINE_S}s",
                        "-nostdin",
                        "-trace_msg",
                        "-message_file",
                        str(logs / f"{name}.msg"),
                        "-trace_logs",
                        "-log_file",
                        str(logs / f"{name}.log"),
                        "-trace_stat",
                        "-stf",
                        str(logs / f"{name}.csv"),
                        "-fd",
                        "1",
                    ],
                    stdout=(logs / f"{name}.screen").open("w"),
                    stderr=subprocess.STDOUT,
                )
            )
            caller_procs.append(procs[-1])

        caller_procs: list[subprocess.Popen] = []
        callers(
            "patient-ir", [f"+3361000000{i};impot_revenu;" for i in range(6)], PATIENT_MS, sipp_ports[0], 20
        )
        callers("patient-pay", [f"+3362000000{i};paiement;" for i in range(3)], PATIENT_MS, sipp_ports[1], 20)
        # the impatient callers queue behind the patient ones: wait until those 4 are waiting
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            queues = acd.request("GET", "/v1/queues")[1]["queues"]
            if next(q["waiting"] for q in queues if q["skill"] == "impot_revenu") >= 4:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the 6 patient impot_revenu callers did not reach acd (4 waiting) within 15 s")
        callers(
            "impatient-ir",
            [f"+3363000000{i};impot_revenu;" for i in range(3)],
            IMPATIENT_MS,
            sipp_ports[2],
            20,
        )
        callers("overflow-59", ["+33320000000;espace_particulier;59"], PATIENT_MS, sipp_ports[3], 1)

        for proc in caller_procs:
            remaining = DEADLINE_S - (time.monotonic() - started)
            try:
                proc.wait(max(1.0, remaining))
            except subprocess.TimeoutExpired:
                pytest.fail(f"sipp callers still running after {DEADLINE_S} s; logs in {logs}")
        time.sleep(0.5)  # the last BYE's call.ended
        elapsed = time.monotonic() - started

        # -- what sipp saw
        outcomes: dict[str, tuple[str, str]] = {}  # call-id -> (group, outcome)
        for group in ("patient-ir", "patient-pay", "impatient-ir", "overflow-59"):
            for line in (logs / f"{group}.log").read_text().splitlines():
                m = re.search(r"OUTCOME (\S+) (\w+)", line)
                if m:
                    outcomes[m.group(1)] = (group, m.group(2))
        rang: dict[str, str] = {}  # call-id -> phone that got it
        for phone in [*AGENTS, "service-59"]:
            log = logs / f"{phone}.log"
            for line in log.read_text().splitlines() if log.exists() else []:
                m = re.search(r"AGENT (\S+)", line)
                if m:
                    rang[m.group(1)] = phone

        # setup latency: the caller's INVITE sent -> the relayed INVITE received by the phone
        sent_at: dict[str, float] = {}
        for group in ("patient-ir", "patient-pay", "impatient-ir", "overflow-59"):
            for stamp, direction, msg in _sip_messages(logs / f"{group}.msg"):
                if direction == "sent" and msg.startswith("INVITE "):
                    sent_at.setdefault(_call_id(msg) or "", stamp)
        setup: dict[str, float] = {}
        for phone in [*AGENTS, "service-59"]:
            for stamp, direction, msg in _sip_messages(logs / f"{phone}.msg"):
                cid = _call_id(msg)
                if direction == "received" and msg.startswith("INVITE ") and cid in sent_at:
                    setup.setdefault(cid, stamp - sent_at[cid])

        status, metrics = acd.request("GET", "/metrics")
        assert status == 200
        kam_text = (logs / "kamailio.log").read_text(errors="replace")
        queued = set(re.findall(r"\{INVITE (\S+)\} .*ACD held", kam_text))
        direct = {cid: s for cid, s in setup.items() if cid not in queued}
        held = {cid: s for cid, s in setup.items() if cid in queued}

        def pct(values: list[float], q: float) -> float:
            values = sorted(values)
            return (
                values[min(len(values) - 1, round(q * (len(values) - 1)))] * 1000 if values else float("nan")
            )

        by_outcome: dict[str, int] = {}
        for _, outcome in outcomes.values():
            by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
        per_phone: dict[str, int] = {}
        for phone in rang.values():
            per_phone[phone] = per_phone.get(phone, 0) + 1
        _report(
            capsys,
            [
                "",
                f"e2e kamailio+sipp: {len(outcomes)} calls in {elapsed:.1f} s: {by_outcome}; "
                f"queued (182, held) {len(queued)}; per phone {per_phone}",
                f"  routing added to setup (INVITE -> relayed INVITE), {len(direct)} calls routed at once: "
                f"p50 {pct(list(direct.values()), 0.5):.1f} ms, "
                f"p99 {pct(list(direct.values()), 0.99):.1f} ms",
                f"  queued calls, INVITE -> relayed INVITE (wait for an agent): {len(held)} calls, "
                f"p50 {pct(list(held.values()), 0.5):.0f} ms, max {pct(list(held.values()), 1.0):.0f} ms",
                "  kamailio: "
                + " | ".join(line.split("ACD ", 1)[1] for line in kam_text.splitlines() if " ACD " in line)[
                    :600
                ],
                f"  logs: {logs}",
            ],
        )
        sample = next((m for _, d, m in _sip_messages(logs / "e2e-ir-1.msg") if m.startswith("INVITE ")), "")
        _report(
            capsys,
            [
                "  a relayed INVITE as the agent's phone got it:",
                *("    " + x for x in sample.splitlines()[:14]),
            ],
        )

        # -- assertions: every call got its outcome
        groups = {"patient-ir": 6, "patient-pay": 3, "impatient-ir": 3, "overflow-59": 1}
        for group, n in groups.items():
            got = [o for g, o in outcomes.values() if g == group]
            assert len(got) == n, (group, got, (logs / f"{group}.screen").read_text()[-2000:])
        assert all(o == "answered" for g, o in outcomes.values() if g in ("patient-ir", "patient-pay"))
        assert [o for g, o in outcomes.values() if g == "impatient-ir"] == ["abandoned"] * 3
        assert [o for g, o in outcomes.values() if g == "overflow-59"] == ["answered"]

        # the right phones, per skill
        for cid, (group, _) in outcomes.items():
            if group == "patient-ir":
                assert rang.get(cid) in ("e2e-ir-1", "e2e-ir-2"), (cid, rang.get(cid))
            elif group == "patient-pay":
                assert rang.get(cid) == "e2e-pay-1", (cid, rang.get(cid))
            elif group == "overflow-59":
                assert rang.get(cid) == "service-59", (cid, rang.get(cid))
            else:
                assert cid not in rang, f"abandoned call {cid} rang {rang.get(cid)}"
        # more callers than agents: some were held (182) and connected later by acd's connect command
        assert len(queued) >= 4, queued
        assert len(queued & {c for c, (g, o) in outcomes.items() if o == "answered"}) >= 4

        # acd's view matches sipp's
        assert _metric(metrics, "acd_calls_offered_total") == 13
        assert _metric(metrics, "acd_calls_answered_total") == 9
        assert _metric(metrics, "acd_calls_abandoned_total") == 3
        assert _metric(metrics, "acd_calls_overflowed_total", department="59") == 1
        assert _metric(metrics, "acd_calls_ended_total", reason="abandoned") == 3
        assert _metric(metrics, "acd_calls_ended_total", reason="completed") == 10
        assert _metric(metrics, "acd_commands_delivered_total", command="connect") >= 4
        for cid, (group, outcome) in outcomes.items():
            status, call = acd.request("GET", f"/v1/calls/{cid}")
            assert status == 200, (cid, call)
            expected = {"answered": "completed", "abandoned": "abandoned"}[outcome]
            assert call["end_reason"] == expected, call
            if group in ("patient-ir", "patient-pay"):
                assert call["agent_id"] == rang[cid], call
        assert elapsed < DEADLINE_S + 30
    finally:
        for proc in reversed(procs):
            _stop(proc, signal.SIGUSR1 if proc.args and proc.args[0] == SIPP else signal.SIGTERM, 3)


def test_outside_opening_hours_kamailio_refuses_with_the_reopening_time(tmp_path: Path) -> None:
    """Saturday morning: acd answers `closed`; Kamailio sends the caller 480 with X-ACD-Reopens-At."""
    acd_port, sip_port, http_port, caller_port = _free_ports(4)
    procs: list[subprocess.Popen] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        acd = _start_acd(ROOT / "config", "2026-03-07T10:00:00+01:00", acd_port, http_port, procs, logs)
        _start_kamailio(acd, sip_port, http_port, tmp_path, procs, logs)
        csv = tmp_path / "closed.csv"
        csv.write_text("SEQUENTIAL\n+33612345678;impot_revenu;\n")
        caller = subprocess.run(
            [
                SIPP,
                "-sf",
                str(DEPLOY / "sipp" / "caller.xml"),
                "-inf",
                str(csv),
                f"127.0.0.1:{sip_port}",
                "-i",
                "127.0.0.1",
                "-p",
                str(caller_port),
                "-m",
                "1",
                "-timeout",
                "30s",
                "-nostdin",
                "-trace_msg",
                "-message_file",
                str(logs / "closed.msg"),
                "-trace_logs",
                "-log_file",
                str(logs / "closed.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=40,
        )
        assert caller.returncode in (0, 1), f"sipp failed; logs in {logs}"
        assert re.search(r"OUTCOME \S+ rejected", (logs / "closed.log").read_text()), logs
        replies = [m for _, d, m in _sip_messages(logs / "closed.msg") if d == "received" and "480" in m[:20]]
        assert replies, f"no 480 reached the caller; logs in {logs}"
        assert "X-ACD-Reopens-At: 2026-03-09T08:30:00+01:00" in replies[0]
        text = urllib.request.urlopen(acd.base + "/metrics", timeout=5).read().decode()
        assert _metric(text, "acd_calls_closed_total", skill="impot_revenu") == 1
    finally:
        for proc in reversed(procs):
            _stop(proc)


# -- several acd instances behind one Kamailio

REDIS_BASE = os.environ.get("ACD_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
REDIS_DB = 10
RING_MS = 1000


def _uas(
    name: str, port: int, logs: Path, procs: list[subprocess.Popen], scenario: str = "agent.xml"
) -> None:
    """An agent's phone: a sipp UAS on `port` playing deploy/kamailio/sipp/`scenario`."""
    procs.append(
        subprocess.Popen(
            [
                *(
                    SIPP,
                    "-sf",
                    str(DEPLOY / "sipp" / scenario),
                    "-i",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-nostdin",
                ),
                *("-trace_msg", "-message_file", str(logs / f"{name}.msg")),
                *("-trace_logs", "-log_file", str(logs / f"{name}.log")),
            ],
            stdout=(logs / f"{name}.screen").open("w"),
            stderr=subprocess.STDOUT,
        )
    )


def _callers(
    name: str,
    rows: list[str],
    patience_ms: int,
    sip_port: int,
    local_port: int,
    tmp_path: Path,
    logs: Path,
    cid_str: str = "%u-%p@%s",
) -> subprocess.Popen:
    """sipp callers (caller.xml) dialling Kamailio, one row of `caller;skill;department` each, their
    SIP Call-IDs made by sipp's `-cid_str`."""
    xml = tmp_path / f"{name}.xml"
    xml.write_text(
        (DEPLOY / "sipp" / "caller.xml").read_text().replace('timeout="30000"', f'timeout="{patience_ms}"')
    )
    csv = tmp_path / f"{name}.csv"
    csv.write_text("SEQUENTIAL\n" + "\n".join(rows) + "\n")
    return subprocess.Popen(
        [
            *(SIPP, "-sf", str(xml), "-inf", str(csv), f"127.0.0.1:{sip_port}", "-i", "127.0.0.1"),
            *("-p", str(local_port), "-m", str(len(rows)), "-r", "20", "-d", str(TALK_MS)),
            *("-timeout", f"{DEADLINE_S}s", "-nostdin", "-cid_str", cid_str),
            *("-trace_logs", "-log_file", str(logs / f"{name}.log")),
        ],
        stdout=(logs / f"{name}.screen").open("w"),
        stderr=subprocess.STDOUT,
    )


def _log_matches(path: Path, pattern: str) -> list[str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    return re.findall(pattern, text)


def test_two_acd_instances_sharing_redis_end_every_call_on_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two `acd serve` on one Redis behind one Kamailio, which spreads its requests across both
    (ACD_URL, ACD_URL_2): a call offered through one is answered, rings out or hangs up through the
    other, and the leader's commands are relayed under the right Call-ID. One agent's phone rings
    and is never picked up: call.unanswered, the agent is paused, the call goes back in line and
    another agent answers it. At the end every call has ended on both instances' views and no agent
    is left busy."""
    import redis

    redis_url = f"{REDIS_BASE}/{REDIS_DB}"
    raw = redis.Redis.from_url(redis_url)
    try:
        raw.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_BASE} (ACD_TEST_REDIS_URL): {exc}")
    raw.flushdb()

    started = time.monotonic()
    port_a, port_b, sip_port, http_port, *phone_ports = _free_ports(7)
    caller_ports = _free_ports(2)
    phones = {"e2e-rona": "agent-noanswer.xml", "e2e-ir-1": "agent.xml", "e2e-ir-2": "agent.xml"}
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("scenarios"))
    routing = config / "routing.yaml"
    text = re.sub(r"wrap_up_s: \d+", "wrap_up_s: 1", routing.read_text())
    # the phone that never answers is paused after its first ring-out, so no call rings it twice
    routing.write_text(re.sub(r"max_no_answer: \d+", "max_no_answer: 1", text))
    procs: list[subprocess.Popen] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        a = _start_acd(config, CLOCK_START, port_a, http_port, procs, logs, redis_url=redis_url, name="acd-a")
        b = _start_acd(config, CLOCK_START, port_b, http_port, procs, logs, redis_url=redis_url, name="acd-b")
        _start_kamailio(
            a, sip_port, http_port, tmp_path, procs, logs, ACD_URL_2=b.base, KAMAILIO_RING_MS=str(RING_MS)
        )
        # the roster through one instance, the logins through the other, the phone that never
        # answers logged in first (the longest idle: the first call goes to it)
        for (agent_id, scenario), port in zip(phones.items(), phone_ports, strict=True):
            _uas(agent_id, port, logs, procs, scenario)
            body = {
                "site": "lille",
                "skills": {"impot_revenu": 5},
                "target": f"sip:{agent_id}@127.0.0.1:{port}",
            }
            status, answer = a.request("PUT", f"/v1/agents/{agent_id}", body)
            assert status in (200, 201), answer
            login = {
                "id": f"login-{agent_id}",
                "type": "agent.state",
                "agent_id": agent_id,
                "state": "available",
            }
            status, answer = b.request("POST", "/v1/events", login)
            assert status == 200, answer
            time.sleep(0.05)  # distinct idle times
        for port in phone_ports:
            _wait_udp_listening(port, 10)

        # 6 patient callers (3 ring at once, 3 wait), then 2 impatient ones who hang up in the line
        # their Call-IDs are not contract identifiers ('~', '/'): acd knows them by a digest, and the
        # leader relays a connect under the SIP Call-ID only through the shared call map
        rows = [f"+3361000000{i};impot_revenu;" for i in range(6)]
        patient = _callers(
            "patient", rows, PATIENT_MS, sip_port, caller_ports[0], tmp_path, logs, cid_str="%u-%p~e2e/acd@%s"
        )
        procs.append(patient)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            queues = b.request("GET", "/v1/queues")[1]["queues"]
            if next(q["waiting"] for q in queues if q["skill"] == "impot_revenu") >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the patient callers did not queue in acd within 15 s; logs in {logs}")
        rows = [f"+3363000000{i};impot_revenu;" for i in range(2)]
        impatient = _callers("impatient", rows, IMPATIENT_MS, sip_port, caller_ports[1], tmp_path, logs)
        procs.append(impatient)
        for proc in (patient, impatient):
            try:
                proc.wait(max(1.0, DEADLINE_S - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                pytest.fail(f"sipp callers still running after {DEADLINE_S} s; logs in {logs}")

        # every agent back from its calls on both instances (wrap-up is 1 s): none busy
        def settled(acd: Acd) -> dict[str, Any]:
            return {
                x["agent_id"]: x
                for x in acd.request("GET", "/v1/agents")[1]["agents"]
                if x["agent_id"] in phones
            }

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            views = [settled(a), settled(b)]
            if all(v["e2e-ir-1"]["state"] == v["e2e-ir-2"]["state"] == "available" for v in views):
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - started

        outcomes: dict[str, tuple[str, str]] = {}
        for group in ("patient", "impatient"):
            for cid, outcome in _log_matches(logs / f"{group}.log", r"OUTCOME (\S+) (\w+)"):
                outcomes[cid] = (group, outcome)
        rang: dict[str, list[str]] = {}
        for phone in phones:
            for cid in _log_matches(logs / f"{phone}.log", r"AGENT (\S+)"):
                rang.setdefault(cid, []).append(phone)
        rang_out = _log_matches(logs / "e2e-rona.log", r"RANG_OUT (\S+)")
        posts = {
            name: _log_matches(logs / f"{name}.log", r"POST /adapters/kamailio/(\w+)")
            for name in ("acd-a", "acd-b")
        }
        kam_text = (logs / "kamailio.log").read_text(errors="replace")
        metrics = [acd.request("GET", "/metrics")[1] for acd in (a, b)]
        _report(
            capsys,
            [
                "",
                f"e2e two acd instances on Redis: {len(outcomes)} calls in {elapsed:.1f} s: "
                f"{sorted(o for _, o in outcomes.values())}; rang out at e2e-rona: {rang_out}",
                "  Kamailio's posts per instance: "
                + "; ".join(f"{name} {dict(sorted(Counter(p).items()))}" for name, p in posts.items()),
                "  kamailio: "
                + " | ".join(x.split("ACD ", 1)[1] for x in kam_text.splitlines() if "ACD branch" in x),
                f"  logs: {logs}",
            ],
        )

        # -- what the callers and the phones saw
        assert sorted(o for g, o in outcomes.values() if g == "patient") == ["answered"] * 6, (outcomes, logs)
        assert sorted(o for g, o in outcomes.values() if g == "impatient") == ["abandoned"] * 2, (
            outcomes,
            logs,
        )
        assert all(call_id_of(cid) != cid for cid, (g, _) in outcomes.items() if g == "patient")
        assert len(rang_out) == 1, (rang_out, logs)  # it rang out once, then its agent was paused
        [rona_call] = rang_out
        assert rang[rona_call][0] == "e2e-rona" and rang[rona_call][-1] in ("e2e-ir-1", "e2e-ir-2"), rang
        assert sum(phones_ == ["e2e-rona"] for phones_ in rang.values()) == 0  # every call it got went on
        # held again after the ring-out for longer than the ring timer: the hold's own timer applies
        cancelled_at = next(
            t
            for t, d, m in _sip_messages(logs / "e2e-rona.msg")
            if d == "received" and m.startswith("CANCEL ")
        )
        relayed_at = next(
            t
            for t, d, m in _sip_messages(logs / f"{rang[rona_call][-1]}.msg")
            if d == "received" and m.startswith("INVITE ") and _call_id(m) == rona_call
        )
        assert relayed_at - cancelled_at > RING_MS / 1000, (cancelled_at, relayed_at)
        # Kamailio's requests reached both instances
        for name, p in posts.items():
            assert {"offered", "ended"} <= set(p), (name, Counter(p))
        assert "failed" in posts["acd-a"] + posts["acd-b"]
        assert (
            sum(_metric(m, "acd_events_total", type="call.unanswered", status="applied") for m in metrics)
            == 1
        )

        # -- both instances' views: every call ended as the caller saw it, no agent busy
        for acd in (a, b):
            for cid, (_, outcome) in outcomes.items():
                status, call = acd.request("GET", f"/v1/calls/{call_id_of(cid)}")
                assert status == 200, (acd.base, cid, call)
                assert call["status"] == "ended", (acd.base, call)
                assert call["end_reason"] == {"answered": "completed", "abandoned": "abandoned"}[outcome], (
                    call
                )
                if outcome == "answered":
                    assert call["agent_id"] == rang[cid][-1], (acd.base, call, rang[cid])
            history = acd.request("GET", f"/v1/calls/{call_id_of(rona_call)}")[1]["history"]
            assert any(h.get("action") == "requeue" and h.get("why") == "no_answer" for h in history), history
            view = settled(acd)
            assert not [x for x in view.values() if x["state"] in ("busy", "wrap_up") or x["call_id"]], view
            assert view["e2e-rona"]["state"] == "paused" and view["e2e-rona"]["reason"] == "no_answer", view
            assert view["e2e-ir-1"]["state"] == view["e2e-ir-2"]["state"] == "available", view
    finally:
        for proc in reversed(procs):
            _stop(proc, signal.SIGUSR1 if proc.args and proc.args[0] == SIPP else signal.SIGTERM, 3)
        raw.flushdb()
        raw.close()
