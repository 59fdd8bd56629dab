"""The `acd` command: `acd serve`, `acd check-config`, `acd simulate`, `acd records export`,
`acd state export` / `acd state import`, `acd compile`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from pydantic import ValidationError

from acd import __version__


def _settings():
    from acd.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        lines = [f"  ACD_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()]
        sys.exit("acd: bad settings in the environment:\n" + "\n".join(lines))


def _config(settings):
    from acd.config import ConfigError, load_config

    try:
        return load_config(settings.config_dir)
    except ConfigError as exc:
        sys.exit(f"acd: bad configuration: {exc}")
    except FileNotFoundError as exc:
        sys.exit(f"acd: configuration not found: {exc}")


def extensions(settings) -> list:
    """The adapters `acd serve` adds to the app, from the settings (the API imports none of them):
    the Kamailio adapter when `ACD_KAMAILIO_URL` is set."""
    out = []
    if settings.kamailio_url is not None:
        from acd.adapters.kamailio import add_kamailio_routes

        out.append(add_kamailio_routes)
    return out


def serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    from acd.api.app import create_app
    from acd.clock import Clock
    from acd.gcpolicy import serve_policy
    from acd.logs import setup_logging
    from acd.warmup import warm

    settings = _settings()
    setup_logging(settings.log_level, settings.log_format)
    config = _config(settings)
    log = logging.getLogger("acd")
    # Ready means warm: nothing after /readyz turns 200 waits for a kernel or a lazy table.
    warmed = warm(config, Clock(settings.clock_start).now(), router=settings.router)
    log.info(
        "warmed up",
        extra={"rehearsal_s": round(warmed["rehearsal_s"], 3), "events": warmed["events"]},
    )
    app = create_app(settings, config, extensions=extensions(settings))
    # Start-up leaves ~10^5 long-lived objects (config models, compiled kernels), and the state
    # grows while serving: full collections would walk it all (acd/gcpolicy.py).
    serve_policy()
    log.info(
        "acd serving",
        extra={
            "host": settings.host,
            "port": settings.port,
            "store": "redis" if settings.redis_enabled else "memory",
            "agents": len(config.agents),
            "signed": bool(settings.secret),
        },
    )
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None, shutdown_timeout=10)


def check_config(args: argparse.Namespace) -> None:
    settings = _settings()
    config = _config(settings)
    print(f"ok: {len(config.sites)} sites, {len(config.skills)} skills, {len(config.agents)} agents")


def compile_hot(args: argparse.Namespace) -> None:
    """Compile the hot modules' twins (acd/compiled.py), then import every hot module: each must
    run compiled (the command fails otherwise: ACD_COMPILED=0 set, a twin that does not load)."""
    from acd import compiled

    try:
        done = compiled.build(jobs=args.jobs, log=lambda line: print(line, file=sys.stderr))
    except RuntimeError as exc:
        sys.exit(f"acd compile: {exc}")
    compiled.install()  # a first build: the finder was not installed, nothing was built yet
    for name in compiled.HOT:
        importlib.import_module(name)
    source = [name for name, twin in compiled.active().items() if not twin]
    if source:
        sys.exit(
            f"acd compile: built, but these run from their source (ACD_COMPILED=0?): {', '.join(source)}"
        )
    print(
        f"ok: {len(done['built'])} module(s) compiled, {len(done['up_to_date'])} up to date, "
        f"in {done['directory']} ({done['seconds']} s); every hot module imports its compiled twin"
    )


SERVE_TAKES_NO_OPTIONS = (
    "acd serve takes no options: its settings are ACD_* environment variables (ACD_HOST, ACD_PORT,"
    " ACD_REDIS_URL, ...: README, Settings), e.g. ACD_PORT=8091 acd serve"
)

#: The modules that add subcommands to `acd`, with the names they add.
_SUBCOMMANDS = (
    ("acd.sim.cli", ("simulate", "staff", "tune")),
    ("acd.records.cli", ("records",)),
    ("acd.store.state_cli", ("state",)),
)
_NAMED = {name for _, names in _SUBCOMMANDS for name in names} | {"serve", "check-config", "compile"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="acd", description="Automatic call distributor")
    parser.add_argument("--version", action="version", version=f"acd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "serve",
        help="run the HTTP service (ACD_* environment)",
        description=f"Run the HTTP service. {SERVE_TAKES_NO_OPTIONS}",
    ).set_defaults(func=serve)
    sub.add_parser("check-config", help="load and validate config/ and exit").set_defaults(func=check_config)
    compile_ = sub.add_parser(
        "compile",
        help="compile the hot modules with Cython (faster; used while their source is unchanged)",
        description="Compile the engine's and the simulator's hot modules, unchanged, with Cython "
        "into ACD_COMPILED_DIR (default acd/__compiled__/); each is used only while its source is "
        "the one it was compiled from. Needs Cython and a C compiler: pip install -e '.[fast]'.",
    )
    compile_.add_argument("--jobs", type=int, default=None, help="parallel compilations (default: CPUs)")
    compile_.set_defaults(func=compile_hot)
    # Each module's subcommands, imported only when named (`acd simulate` needs neither the
    # records' nor the state's commands); any other first word (`--help`, a typo) loads them all,
    # so help and errors read as before.
    words = sys.argv[1:] if argv is None else argv
    first = words[0] if words else None
    for module, names in _SUBCOMMANDS:
        if first not in _NAMED or first in names:
            importlib.import_module(module).register(sub)
    args, extra = parser.parse_known_args(argv)
    if extra:
        hint = f" ({SERVE_TAKES_NO_OPTIONS})" if args.command == "serve" else ""
        parser.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    args.func(args)


def run() -> None:
    """The `acd` command: `main`, then a quick exit. A simulation leaves millions of objects that
    the interpreter would free one by one on the way out (a third of a second after a 100,000-call
    run, as mypy found for its own runs); streams and logs are flushed first, and nothing else
    is waiting for the exit (the service has shut down in `main`). A reader that stopped
    reading (`acd simulate ... | head`) ends the output quietly, as other command-line tools
    do, not with a traceback."""
    # numpy's OpenBLAS starts a pool of threads at import that spin a while looking for work;
    # acd does no linear algebra, so they only take a core from the process at start-up (0.04 s
    # of CPU a start here, docs/performance.md sixteenth round). A value set outside stands.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        main()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        os._exit(1)
    os._exit(0)


if __name__ == "__main__":
    main()
