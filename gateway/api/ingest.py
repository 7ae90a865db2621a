"""POST /v1/ingest/{platform}: native payloads as the platforms send them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Path, Request, Response

from gateway.api.auth import IngestTenantDep, ServicesDep
from gateway.api.deps import JSON, RuntimeDep
from gateway.errors import GatewayError, InvalidPayload
from gateway.ingest import NativeEvent, cloudcart, cscart, kak2c, measoft
from gateway.problems import problem_from_error, responses
from gateway.translate import Where

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])

Parser = Callable[[bytes], list[NativeEvent]]


def parsers(measoft_zone: ZoneInfo) -> dict[str, Parser]:
    return {
        "measoft": partial(measoft.parse, local_zone=measoft_zone),
        "cloudcart": cloudcart.parse,
        "cscart": cscart.parse,
        "kak2c": kak2c.parse,
    }


@router.post(
    "/{platform}",
    responses=responses(400, 401, 404, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "measoft: the XML webhook `<order>` or a `statusreq` answer; "
            "cloudcart: the order.created/order.updated JSON array; cscart: an order object as "
            "GET /api/orders/:id returns it, or the list form; kak2c: "
            '`{"order_id", "status", "updated_at", "event_id"?}` or an array of them.',
            "content": {
                "application/xml": {"schema": {"type": "string"}},
                "application/json": {"schema": {}},
            },
        }
    },
)
async def ingest(
    request: Request,
    tenant: IngestTenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    platform: Annotated[str, Path(max_length=64)],
) -> Response:
    """Record every status in a native payload (a MeaSoft order's whole history in event-time
    order). Authenticate with the tenant's API key as Bearer, or its ingest token as
    `X-Gateway-Token`, `?token=` or the Basic auth password. A malformed or unsafe payload is
    refused whole (4xx problem) and nothing is stored. An event dated later than the gateway's
    clock plus GATEWAY_FUTURE_TOLERANCE_S is refused alone: a 422 problem as its `error` in
    `results`, and nothing of it is stored."""
    table = runtime.tables.platform(platform, where="platform")
    parse = request.app.state.ingest_parsers[table.platform]
    body = await request.body()
    metrics = services.metrics.ingest_payloads
    try:
        if not body.strip():
            raise InvalidPayload("the body is empty")
        events = parse(body)
    except GatewayError:
        metrics.labels(platform=table.platform, outcome="rejected").inc()
        raise
    results = await services.recorder.record(
        tenant, table.platform, events, [Where.body(e.where) for e in events]
    )
    metrics.labels(platform=table.platform, outcome="accepted").inc()
    answers: list[dict[str, Any]] = []
    counts = {"changed": 0, "duplicate": 0}
    for event, result in zip(events, results, strict=True):
        if isinstance(result, GatewayError):
            answers.append({"order_id": event.order_id, "error": problem_from_error(result)})
            continue
        if result.result in counts:
            counts[result.result] += 1
        answers.append(
            {
                "order_id": event.order_id,
                "result": result.result,
                "sequence": result.state.sequence,
                "current": result.state.current.canonical["code"],
            }
        )
    answer = {
        "success": True,
        "platform": table.platform,
        "orders": len({e.order_id for e in events}),
        "events": len(events),
        "changed": counts["changed"],
        "duplicates": counts["duplicate"],
        "results": answers,
    }
    return Response(orjson.dumps(answer), media_type=JSON)
