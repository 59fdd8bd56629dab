"""The collector policy of `acd serve` (acd/gcpolicy.py), in a child process: it changes the
interpreter's collector for good."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import gc, json
    from acd.gcpolicy import YOUNG_THRESHOLD, serve_policy

    serve_policy()
    serve_policy()  # twice: one callback, not two
    after_start = gc.get_freeze_count()
    kept = [[i] for i in range(50_000)]  # survivors, as the engine's state is
    gc.collect()
    after_full = gc.get_freeze_count()
    # garbage cycles made after the freeze are still collected
    for _ in range(1000):
        a = []
        a.append(a)
    del a
    collected = gc.collect()
    del kept  # frozen objects are still freed by reference counting
    print(json.dumps({
        "after_start": after_start,
        "after_full": after_full,
        "collected": collected,
        "callbacks": len(gc.callbacks),
        "threshold": gc.get_threshold()[0],
        "young": YOUNG_THRESHOLD,
        "freeze_after_del": gc.get_freeze_count(),
    }))
    """
)


def test_survivors_of_a_full_collection_are_frozen_and_new_cycles_still_collected():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["after_start"] > 0  # start-up is frozen
    assert result["after_full"] >= result["after_start"] + 50_000  # the survivors joined it
    assert result["collected"] >= 1000  # cycles made since are collected as usual
    assert result["callbacks"] == 1
    assert result["threshold"] == result["young"]
    assert result["freeze_after_del"] <= result["after_full"] - 50_000  # freed by refcount


PAUSED = textwrap.dedent(
    """
    import gc, json, sys
    from acd.gcpolicy import collector_paused, serve_policy

    if sys.argv[1] == "serving":
        serve_policy()
    out = {}
    before = gc.get_freeze_count()
    with collector_paused(keep=True):  # a replay: the state it makes is kept
        kept = [[i] for i in range(50_000)]
        out["enabled_inside"] = gc.isenabled()
    out["enabled_after"] = gc.isenabled()
    out["kept_frozen"] = gc.get_freeze_count() - before
    before = gc.get_freeze_count()
    with collector_paused():  # a snapshot encoded: nothing kept
        made = [[i] for i in range(50_000)]
    out["made_frozen"] = gc.get_freeze_count() - before
    gc.disable()
    with collector_paused(keep=True):  # someone else's pause: theirs to end
        more = [[i] for i in range(1000)]
    out["still_disabled"] = not gc.isenabled()
    out["frozen_in_theirs"] = gc.get_freeze_count() - before
    print(json.dumps(out))
    """
)


def _paused(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PAUSED, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_a_replay_s_state_is_frozen_under_the_serving_policy_not_walked_by_the_next_collection():
    result = _paused("serving")
    assert result["enabled_inside"] is False and result["enabled_after"] is True
    assert result["kept_frozen"] >= 50_000  # the replay's survivors, out of the young collection's reach
    assert result["made_frozen"] == 0  # a pause that keeps nothing freezes nothing
    assert result["still_disabled"] and result["frozen_in_theirs"] == 0


def test_without_the_serving_policy_a_pause_only_pauses():
    result = _paused("plain")  # tests, the simulator, a library user: their collector as they set it
    assert result["enabled_after"] is True
    assert result["kept_frozen"] == 0 and result["made_frozen"] == 0
