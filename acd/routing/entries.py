"""The kernels' compiled entry points (`entries()`, `warm_up()`), loaded for the argument types the
router passes; the kernels themselves are `kernel.py`'s.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numba import typeof

from acd.routing.kernel import (
    PICK_AGENT,
    PICK_NEW,
    count_staffed,
    move_call,
    pick_call,
    put_call,
    queue_position,
    set_state,
    skill_stats,
)


class Kernels:
    """The kernels' compiled entry points, for the argument types the router passes.

    Calling a numba dispatcher resolves the type of every argument on each call (up to a µs for a
    kernel with seven arrays), which is much of a decision's cost. The router always passes the
    same types (the tables' dtypes, C-contiguous; Python ints, floats and bools), so it calls the
    compiled function's entry point, which only unboxes the arguments. Nothing checks their types:
    passing others is a bug. Entry points live in the process, never in a pickle (`entries()`).
    """

    # Each kernel is loaded on first use (tens of ms apiece from the cache): a simulation never
    # asks for the statistics kernels, and a process usually runs one strategy.
    pick_call: Any
    queue_position: Any
    count_staffed: Any
    skill_stats: Any
    set_state: Any
    put_call: Any
    move_call: Any

    def __init__(self) -> None:
        self._picks: dict[int, tuple[Any, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        """Load a kernel the first time it is asked for (only called for a missing attribute)."""
        if name not in _SAMPLE_ARGS:
            raise AttributeError(name)
        dispatcher, sample = _SAMPLE_ARGS[name]
        entry = _entry(dispatcher, *sample(_Samples()))
        setattr(self, name, entry)
        return entry

    def picks(self, strategy: int) -> tuple[Any, Any]:
        """`pick_agent` and `pick_new` of a strategy."""
        found = self._picks.get(strategy)
        if found is None:
            t = _Samples()
            found = self._picks[strategy] = (
                _entry(PICK_AGENT[strategy], t.lv, t.ai, t.af, t.ci, t.cf, t.wid, t.avail, 0, 0.0, 0),
                _entry(PICK_NEW[strategy], t.lv, t.ai, t.af, t.wid, t.avail, 0, 0, 1, -1, 0.0, 0.0),
            )
        return found

    def load_all(self) -> tuple[Any, ...]:
        """Every kernel loaded; the dispatchers (for their cache statistics)."""
        for strategy in range(len(PICK_AGENT)):
            self.picks(strategy)
        for name in _SAMPLE_ARGS:
            getattr(self, name)
        return (*PICK_AGENT, *PICK_NEW, *(dispatcher for dispatcher, _ in _SAMPLE_ARGS.values()))


class _Samples:
    """One-row tables of the router's dtypes, to load the kernels for its argument types."""

    def __init__(self) -> None:
        self.lv = np.zeros((1, 1), dtype=np.int8)  # levels
        self.ai = np.zeros((1, 3), dtype=np.int64)  # agent ints
        self.af = np.zeros((1, 4), dtype=np.float64)  # agent times
        self.ci = np.zeros((1, 6), dtype=np.int64)  # call ints
        self.cf = np.zeros((1, 2), dtype=np.float64)  # call times
        self.wid = np.zeros((1, 1, 2), dtype=np.float64)  # widening
        self.avail = np.zeros(1, dtype=np.int64)
        self.avail_pos = np.full(1, -1, dtype=np.int64)


#: Kernel name -> (dispatcher, its arguments made from `_Samples`).
_SAMPLE_ARGS: dict[str, tuple[Any, Any]] = {
    "pick_call": (pick_call, lambda t: (t.lv, t.ai, t.ci, t.cf, t.wid, 0, 0.0, 0)),
    "queue_position": (queue_position, lambda t: (t.ci, 0, 1)),
    "count_staffed": (count_staffed, lambda t: (t.ai, 0, 1)),
    "skill_stats": (skill_stats, lambda t: (t.lv, t.ai, t.ci, t.cf, 1, 1)),
    "set_state": (set_state, lambda t: (t.ai, t.af, t.avail, t.avail_pos, 0, 0, 0.0, 0)),
    "put_call": (put_call, lambda t: (t.ci, t.cf, 0, 0, 1, 0, 0, -1, 0, 0.0, 0.0)),
    "move_call": (move_call, lambda t: (t.ci, t.cf, 0, 0)),
}


def _entry(dispatcher, *sample):
    """Compile (or load from the on-disk cache) `dispatcher` for the types of `sample` and return
    that overload's entry point."""
    dispatcher(*sample)
    return dispatcher.overloads[tuple(typeof(a) for a in sample)].entry_point


_kernels: Kernels | None = None


def entries() -> Kernels:
    """The process's `Kernels`, loaded on first use."""
    global _kernels
    if _kernels is None:
        _kernels = Kernels()
    return _kernels


def warm_up() -> dict[str, float | int]:
    """Load (or compile, the first time on a machine) every kernel for the argument types the
    router passes. Returns the seconds it took and the cache hits / misses (misses = compilations)."""
    start = time.perf_counter()
    kernels = entries().load_all()
    hits = sum(sum(k.stats.cache_hits.values()) for k in kernels)
    misses = sum(sum(k.stats.cache_misses.values()) for k in kernels)
    return {"seconds": time.perf_counter() - start, "cache_hits": hits, "cache_misses": misses}
