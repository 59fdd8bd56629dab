"""Arrival processes: Poisson at a constant rate, or non-homogeneous Poisson with a rate constant
within each local hour (the hourly profile of a day, repeated day after day).

Exact for piecewise-constant rates: a unit exponential is spent against the integrated rate across
the hours it spans (no thinning, no approximation at the hour boundaries).
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from acd.sim.scenario_model import Arrival
from acd.sim.streams import Stream

HOUR = 3600.0


class ArrivalProcess:
    __slots__ = ("_hour_cache", "_hourly", "_rate", "_unit", "_zone")

    def __init__(self, arrival: Arrival, zone: ZoneInfo, unit: Stream) -> None:
        self._unit = unit
        self._rate = arrival.constant_rate()
        self._hourly = arrival.hourly_rates()
        self._zone = zone
        self._hour_cache: dict[float, float] = {}

    def next_after(self, t: float) -> float:
        """The next arrival after `t` (inf: none ever)."""
        e = self._unit.next()
        if self._hourly is None:
            return t + e / self._rate if self._rate > 0 else math.inf
        for _ in range(24 * 400):  # a profile with a call somewhere in the day ends this quickly
            seg_end = (math.floor(t / HOUR) + 1.0) * HOUR
            rate = self._rate_at(seg_end - HOUR)
            room = rate * (seg_end - t)
            if rate > 0 and e <= room:
                return t + e / rate
            e -= room
            t = seg_end
        return math.inf

    def _rate_at(self, hour_start: float) -> float:
        rate = self._hour_cache.get(hour_start)
        if rate is None:
            if len(self._hour_cache) > 10000:
                self._hour_cache.clear()
            local_hour = datetime.fromtimestamp(hour_start + 1.0, self._zone).hour
            rate = self._hour_cache[hour_start] = self._hourly[local_hour]  # type: ignore[index]
        return rate
