"""Ready means warm (acd/warmup.py): before `acd serve` listens, the kernels are loaded and a
scratch engine rehearses a call's life, so the first requests find nothing cold."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from acd.calendar import french_holidays
from acd.config import load_config
from acd.routing import entries
from acd.warmup import rehearse, warm

CONFIG = Path(__file__).resolve().parents[1] / "config"
OPEN = datetime.fromisoformat("2026-11-17T10:00:00+01:00").timestamp()  # a Tuesday morning
CLOSED = datetime.fromisoformat("2026-11-15T23:00:00+01:00").timestamp()  # a Sunday night


@pytest.mark.parametrize("now", [OPEN, CLOSED], ids=["open", "closed"])
def test_the_rehearsal_takes_calls_through_their_life_open_or_closed(now: float) -> None:
    config = load_config(CONFIG)
    out = warm(config, now)
    assert out["events"] >= 7  # closed now: rehearsed again at the next opening
    if now == CLOSED:
        assert out["events"] >= 14
    assert out["kernels"]["cache_misses"] >= 0
    # what a first request would otherwise fill: the kernels' entry points, the holiday tables
    loaded = vars(entries.entries())
    assert set(entries._SAMPLE_ARGS) <= set(loaded)
    assert french_holidays.cache_info().currsize >= 1


def test_a_roster_without_agents_still_rehearses_the_calls() -> None:
    config = load_config(CONFIG)
    empty = config.model_copy(update={"agents": []})
    assert rehearse(empty, OPEN) >= 4
