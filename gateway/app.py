"""The application factory: configuration read once, tables and catalogs loaded, routes mounted."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from gateway import __version__, openapi, problems
from gateway.api import api_router
from gateway.body_limit import BodyLimit
from gateway.errors import UnknownCanonicalCode
from gateway.runtime import Runtime
from gateway.settings import Settings

DESCRIPTION = """\
Translates the order and shipment statuses of **Kak2c** (LK `ORDER_INFO_*`), the **MeaSoft** courier
API, **CS-Cart** and **CloudCart** into one canonical model, labelled in Russian, English, French
and Greek.

* Language: `lang` (query or body) > `Accept-Language` > `en`; answers carry `Content-Language`.
* Errors are RFC 9457 `application/problem+json` documents.
* Translation and vocabulary endpoints need no key; GETs are cacheable (ETag, Cache-Control).
"""


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the gateway. Tables and catalogs are loaded (and validated) here, once."""
    settings = settings or Settings()
    runtime = runtime or Runtime.load(settings)
    app = FastAPI(
        title="Status translation gateway",
        version=__version__,
        description=DESCRIPTION,
        generate_unique_id_function=_operation_id,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        openapi_tags=[
            {"name": "translate", "description": "Native status → canonical status (and back)."},
            {"name": "vocabulary", "description": "What the gateway knows, localized."},
        ],
    )
    app.state.runtime = runtime
    problems.install(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["*"],
        expose_headers=["ETag", "Content-Language"],
        max_age=86400,
    )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.include_router(api_router)
    openapi.install(app)

    @app.get("/problems/{slug}", include_in_schema=False, response_class=HTMLResponse)
    async def problem_type(slug: str) -> HTMLResponse:
        """Human-readable documentation of a problem `type` URI."""
        text = problems.DOCUMENTED.get(slug)
        if text is None:
            raise UnknownCanonicalCode(f"no problem type {slug!r}", where="slug")
        return HTMLResponse(f"<!doctype html><title>{slug}</title><h1>{slug}</h1><p>{text}</p>")

    return app
