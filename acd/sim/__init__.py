"""The simulator: `acd simulate` and `acd staff` (docs/simulator.md).

scenario.py (the scenario model), streams.py and arrivals.py (random streams), build.py (the
engine's configuration), loop.py (the event loop), stats.py (statistics), report.py, erlang.py
(closed forms), staff.py, compare.py, cli.py.
"""
