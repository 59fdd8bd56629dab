"""Random streams: one numpy Generator per process, seeded from the scenario's seed and the
stream's name, drawn in blocks.

Each stream's seed is `SeedSequence(seed, spawn_key=(crc32(name),))`: streams are independent of
each other and of the order they are created in, so adding a policy (a new stream) leaves the
arrivals, handle times and patience of a run unchanged. That also gives `--compare` common random
numbers: the baseline and acd's policies see the very same callers.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import numpy as np

from acd.sim.scenario_model import Distribution

BLOCK = 4096


def generator(seed: int, name: str) -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(zlib.crc32(name.encode()),)))
    )


class Stream:
    """Python floats from a numpy generator, drawn `BLOCK` at a time (`draw(generator, n)`)."""

    __slots__ = ("_buf", "_draw", "_gen", "_i", "_n")

    def __init__(
        self, gen: np.random.Generator, draw: Callable[[np.random.Generator, int], np.ndarray]
    ) -> None:
        self._gen = gen
        self._draw = draw
        self._buf: list[float] = []
        self._i = self._n = 0

    def next(self) -> float:
        i = self._i
        if i >= self._n:
            self._buf = self._draw(self._gen, BLOCK).tolist()
            self._n = len(self._buf)
            i = 0
        self._i = i + 1
        return self._buf[i]


def uniform(seed: int, name: str) -> Stream:
    return Stream(generator(seed, name), lambda g, n: g.random(n))


def unit_exponential(seed: int, name: str) -> Stream:
    return Stream(generator(seed, name), lambda g, n: g.standard_exponential(n))


def durations(seed: int, name: str, dist: Distribution) -> Stream:
    """A stream of durations (seconds) from `dist`."""
    mean = dist.mean_s
    if dist.dist == "exponential":
        return Stream(generator(seed, name), lambda g, n: g.standard_exponential(n) * mean)
    if dist.dist == "constant":
        return Stream(generator(seed, name), lambda g, n: np.full(n, mean))
    # lognormal with the given mean and standard deviation of the duration itself
    sigma2 = math.log1p((dist.sd_s or 0.0) ** 2 / mean**2)
    mu, sigma = math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)
    return Stream(generator(seed, name), lambda g, n: g.lognormal(mu, sigma, n))
