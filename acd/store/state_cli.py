"""`acd state export [FILE]` and `acd state import FILE`: the engine's whole state as one versioned
JSON document (acd/engine/state.py, docs/state.md), out of the store and into an empty one.

The state lives in Redis (`ACD_REDIS_URL` or `ACD_REDIS_SENTINELS`): the snapshot and the log
after it. With the memory store it lives only in the running process, and these commands refuse.

- export: the state a restart under the current `config/` would make, by the restart's own steps
  (`acd.store.redis.replica.read_state`: the snapshot, the log after it replayed under the
  configuration that wrote it, then the state fitted to `config/`), written (standard output
  without FILE, or `-`). It reads only: a running service carries on.
- import: the document read (any format this release reads: earlier ones are upgraded), loaded
  under the current `config/` (what it no longer has is handled and logged, as on a restart; the
  records of the contacts that ends carried by the snapshot, written by the service when it
  starts), and written as the store's snapshot, its base: only into an empty store (no snapshot,
  no log), and only while no instance holds the lease (stop `acd serve` first; the next start
  restores it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import orjson

from acd.store.state_checks import StateCommandError, holds_together

IMPORT_LEASE_TTL_S = 30.0


def register(sub: Any) -> None:
    p = sub.add_parser("state", help="the engine's whole state as JSON: export, import (docs/state.md)")
    commands = p.add_subparsers(dest="state_command", required=True)
    e = commands.add_parser(
        "export",
        help="write the state the store holds (snapshot and log) as one versioned JSON document",
        description="Rebuild the state as a restart under the current config/ would (the Redis "
        "store's snapshot, the log after it under the configuration that wrote it, then fitted to "
        "config/) and write it as JSON. Read-only: a running service carries on.",
    )
    e.add_argument("file", nargs="?", default="-", help="where to write (default: standard output)")
    e.set_defaults(func=export_command)
    i = commands.add_parser(
        "import",
        help="load a state document into an empty Redis store (the service stopped)",
        description="Read a state document (this release's format or an earlier one), load it under "
        "the current config/, and write it as the base of an empty Redis store.",
    )
    i.add_argument("file", help="the state document (JSON; - for standard input)")
    i.set_defaults(func=import_command)


# ---------------------------------------------------------------------------- the commands


def export_command(args: argparse.Namespace) -> None:
    from acd.cli import _config, _settings

    settings = _settings()
    _quiet_logs()
    config = _config(settings)
    try:
        document = asyncio.run(export_state(settings, config))
    except StateCommandError as exc:
        sys.exit(f"acd state export: {exc}")
    data = orjson.dumps(document) + b"\n"
    if args.file == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        try:
            Path(args.file).write_bytes(data)
        except OSError as exc:
            sys.exit(f"acd state export: cannot write {args.file}: {exc.strerror}")
    print(f"acd state export: {summary(document)}", file=sys.stderr)


def import_command(args: argparse.Namespace) -> None:
    from acd.cli import _config, _settings

    settings = _settings()
    _quiet_logs()
    config = _config(settings)
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        sys.exit(f"acd state import: cannot read {args.file}: {exc.strerror}")
    try:
        document = json.loads(raw)
    except ValueError as exc:
        sys.exit(f"acd state import: {args.file} is not JSON: {exc}")
    except RecursionError:  # nested past the reader's stack: no document acd writes
        sys.exit(f"acd state import: {args.file} is not JSON acd reads: it nests too deep")
    if not isinstance(document, dict):
        sys.exit(f"acd state import: {args.file} is not a state document (a JSON object, as export writes)")
    try:
        imported = asyncio.run(import_state(settings, config, document))
    except StateCommandError as exc:
        sys.exit(f"acd state import: {exc}")
    print(f"acd state import: {summary(imported)}", file=sys.stderr)


def _quiet_logs() -> None:
    """What loading says (an agent dropped, a skill gone) goes to standard error, once."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )


def summary(document: dict[str, Any]) -> str:
    calls = document.get("calls", [])
    live = sum(1 for c in calls if c.get("status") in ("queued", "connecting", "answered", "callback"))
    scheduled = sum(1 for c in document.get("callbacks", []) if c.get("status") in ("scheduled", "dialing"))
    booked = sum(1 for a in document.get("appointments", []) if a.get("status") in ("booked", "dialing"))
    return (
        f"format {document.get('format')}: {len(document.get('waiting', []))} calls waiting, {live} live "
        f"(waiting included), {len(calls)} kept; {scheduled} callbacks and {booked} appointments to come; "
        f"{len(document.get('agents', []))} agents; {len(document.get('remembered', {}).get('expiry', []))} "
        "event ids remembered"
        + (f"; {len(document['outbox'])} commands pending (outbox)" if "outbox" in document else "")
        + (f"; {len(document['records'])} call records to write" if document.get("records") else "")
    )


# ---------------------------------------------------------------------------- the work


def _client(settings: Any) -> Any:
    if not settings.redis_enabled:
        raise StateCommandError(
            "the state is kept in Redis (ACD_REDIS_URL or ACD_REDIS_SENTINELS): with the memory store "
            "it lives only in the running process"
        )
    from acd.store.redis import connect, connect_sentinel

    if settings.redis_sentinels:
        return connect_sentinel(settings)[0]
    return connect(settings.redis_url)


async def export_state(settings: Any, config: Any) -> dict[str, Any]:
    """The state the store holds: its snapshot under `config`, the log after it replayed."""
    from acd.engine import state as engine_state

    client = _client(settings)
    records = _records_sink(settings, config, None)
    try:
        engine = await _load(client, settings, config, records)
        document = engine_state.dump(engine)
        pending = await _pending_commands(client, settings.redis_prefix)
        if pending:  # only then: a store with none writes the engine's document as it is
            document["outbox"] = pending
        if records.pending:  # the records a restart of this store would write (import carries them)
            document["records"] = records.queued()
        return document
    finally:
        await client.aclose()


async def _pending_commands(client: Any, prefix: str) -> list[dict[str, Any]]:
    """The commands the platform has not acknowledged yet, oldest first, as the outbox stores them
    (`id`, `command`, `fields`, `at`): read without touching their schedule (the service may run)."""
    from redis.exceptions import RedisError

    from acd.store.outbox_redis import OutboxKeys, creation_number

    keys = OutboxKeys(prefix)
    try:
        bodies = await client.hgetall(keys.commands)
        order = await client.hgetall(keys.order)
    except (RedisError, OSError) as exc:
        raise StateCommandError(f"Redis: {type(exc).__name__}: {exc}") from None
    ids = sorted(bodies, key=lambda i: creation_number(int(order.get(i, 0))))
    return [json.loads(bodies[i]) for i in ids]


def _commands_of(document: dict[str, Any]) -> list[Any]:
    """The pending commands a document carries (`outbox`, none in documents written before it)."""
    from acd.model import Command

    out = []
    for item in document.get("outbox") or []:
        try:
            out.append(Command(id=str(item["id"]), command=str(item["command"]), fields=dict(item["fields"]),
                               created_at=float(item.get("at", 0.0))))  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise StateCommandError(
                f"`outbox` holds an unreadable command: {type(exc).__name__}: {exc}"
            ) from None
    return out


async def _load(client: Any, settings: Any, config: Any, records: Any) -> Any:
    """The engine a restart under `config` would make, by the restart's own steps (the store's
    `read_state`): the snapshot, the log after it replayed under the configuration that wrote it,
    then the state fitted to `config`; the records that restart would write queued in `records`."""
    from redis.exceptions import RedisError

    from acd.store import snapshot as snap
    from acd.store.redis.replica import Resync, read_state
    from acd.store.redis_log import RedisLog

    try:
        return await read_state(RedisLog(client, settings.redis_prefix), config, settings, records)
    except Resync as exc:  # a snapshot trimmed the log meanwhile (the service runs on)
        raise StateCommandError(f"{exc}; try again") from None
    except snap.SnapshotError as exc:
        raise StateCommandError(str(exc)) from None
    except (RedisError, OSError) as exc:
        raise StateCommandError(f"Redis: {type(exc).__name__}: {exc}") from None


def _records_sink(settings: Any, config: Any, document: dict[str, Any] | None) -> Any:
    """The records sink that observes the export's or the import's load: it only queues (neither
    writes records: the service does, from the snapshot that carries them), for the records
    database of `settings`. An answered call's site is its agent's when acd rang it, else from the
    document (the agent the call had), else from `config`."""
    from prometheus_client import CollectorRegistry

    from acd.records.db import open_db
    from acd.records.sink import RecordMetrics, RecordSink

    sites = {a.id: a.site for a in config.agents}
    for agent in document.get("agents") or [] if isinstance(document, dict) else []:
        if (
            isinstance(agent, dict)
            and isinstance(agent.get("id"), str)
            and isinstance(agent.get("site"), str)
        ):
            sites[agent["id"]] = agent["site"]
    return RecordSink(
        open_db(settings.records_url, settings.data_dir),
        RecordMetrics(CollectorRegistry()),
        leading=lambda: False,  # never writes: nothing to count
        max_queue=settings.records_queue_max,
        site_of=sites.get,
    )


async def import_state(settings: Any, config: Any, document: dict[str, Any]) -> dict[str, Any]:
    """Load `document` under `config` and write it as the base of the empty store; returns the
    state written (this release's format). The records of the contacts that loading ends (a
    removed skill's calls, callbacks, appointments) go with it, as a snapshot carries the records
    not yet written: the service writes them when it starts."""
    from redis.exceptions import RedisError

    from acd.engine import state as engine_state
    from acd.store import snapshot as snap
    from acd.store.redis_log import Fenced, RedisLog

    try:
        holds_together(document)
        commands = _commands_of(document)
        records = _records_sink(settings, config, document)
        try:  # those the export carried first (a restart of the old store would write them), then the fit's
            records.queue(document.get("records") or [])
        except ValueError as exc:
            raise StateCommandError(f"`records` holds a record that cannot be read: {exc}") from None
        engine = engine_state.load(config, document, router=settings.router, observer=records)
    except engine_state.StateError as exc:
        raise StateCommandError(str(exc)) from None
    except KeyError as exc:  # an entry without a field every release writes in it
        raise StateCommandError(f"not a readable state document: an entry lacks the field {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise StateCommandError(f"not a readable state document: an entry of another shape ({exc})") from None
    data = snap.encode(engine)
    header = snap.make_header(
        snap.Position(0, "0-0", engine.queries.driven_at), snap.config_fingerprint(config), len(data)
    )
    client = _client(settings)
    store = RedisLog(client, settings.redis_prefix)
    try:
        lease = await store.acquire("acd-state-import", IMPORT_LEASE_TTL_S)
        if lease is None:
            raise StateCommandError(
                f"an acd instance holds the store's lease ({await store.holder()}): stop acd serve first"
            )
        try:
            epoch = await store.reseed(lease, 0, header, data, records.carried())
        finally:
            await store.release(lease)
        if epoch is None:
            raise StateCommandError(
                "the store is not empty (it holds a snapshot or log entries): import goes into an empty "
                f"store; export what it holds first, then clear the keys under {settings.redis_prefix!r}"
            )
        if commands:  # sent by the service once it starts (the platform deduplicates by id)
            from acd.store.outbox_redis import RedisOutboxStore

            await RedisOutboxStore(client, settings.redis_prefix).put(commands)
    except Fenced as exc:
        raise StateCommandError(f"the lease was lost during the import: {exc}") from None
    except (RedisError, OSError) as exc:
        raise StateCommandError(f"Redis: {type(exc).__name__}: {exc}") from None
    finally:
        await client.aclose()
    imported = engine_state.dump(engine)
    if commands:
        imported["outbox"] = [c.id for c in commands]
    if records.pending:
        imported["records"] = records.queued()
    return imported
