"""Closed forms of the classic call-centre queues: Erlang B, Erlang C (M/M/n) and Erlang A (M/M/n+M).

Notation: `lam` arrivals per second, `mu` = 1 / mean handle time, `n` agents, `a = lam / mu` the
offered load in Erlangs, `theta` = 1 / mean patience, `t` the service-level threshold (seconds).
Every figure is over all callers, as the simulator's report: `p_wait` (waited at all), `p_abandon`,
`mean_wait_s` (time in line, abandoned callers up to their abandonment), `asa_s` (mean wait of the
answered), `service_level` (answered within `t`, over all callers), `occupancy`.

Erlang B (M/M/n/n): the recursion B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)) (stable for any n).

Erlang C (M/M/n, nobody abandons; needs a < n): C = n B / (n - a (1 - B)) is the probability of
waiting; W given a wait is exponential with rate n mu - lam, so mean wait = C / (n mu - lam) and
service level = 1 - C exp(-(n mu - lam) t). Reference: A. K. Erlang (1917); any queueing text,
e.g. Gross, Shortle, Thompson & Harris, *Fundamentals of Queueing Theory*, 4th ed., sec. 2.3.

Erlang A (M/M/n+M, exponential patience, Palm 1943). Garnett, Mandelbaum & Reiman, "Designing a
call center with impatient customers", M&SOM 4(3), 2002, eqs. (3.2)-(3.5), and Mandelbaum & Zeltyn,
"The Palm/Erlang-A queue, with applications to call centers" (2007): with x = n mu / theta,
y = lam / theta and

    A(x, y) = x e^y y^-x gamma(x, y) = 1 + sum_{j>=1} y^j / prod_{i=1..j} (x + i)

(gamma the lower incomplete gamma function),

    P(W > 0)       = A B / (1 + (A - 1) B)                       B = Erlang B(n, lam / mu)
    P(Ab | W > 0)  = 1 / (rho A) + 1 - 1 / rho                   rho = lam / (n mu)
    E[W]           = P(Ab) / theta                               (Little's law on the abandoning)

The service level and the ASA need the wait's distribution. An arrival that finds k callers in line
(probability proportional to prod_{i=1..k} y / (x + i) among those who wait) reaches an agent after
a sum of exponential stages of rates n mu + i theta, i = k..0: the time for k + 1 deaths among x + k
lives of rate theta, so Z = exp(-theta V) ~ Beta(x, k + 1) (a product of Beta(x + i, 1) variables).
It is served if V < its patience, with probability E[Z] = x / (x + k + 1), and

    P(served within t | k) = x / (x + k + 1) * (1 - I_{exp(-theta t)}(x + 1, k + 1))
    E[V ; served | k]      = x / (x + k + 1) * (1 / theta) * sum_{i=0..k} 1 / (x + 1 + i)

(I the regularised incomplete beta function, a finite sum for an integer second argument). The
sums over k are taken to where their terms vanish; the tests check them against the closed forms
above and against Erlang C as patience grows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = [
    "QueueFigures",
    "agents_for",
    "erlang_a",
    "erlang_a_function",
    "erlang_b",
    "erlang_c",
    "erlang_c_probability",
]


@dataclass(frozen=True, slots=True)
class QueueFigures:
    n: int
    p_wait: float
    p_abandon: float
    mean_wait_s: float
    asa_s: float
    service_level: float
    occupancy: float

    @property
    def answer_rate(self) -> float:
        return 1.0 - self.p_abandon

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "answer_rate": self.answer_rate}


def erlang_b(n: int, a: float) -> float:
    """Blocking probability of M/M/n/n with offered load `a` Erlangs."""
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c_probability(n: int, a: float) -> float:
    """Probability of waiting in M/M/n (1 when a >= n: the queue grows without bound)."""
    if a >= n:
        return 1.0
    b = erlang_b(n, a)
    return n * b / (n - a * (1.0 - b))


def erlang_c(n: int, lam: float, mu: float, t: float) -> QueueFigures:
    """M/M/n: nobody abandons. Waits are infinite when lam >= n mu."""
    a = lam / mu
    if a >= n:
        return QueueFigures(n, 1.0, 0.0, math.inf, math.inf, 0.0, 1.0)
    c = erlang_c_probability(n, a)
    rate = n * mu - lam
    wait = c / rate
    return QueueFigures(n, c, 0.0, wait, wait, 1.0 - c * math.exp(-rate * t), a / n)


def _log_lower_gamma_regularized(s: float, x: float) -> float:
    """log P(s, x), the regularised lower incomplete gamma (Numerical Recipes 6.2: series below
    s + 1, continued fraction above)."""
    if x <= 0:
        return -math.inf
    log_prefix = s * math.log(x) - x - math.lgamma(s)
    if x < s + 1.0:
        term = total = 1.0 / s
        k = s
        for _ in range(100000):
            k += 1.0
            term *= x / k
            total += term
            if term < total * 1e-16:
                break
        return log_prefix + math.log(total)
    # Q by Lentz's continued fraction, P = 1 - Q
    tiny = 1e-300
    b = x + 1.0 - s
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100000):
        an = -i * (i - s)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    q = math.exp(log_prefix) * h
    return math.log1p(-q) if q < 1.0 else -math.inf


def erlang_a_function(x: float, y: float) -> float:
    """A(x, y) = x e^y y^-x gamma(x, y) of Garnett, Mandelbaum & Reiman (2002), by the incomplete gamma."""
    if y <= 0:
        return 1.0
    log_a = math.log(x) + y - x * math.log(y) + math.lgamma(x) + _log_lower_gamma_regularized(x, y)
    return math.exp(min(log_a, 700.0))


def erlang_a(n: int, lam: float, mu: float, theta: float, t: float) -> QueueFigures:
    """M/M/n+M: Erlang A. `theta` = 1 / mean patience (0: Erlang C)."""
    if theta <= 0:
        return erlang_c(n, lam, mu, t)
    a = lam / mu
    x, y = n * mu / theta, lam / theta
    b = erlang_b(n, a)
    big_a = erlang_a_function(x, y)
    # P(W > 0) = A B / (1 + (A - 1) B), written to stay finite when A is huge (overload)
    p_wait = 1.0 / (1.0 - 1.0 / big_a + 1.0 / (big_a * b)) if b > 0 else 0.0
    # P(Ab | W > 0) = 1 / (rho A) + 1 - 1 / rho (GMR 2002); summed below without the cancellation
    # that closed form suffers when patience is long (rho A -> 1 / (1 - rho))
    # The wait's distribution, summed over the queue an arrival finds (see the module doc).
    z0 = math.exp(-theta * t)
    log_z0_a = (x + 1.0) * math.log(z0) if z0 > 0 else -math.inf
    log_1mz = math.log1p(-z0) if z0 < 1 else -math.inf
    weight = 1.0  # prod_{i<=k} y / (x + i), summing to A
    total_weight = 0.0
    abandon_weight = 0.0
    served_within = 0.0
    served_wait = 0.0
    harmonic = 0.0  # sum_{i=0..k} 1 / (x + 1 + i)
    # I_{z0}(x + 1, k + 1) = sum_{j=0..k} c_j, c_j = z0^(x+1) (1 - z0)^j Gamma(x + 1 + j) / (Gamma(x + 1) j!)
    log_c = log_z0_a
    cum_i = math.exp(log_c) if log_c > -745 else 0.0
    k = 0
    while True:
        served = x / (x + k + 1.0)
        harmonic += 1.0 / (x + 1.0 + k)
        served_within += weight * served * max(0.0, 1.0 - cum_i)
        served_wait += weight * served * harmonic / theta
        abandon_weight += weight * (k + 1.0) / (x + k + 1.0)
        total_weight += weight
        k += 1
        weight *= y / (x + k)
        if log_1mz > -math.inf:
            log_c += log_1mz + math.log((x + k) / k)
            cum_i += math.exp(log_c) if log_c > -745 else 0.0
        else:
            cum_i = 1.0
        if k > y - x and weight < total_weight * 1e-17:
            break
        if k > 10_000_000:
            break
    p_abandon = p_wait * abandon_weight / total_weight
    mean_wait = p_abandon / theta
    share_within = served_within / total_weight  # P(served within t | W > 0)
    served_wait_given = served_wait / total_weight
    p_served = 1.0 - p_abandon
    service_level = (1.0 - p_wait) + p_wait * share_within
    asa = p_wait * served_wait_given / p_served if p_served > 0 else math.inf
    occupancy = lam * p_served / (n * mu)
    return QueueFigures(n, p_wait, p_abandon, mean_wait, asa, service_level, occupancy)


#: The most agents `agents_for` searches (and `acd staff` takes an offered load up to).
MAX_AGENTS = 100_000


def agents_for(
    lam: float,
    mu: float,
    theta: float,
    *,
    model: str,
    service_level: float | None = None,
    threshold_s: float = 20.0,
    answer_rate: float | None = None,
    max_agents: int = MAX_AGENTS,
) -> QueueFigures | None:
    """The fewest agents meeting the target by `model` ("erlang_c" or "erlang_a"): a service level
    (answered within `threshold_s`, over all callers) or an answer rate (1 - P(abandon)).

    Erlang C has no abandonment in its dynamics; for an answer-rate target it counts a caller as
    lost when its Erlang C wait (exponential given a wait) outlasts its patience:
    P(lost) = C theta / (n mu - lam + theta), the usual way Erlang C is stretched to impatience.
    """
    if (service_level is None) == (answer_rate is None):
        raise ValueError("give one target: service_level or answer_rate")
    a = lam / mu

    def figures(n: int) -> QueueFigures:
        if model == "erlang_c":
            fig = erlang_c(n, lam, mu, threshold_s)
            if answer_rate is not None:
                lost = fig.p_wait * theta / (n * mu - lam + theta) if theta > 0 else 0.0
                fig = QueueFigures(
                    n, fig.p_wait, lost, fig.mean_wait_s, fig.asa_s, fig.service_level, fig.occupancy
                )
            return fig
        return erlang_a(n, lam, mu, theta, threshold_s)

    def met(fig: QueueFigures) -> bool:
        if service_level is not None:
            return fig.service_level >= service_level
        return fig.answer_rate >= answer_rate  # type: ignore[operator]

    # Both targets grow with n: find a staffing that meets it by doubling, then bisect.
    low = max(0, math.floor(a)) if model == "erlang_c" else 0  # `low` never meets the target
    high = max(1, low + 1)
    while not met(figures(high)):
        low = high
        high *= 2
        if high > max_agents:
            return None
    while high - low > 1:
        mid = (low + high) // 2
        if met(figures(mid)):
            high = mid
        else:
            low = mid
    return figures(high)
