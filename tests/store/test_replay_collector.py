"""A recovery under `acd serve`'s collector policy (acd/gcpolicy.py) leaves the state it replayed
out of the collector's reach, as a full collection's survivors are: otherwise the first young
collection after the replay walks every object it made (about a tenth of a 100,000-entry
recovery). In a child process: the policy changes the interpreter's collector for good."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

DB = 10

CHILD = textwrap.dedent(
    """
    import asyncio, gc, json, shutil, sys, tempfile
    from prometheus_client import CollectorRegistry
    from acd.config import load_config
    from acd.events import any_event_adapter
    from acd.gcpolicy import serve_policy
    from acd.service import Service
    from acd.settings import Settings

    url, calls = sys.argv[1], int(sys.argv[2])
    data = tempfile.mkdtemp(prefix="acd-replay-gc-")

    def service():
        settings = Settings(
            redis_url=url,
            data_dir=data,
            clock_start="2026-11-17T10:00:00+01:00",
            log_level="WARNING",
            redis_snapshot_every=10**9,
            redis_snapshot_interval_s=10**6,
        )
        return Service(settings, load_config("config"), registry=CollectorRegistry())

    def offer(i):
        return any_event_adapter.validate_python({
            "id": f"e{i}", "type": "call.offered", "call_id": f"c{i}",
            "caller": "+33612345678", "skill": "impot_revenu",
        })

    async def main():
        first = service()
        await first.start()
        for i in range(calls):  # an entry each, after the start's snapshot: all replayed
            await first.apply_events([offer(i)])
        await first.crash()
        await first.records.stop()
        serve_policy()
        second = service()
        before = gc.get_freeze_count()
        await second.start()
        out = {"frozen": gc.get_freeze_count() - before, "calls": len(second.engine.calls)}
        await second.crash()
        await second.records.stop()
        shutil.rmtree(data)
        print(json.dumps(out))

    asyncio.run(main())
    """
)


def test_a_recovery_under_the_serving_policy_freezes_the_state_it_replayed(redis_url) -> None:
    calls = 3000
    done = subprocess.run(
        [sys.executable, "-c", CHILD, redis_url, str(calls)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["calls"] == calls  # every entry replayed
    # each call is several objects (its record, its history, the decision remembered for its
    # event): the replay's objects were frozen, not left to the next young collection
    assert result["frozen"] >= 3 * calls, result
