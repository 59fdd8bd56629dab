"""The cyclic garbage collector while `acd serve` runs: short pauses, however large the state.

CPython's full (generation 2) collection walks every tracked object, and it runs each time the
objects promoted since the last one reach a quarter of those it kept: with the engine's state (the
calls kept after they end, the event ids remembered for idempotency) in the hundreds of thousands
of objects, each one is a pause of tens to hundreds of milliseconds, on the request path.

The engine's state makes next to no reference cycles (its records name each other by id), and
the engine none (its parts refer to it weakly): an engine the store replaces on a reload is freed
by reference counting, at once, never by the collector (`tests/engine/test_events_and_state.py`).
So:

- what start-up leaves (configuration, compiled kernels, the roster) is frozen at once
  (`gc.freeze`: out of the collector's reach, still freed by reference counting);
- after each full collection, its survivors are frozen too, so the next one walks only what was
  made since; a full collection stays a few milliseconds instead of growing with the state;
- young collections run every `YOUNG_THRESHOLD` allocations rather than 700: fewer, each a
  fraction of a millisecond, and most request garbage is already gone by reference counting.

What this gives up: a cycle that becomes garbage after its objects were frozen is never
collected. Measured under `benchmarks/http.py`'s load, unfreezing and collecting at the end
found as little (hundreds of objects) with the policy as without it (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

#: Allocations (less deallocations) between two young collections (CPython's default: 700).
YOUNG_THRESHOLD = 2000


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def serve_policy() -> None:
    """Freeze what start-up made and keep full collections short from now on (idempotent)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


@contextlib.contextmanager
def collector_paused(*, keep: bool = False) -> Iterator[None]:
    """No cyclic collection while a large state's objects are made (a snapshot decoded or
    encoded, the log replayed): each collection would walk them all again for nothing (the state
    holds no cycles). Collected as usual right after; when someone else paused the collector,
    theirs to resume.

    `keep`: what the pause made is the state the process keeps (a recovery's replay). Under the
    serving policy it is then frozen, as a full collection's survivors are, rather than walked
    by the next young collection: every object made since the pause began is in the youngest
    generation, and that one collection took 95-140 ms of a 1.8-2.0 s recovery of 100,000 log
    entries (docs/performance.md). What it gives up is what the policy gives up: a cycle the
    pause made and dropped is never collected (50-60 objects at such a collection)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if keep and _freeze_survivors in gc.callbacks:
            gc.freeze()
        gc.enable()
