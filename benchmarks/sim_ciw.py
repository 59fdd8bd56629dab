"""The M/M/50+M benchmark queue in Ciw (a baseline of benchmarks/sim.py, run as its own process).

python -m benchmarks.sim_ciw CALLS WARMUP SEED    # prints one JSON object
"""

from __future__ import annotations

import json
import sys
import time

LAM, MU, THETA, N, SL_S = 48 / 60, 1 / 60, 1 / 120, 50, 20.0


def main() -> None:
    started = time.perf_counter()
    import ciw

    calls, warmup, seed = (int(x) for x in sys.argv[1:4])
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(LAM)],
        service_distributions=[ciw.dists.Exponential(MU)],
        number_of_servers=[N],
        reneging_time_distributions=[ciw.dists.Exponential(THETA)],
    )
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    sim.simulate_until_max_customers(calls, method="Arrive")
    records = sorted(sim.get_all_records(), key=lambda r: r.arrival_date)[warmup:]
    n = len(records)
    answered = [r for r in records if r.record_type == "service"]
    waits = [r.waiting_time for r in records]
    print(
        json.dumps(
            {
                "tool": f"ciw {ciw.__version__}",
                "offered": n,
                "p_wait": sum(1 for w in waits if w > 0) / n,
                "p_abandon": (n - len(answered)) / n,
                "mean_wait_s": sum(waits) / n,
                "service_level": sum(1 for r in answered if r.waiting_time <= SL_S) / n,
                "wall_s": time.perf_counter() - started,
            }
        )
    )


if __name__ == "__main__":
    main()
