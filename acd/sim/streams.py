"""Random streams: one numpy Generator per process, seeded from the scenario's seed and the
stream's name, drawn in blocks.

Each stream's seed is `SeedSequence(seed, spawn_key=(crc32(name),))`: streams are independent of
each other and of the order they are created in, so adding a policy (a new stream) leaves the
arrivals, handle times and patience of a run unchanged. That also gives `--compare` common random
numbers: the baseline and acd's policies see the very same callers.

A stream is drawn in the order of the events that use it, which is the same in both runs only for
what happens at arrival (in arrival order). What a caller does after hanging up (calls again or
not, after what delay, with what patience) happens in an order that depends on the policies: it is
drawn by `keyed`, a uniform of the caller and its attempt, so each caller behaves the same in both.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Callable
from statistics import NormalDist

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
    mu, sigma = _lognormal(dist)
    return Stream(generator(seed, name), lambda g, n: g.lognormal(mu, sigma, n))


def _lognormal(dist: Distribution) -> tuple[float, float]:
    """The (mu, sigma) of the log of a lognormal duration with the given mean and standard
    deviation of the duration itself."""
    mean = dist.mean_s
    sigma2 = math.log1p((dist.sd_s or 0.0) ** 2 / mean**2)
    return math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)


def keyed(seed: int, name: str, caller: int, attempt: int) -> float:
    """A uniform in (0, 1) of (seed, name, caller, attempt) alone, whatever the order of draws."""
    digest = hashlib.blake2b(f"{seed}/{name}/{caller}/{attempt}".encode(), digest_size=8).digest()
    return ((int.from_bytes(digest, "big") >> 11) + 0.5) * 2.0**-53


def quantile(dist: Distribution, u: float) -> float:
    """The duration of `dist` at the probability `u` in (0, 1) (the inverse of its CDF)."""
    mean = dist.mean_s
    if dist.dist == "exponential":
        return -math.log1p(-u) * mean
    if dist.dist == "constant":
        return mean
    mu, sigma = _lognormal(dist)
    return math.exp(mu + sigma * NormalDist().inv_cdf(u))
