"""The M/M/50+M benchmark queue in SimPy (a baseline of benchmarks/sim.py, run as its own process):
the textbook process-per-caller model, a Resource of 50 agents, patience as a timeout raced
against the request.

    python -m benchmarks.sim_simpy CALLS WARMUP SEED    # prints one JSON object
"""

from __future__ import annotations

import json
import random
import sys
import time

LAM, MU, THETA, N, SL_S = 48 / 60, 1 / 60, 1 / 120, 50, 20.0


def main() -> None:
    started = time.perf_counter()
    import simpy

    calls, warmup, seed = (int(x) for x in sys.argv[1:4])
    rng = random.Random(seed)
    env = simpy.Environment()
    agents = simpy.Resource(env, capacity=N)
    # per measured caller: (waited, answered, wait)
    stats = {"n": 0, "waited": 0, "abandoned": 0, "wait": 0.0, "within": 0}

    def caller(env: simpy.Environment, measured: bool):
        arrived = env.now
        patience = rng.expovariate(THETA)
        with agents.request() as request:
            result = yield request | env.timeout(patience)
            wait = env.now - arrived
            if measured:
                stats["n"] += 1
                stats["wait"] += wait
                stats["waited"] += wait > 0
            if request in result:
                if measured and wait <= SL_S:
                    stats["within"] += 1
                yield env.timeout(rng.expovariate(MU))
            elif measured:
                stats["abandoned"] += 1

    def source(env: simpy.Environment):
        for i in range(calls):
            yield env.timeout(rng.expovariate(LAM))
            env.process(caller(env, i >= warmup))

    env.process(source(env))
    env.run()
    n = stats["n"]
    print(
        json.dumps(
            {
                "tool": f"simpy {simpy.__version__}",
                "offered": n,
                "p_wait": stats["waited"] / n,
                "p_abandon": stats["abandoned"] / n,
                "mean_wait_s": stats["wait"] / n,
                "service_level": stats["within"] / n,
                "wall_s": time.perf_counter() - started,
            }
        )
    )


if __name__ == "__main__":
    main()
