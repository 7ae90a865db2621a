"""Operations: /healthz (the process runs), /readyz (it can serve), /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from redis.exceptions import RedisError

from gateway.problems import PROBLEM_JSON

router = APIRouter(tags=["operations"])


@router.get("/healthz", responses={200: {"description": "The process is up."}})
async def healthz() -> dict[str, str]:
    """Liveness: answers while the process runs, whatever its dependencies do."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        200: {"description": "Ready: Redis answers, tables and catalogs are loaded."},
        503: {"description": "Not ready; the problem says why.", "content": {PROBLEM_JSON: {}}},
    },
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: Redis reachable, tables and catalogs loaded."""
    runtime = request.app.state.runtime
    services = getattr(request.app.state, "services", None)
    checks = {
        "tables": bool(runtime.tables.platforms),
        "catalogs": bool(runtime.catalogs.version),
        "redis": False,
    }
    if services is not None:
        try:
            checks["redis"] = bool(await services.redis.ping())
        except (RedisError, OSError):
            checks["redis"] = False
    if all(checks.values()):
        return JSONResponse(
            {"status": "ready", "checks": checks, "mapping_version": runtime.tables.version}
        )
    failing = ", ".join(name for name, ok in checks.items() if not ok)
    return JSONResponse(
        {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": f"not ready: {failing}",
            "checks": checks,
        },
        status_code=503,
        media_type=PROBLEM_JSON,
        headers={"Content-Language": "en", "Retry-After": "1"},
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Prometheus text exposition.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(request: Request) -> Response:
    """Counters of events (accepted, duplicate, regression…), unknown codes, ingest payloads,
    and request latency by route."""
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
