"""The application factory: configuration read once, tables and catalogs loaded, routes mounted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from gateway import __version__, heap, openapi, problems
from gateway.api import api_router
from gateway.api.ingest import parsers
from gateway.body_limit import BodyLimit
from gateway.errors import NotFound
from gateway.observability import Metrics, RequestTelemetry
from gateway.response_cache import ResponseCache
from gateway.runtime import Runtime
from gateway.services import open_services, running_worker
from gateway.settings import Settings
from gateway.web.routes import WebAssets, router as web_router

DESCRIPTION = """\
Translates the order and shipment statuses of **Kak2c** (LK `ORDER_INFO_*`), the **MeaSoft** courier
API, **CS-Cart** and **CloudCart** into one canonical model, labelled in Russian, English, French
and Greek.

* Language: `lang` (query or body) > `Accept-Language` > `en`; answers carry `Content-Language`.
* Errors are RFC 9457 `application/problem+json` documents.
* Translation and vocabulary endpoints need no key; GETs are cacheable (ETag, Cache-Control).
"""


# Paths whose GET answers are pure functions of path, query and Accept-Language.
CACHEABLE = ("/v1/translate/", "/v1/platforms", "/v1/statuses")


def _operation_id(route: APIRoute) -> str:
    return route.name


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime: Runtime = app.state.runtime
    settings = runtime.settings
    async with (
        open_services(settings, runtime, app.state.metrics) as services,
        running_worker(services, runtime, settings.worker_in_process),
    ):
        app.state.services = services
        heap.settle()  # everything loaded so far lives as long as the process
        try:
            yield
        finally:
            del app.state.services


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the gateway. Tables and catalogs are loaded (and validated) here, once."""
    settings = settings or Settings()
    runtime = runtime or Runtime.load(settings)
    if runtime.settings is not settings:
        runtime = replace(runtime, settings=settings)
    app = FastAPI(
        title="Status translation gateway",
        version=__version__,
        description=DESCRIPTION,
        generate_unique_id_function=_operation_id,
        lifespan=_lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        openapi_tags=[
            {"name": "translate", "description": "Native status → canonical status (and back)."},
            {"name": "vocabulary", "description": "What the gateway knows, localized."},
            {"name": "events", "description": "Status observations of a tenant's orders."},
            {"name": "ingest", "description": "Native platform payloads, as sent."},
            {"name": "orders", "description": "A tenant's orders: current state and timeline."},
            {"name": "mappings", "description": "A tenant's own native codes."},
            {"name": "webhooks", "description": "Signed deliveries of changes to a shop."},
            {"name": "fbo", "description": "Kak2c FBO shipment deadlines and warnings."},
            {"name": "connectors", "description": "Pulling changes from platforms' APIs."},
            {"name": "public", "description": "Read-only views opened by a share token."},
            {"name": "operations", "description": "Health, readiness, metrics."},
        ],
    )
    app.state.runtime = runtime
    app.state.metrics = Metrics()
    app.state.ingest_parsers = parsers(ZoneInfo(settings.measoft_local_zone))
    problems.install(app)
    # Starlette wraps the last added outermost: RequestTelemetry(CORS(BodyLimit(ResponseCache(
    # routes)))); cache hits still get CORS, Server-Timing, a request id and a log line.
    if settings.response_cache_entries:
        app.add_middleware(ResponseCache, prefixes=CACHEABLE, limit=settings.response_cache_entries)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["*"],
        expose_headers=["ETag", "Content-Language", "Server-Timing", "X-Request-Id"],
        max_age=86400,
    )
    app.add_middleware(RequestTelemetry, metrics=app.state.metrics)
    app.include_router(api_router)
    app.state.web = WebAssets(runtime.catalogs, settings.cache_max_age)
    app.include_router(web_router)
    openapi.install(app)

    @app.get("/problems/{slug}", include_in_schema=False, response_class=HTMLResponse)
    async def problem_type(slug: str) -> HTMLResponse:
        """Human-readable documentation of a problem `type` URI."""
        text = problems.DOCUMENTED.get(slug)
        if text is None:
            raise NotFound(f"no problem type {slug!r}", where="slug")
        return HTMLResponse(f"<!doctype html><title>{slug}</title><h1>{slug}</h1><p>{text}</p>")

    return app
