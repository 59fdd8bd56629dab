"""The application factory: `create_app(settings)` builds a self-contained app (no global state),
so tests build as many as they like.

The API knows nothing of the platforms' adapters: whoever builds the app passes them in
`extensions`, callables that add their routes (and startup or cleanup hooks) to the app once the
service and the contract's routes are in place. The service itself starts and stops through the
app's `cleanup_ctx`, which pairs the start with its stop. `acd serve` wires the Kamailio adapter this way when
`ACD_KAMAILIO_URL` is set (see `acd.cli`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry

from acd import __version__
from acd.api import handlers
from acd.api.errors import REJECTED
from acd.api.handlers import OPENAPI, SERVICE
from acd.api.middleware import api_middleware
from acd.api.openapi import build_openapi
from acd.api.protocol import json_protocol_errors
from acd.api.records import add_records_routes
from acd.api.wallboard import add_wallboard_routes
from acd.clock import Clock
from acd.config import Config, load_config
from acd.service import Service
from acd.settings import Settings

#: An appointment's path: any id but `slots`, the path of the slots, whose 405 then lists its own
#: methods (GET, HEAD) rather than an appointment's.
APPOINTMENT = "/v1/appointments/{appointment_id:(?!slots$)[^/]+}"

#: Adds an adapter's routes (or other hooks) to an app whose service is in `app[SERVICE]`.
Extension = Callable[[web.Application], None]


def create_app(
    settings: Settings,
    config: Config | None = None,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
    extensions: Sequence[Extension] = (),
) -> web.Application:
    config = config if config is not None else load_config(settings.config_dir)
    service = Service(settings, config, registry=registry, clock=clock)
    json_protocol_errors()  # what aiohttp refuses before the app, answered in JSON too
    # One middleware: access log, signature check (when a secret is set), JSON errors.
    app = web.Application(
        middlewares=[
            api_middleware(settings.secret or None, settings.max_body_bytes, settings.body_timeout_s)
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[SERVICE] = service
    app[REJECTED] = service.metrics.rejected
    app[OPENAPI] = build_openapi(__version__, config)

    r = app.router
    r.add_post("/v1/events", handlers.post_events)
    r.add_put("/v1/agents/{agent_id}", handlers.put_agent)
    r.add_get("/v1/agents", handlers.list_agents)
    r.add_get("/v1/agents/{agent_id}", handlers.get_agent)
    r.add_get("/v1/queues", handlers.get_queues)
    r.add_get("/v1/calls/{call_id}", handlers.get_call)
    r.add_post("/v1/callbacks", handlers.post_callback)
    r.add_get("/v1/callbacks/{callback_id}", handlers.get_callback)
    r.add_delete("/v1/callbacks/{callback_id}", handlers.delete_callback)
    r.add_get("/v1/appointments/slots", handlers.get_slots)
    r.add_post("/v1/appointments", handlers.post_appointment)
    r.add_get(APPOINTMENT, handlers.get_appointment)
    r.add_delete(APPOINTMENT, handlers.delete_appointment)
    r.add_patch(APPOINTMENT, handlers.patch_appointment)
    r.add_get("/v1/overflow", handlers.get_overflow)
    r.add_put("/v1/overflow", handlers.put_overflow)
    r.add_get("/v1/services", handlers.list_services)
    r.add_get("/metrics", handlers.metrics)
    r.add_get("/healthz", handlers.healthz)
    r.add_get("/readyz", handlers.readyz)
    r.add_get("/openapi.json", handlers.openapi)
    add_wallboard_routes(app)
    add_records_routes(app)
    for extend in extensions:
        extend(app)

    app.cleanup_ctx.append(_running(service))
    return app


def _running(service: Service) -> Callable[[web.Application], AsyncIterator[None]]:
    """The service's life as one `cleanup_ctx` step: started before the app serves, stopped when it
    is cleaned up (only if it started)."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.stop()

    return run
