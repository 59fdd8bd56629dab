"""`acd simulate` and `acd staff`: `register(subparsers)` adds both to the `acd` command."""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from collections.abc import Callable
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a contact centre through the engine (config/scenarios/*.yaml)",
        description="Run a scenario through the very engine and router the service uses, on a "
        "simulated clock, and print the report (docs/simulator.md).",
    )
    p.add_argument("scenario", help="the scenario file (YAML)")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout, nothing else")
    p.add_argument(
        "--compare",
        action="store_true",
        help="run twice, with a FIFO single-queue baseline and with acd's policies, side by side",
    )
    p.add_argument("--calls", type=int, help="override the scenario's number of calls")
    p.add_argument(
        "--router", choices=("numba", "reference"), default="numba", help="the router (default numba)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=simulate_command)

    s = sub.add_parser(
        "staff",
        help="agents needed for a skill: Erlang C, Erlang A and the simulator",
        description="The fewest agents meeting a target (service level or answer rate) for one skill, "
        "by the Erlang C and Erlang A closed forms and by the simulator (the engine itself).",
    )
    s.add_argument("--skill", help="the skill (default: the configuration's first)")
    s.add_argument("--rate-per-min", type=float, required=True, help="arrivals per minute")
    s.add_argument("--aht-s", type=float, required=True, help="mean handle time, seconds")
    s.add_argument(
        "--patience-s", type=float, help="mean patience, seconds (exponential); omitted: nobody abandons"
    )
    goal = s.add_mutually_exclusive_group(required=True)
    goal.add_argument("--service-level", type=float, help="target share answered within --threshold-s (0-1)")
    goal.add_argument("--answer-rate", type=float, help="target share of callers answered (0-1), e.g. 0.85")
    s.add_argument("--threshold-s", type=float, default=20.0, help="service-level threshold (default 20)")
    s.add_argument(
        "--handle-dist",
        choices=("exponential", "lognormal", "constant"),
        default="exponential",
        help="the simulator's handle-time distribution (the closed forms assume exponential)",
    )
    s.add_argument("--handle-sd-s", type=float, help="standard deviation for --handle-dist lognormal")
    s.add_argument(
        "--calls", type=int, default=20000, help="calls per simulated staffing level (0: no simulation)"
    )
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.set_defaults(func=staff_command)

    t = sub.add_parser(
        "tune",
        help="search the policy settings that let the most callers reach an agent (several days)",
        description="Search acd's policy settings (callback, overflow and appointment thresholds, "
        "strategy) for the highest contact rate over the scenarios, under a service-level floor, on "
        "common random numbers; print the best with confidence intervals and the config/ lines.",
    )
    t.add_argument("scenarios", nargs="+", help="scenario files (YAML): the days the settings must win on")
    t.add_argument("--seeds", type=int, default=3, help="seeds per scenario and candidate (default 3)")
    t.add_argument(
        "--min-service-level",
        type=float,
        help="the floor every scenario's service level must keep (default: its FIFO baseline's)",
    )
    t.add_argument("--passes", type=int, default=2, help="passes of the coordinate search (default 2)")
    t.add_argument("--max-runs", type=int, help="stop searching after about this many simulations")
    t.add_argument(
        "--calls", type=int, help="override the scenarios' number of calls (scenarios stopped by calls)"
    )
    t.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    t.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    t.set_defaults(func=tune_command)


def _fail(message: str) -> None:
    sys.exit(f"acd: {message}")


def _with_calls(scenario: Any, calls: int, where: str) -> Any:
    """The scenario with `--calls` for its `calls`, its warm-up kept (cut, with a word on stderr,
    only when it would leave no call to measure)."""
    if calls < 1 or scenario.calls is None:
        _fail(f"{where}--calls needs a positive number and a scenario stopped by `calls`")
    if scenario.warmup_calls < calls:
        return scenario.model_copy(update={"calls": calls})
    warmup = calls // 10  # a warm-up that leaves nothing to measure: cut, and said
    sys.stderr.write(
        f"acd: {where}--calls {calls} is not above the scenario's warmup_calls "
        f"({scenario.warmup_calls}): warm-up cut to {warmup} calls\n"
    )
    return scenario.model_copy(update={"calls": calls, "warmup_calls": warmup})


def progress_bar(label: str) -> Callable[[float], None]:
    """A progress bar on stderr, redrawn in place."""
    started = time.perf_counter()

    def show(fraction: float) -> None:
        width = 30
        done = int(fraction * width)
        elapsed = time.perf_counter() - started
        eta = f", {elapsed / fraction - elapsed:.0f} s left" if 0.02 < fraction < 1 else ""
        sys.stderr.write(
            f"\r{label} [{'#' * done}{'.' * (width - done)}] {100 * fraction:3.0f}% {elapsed:.0f} s{eta}  "
        )
        if fraction >= 1:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def simulate_command(args: argparse.Namespace) -> None:
    # Start-up (numba, numpy, pydantic, the configuration) makes hundreds of thousands of objects
    # and no garbage to speak of: the cyclic collector walked them some 400 times for nothing.
    # It is paused until the engine is built, then what start-up made is frozen out of its reach
    # (still freed by reference counting) and it runs as usual.
    enabled = gc.isenabled()  # as the caller had it (a test calling this in its own process)
    threshold = gc.get_threshold()
    gc.disable()
    try:
        _simulate(args, enabled)
    finally:
        gc.set_threshold(*threshold)
        if enabled:
            gc.enable()


#: Allocations between two young collections during a run (CPython's default: 700). The run's
#: objects are freed by reference counting; on the campaign-peak day the default made some 130
#: young collections, 0.13 s of CPU, this about 30, 0.03 s.
RUN_YOUNG_THRESHOLD = 10_000


def _started(enabled: bool) -> None:
    """Start-up is over: what it made is left out of the collector's walks, which resume, less
    often for the young generation."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(RUN_YOUNG_THRESHOLD, middle, old)
    if enabled:
        gc.enable()


def _simulate(args: argparse.Namespace, enabled: bool = True) -> None:
    from acd.sim.compare import compare
    from acd.sim.loop import Simulation, SimulationError
    from acd.sim.report import compare_text, report, text
    from acd.sim.scenario import ScenarioError, load_scenario

    try:
        scenario, config = load_scenario(args.scenario)
    except ScenarioError as e:
        _fail(f"bad scenario:\n{e}")
        return
    if args.calls is not None:
        scenario = _with_calls(scenario, args.calls, "")
    if args.seed is not None:
        if args.seed < 0:
            _fail(f"--seed takes a number 0 or more, not {args.seed}")
        scenario = scenario.model_copy(update={"seed": args.seed})
    show = None if args.no_progress or not sys.stderr.isatty() else progress_bar(scenario.name or "simulate")
    if args.compare:
        _started(enabled)
        try:
            result = compare(scenario, config, router=args.router, progress=show)
        except SimulationError as e:
            _fail(f"the scenario cannot run: {e}")
            return
        if args.json:
            print(json.dumps(result))
        else:
            print(compare_text(result["baseline"], result["acd"]))
        return
    simulation = Simulation(scenario, config, router=args.router, progress=show)  # simulate(), in two
    _started(enabled)
    try:
        outcome = simulation.run()
    except SimulationError as e:
        _fail(f"the scenario cannot run: {e}")
        return
    rep = report(outcome)
    print(json.dumps(rep) if args.json else text(rep))


def staff_command(args: argparse.Namespace) -> None:
    from acd.config import ConfigError, load_config
    from acd.sim.loop import SimulationError
    from acd.sim.scenario import ScenarioError, resolve_config_dir, scenario_from_dict
    from acd.sim.staff import staff, staff_text

    handle = _staff_checked(args)
    try:
        dummy = scenario_from_dict(
            {
                "calls": 1,
                "arrivals": [{"skill": "x", "rate_per_min": 1}],
                "handle_time": handle,
                "agents": [{"count": 1, "skills": {"x": 1}, "site": "x"}],
            }
        )
    except ScenarioError as e:  # what the scenario's bounds refuse that the checks above let by
        _fail(f"the handle time cannot be simulated: {e.reason}")
        return
    try:
        config = load_config(resolve_config_dir(dummy, None))
    except ConfigError as e:
        _fail(f"bad configuration: {e}")
        return
    skill = args.skill or config.skills[0].id
    if skill not in config.skill_index:
        _fail(f"unknown skill {skill!r} (skills: {', '.join(config.skill_index)})")
    try:
        res = staff(
            config,
            skill=skill,
            rate_per_min=args.rate_per_min,
            aht_s=args.aht_s,
            patience_s=args.patience_s,
            service_level=args.service_level,
            threshold_s=args.threshold_s,
            answer_rate=args.answer_rate,
            handle=handle,
            simulate_calls=args.calls,
            seed=args.seed,
        )
    except (ScenarioError, SimulationError) as e:
        _fail(f"the staffing cannot be simulated: {e}")
        return
    print(json.dumps(res) if args.json else staff_text(res))


def _staff_checked(args: argparse.Namespace) -> dict[str, Any]:
    """`acd staff`'s numbers checked (finite, in range, the offered load within the agents the
    closed forms search); the simulator's handle-time distribution."""
    from acd.sim.erlang import MAX_AGENTS
    from acd.sim.scenario_model import MAX_DURATION_S

    for name in ("service_level", "answer_rate"):
        v = getattr(args, name)
        if v is not None and not 0 < v < 1:
            _fail(f"--{name.replace('_', '-')} is a share between 0 and 1, not {v:g}")
    for name in ("rate_per_min", "aht_s", "patience_s", "handle_sd_s"):
        v = getattr(args, name)
        if v is not None and not (math.isfinite(v) and v > 0):
            _fail(f"--{name.replace('_', '-')} takes a positive number, not {v:g}")
    if not (math.isfinite(args.threshold_s) and args.threshold_s >= 0):
        _fail(f"--threshold-s takes a number of seconds, 0 or more, not {args.threshold_s:g}")
    if args.aht_s > MAX_DURATION_S or (args.patience_s is not None and args.patience_s > MAX_DURATION_S):
        _fail(f"--aht-s and --patience-s take at most {MAX_DURATION_S:g} seconds")
    load = args.rate_per_min / 60.0 * args.aht_s
    if load > MAX_AGENTS:
        _fail(f"an offered load of {load:g} Erlangs is beyond the {MAX_AGENTS:,} agents acd staff searches")
    if args.seed < 0:
        _fail(f"--seed takes a number 0 or more, not {args.seed}")
    if args.calls < 0:
        _fail(f"--calls takes a number of calls, 0 or more (0: the closed forms only), not {args.calls}")
    handle: dict[str, Any] = {"dist": args.handle_dist, "mean_s": args.aht_s}
    if args.handle_dist == "lognormal":
        if args.handle_sd_s is None:
            _fail("--handle-dist lognormal needs --handle-sd-s")
        handle["sd_s"] = args.handle_sd_s
    elif args.handle_sd_s is not None:
        _fail(f"--handle-sd-s applies to --handle-dist lognormal only, not to {args.handle_dist}")
    return handle


def tune_command(args: argparse.Namespace) -> None:
    from acd.sim.scenario import ScenarioError, load_scenario
    from acd.sim.tune import Tuner, current_settings, result_json, result_text

    if args.seeds < 1 or args.passes < 1:
        _fail("--seeds and --passes take a positive number")
    if args.min_service_level is not None and not 0 <= args.min_service_level <= 1:
        _fail("--min-service-level is a share, 0 to 1")
    loaded = []
    for path in args.scenarios:
        try:
            scenario, config = load_scenario(path)
        except ScenarioError as e:
            _fail(f"bad scenario:\n{e}")
            return
        if args.calls is not None:
            scenario = _with_calls(scenario, args.calls, f"{path}: ")
        loaded.append((scenario.name or path, scenario, config))
    show = None if args.no_progress or not sys.stderr.isatty() else progress_bar("tune")
    base_seed = loaded[0][1].seed
    tuner = Tuner(
        loaded,
        seeds=[base_seed + i for i in range(args.seeds)],
        min_service_level=args.min_service_level,
        progress=show,
        max_runs=args.max_runs,
    )
    result = tuner.tune(current_settings(loaded[0][2]), passes=args.passes)
    out = result_json(tuner, result)
    print(json.dumps(out) if args.json else result_text(out))
