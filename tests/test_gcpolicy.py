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
