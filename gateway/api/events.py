"""POST /v1/events and /v1/events/batch: status observations of a tenant's orders."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.api.auth import ServicesDep, TenantDep, bearer_tenant
from gateway.api.batch import read_json
from gateway.api.deps import JSON, LangDep, RuntimeDep, request_language, self_read
from gateway.api.tracking_schemas import EventIn, EventOut, EventsBatchOut
from gateway.errors import GatewayError
from gateway.ingest import NativeEvent
from gateway.problems import (
    problem_from_error,
    responses,
    validation_problem,
)
from gateway.recording import Recorded
from gateway.render import Renderer
from gateway.runtime import Runtime
from gateway.services import Services
from gateway.translate import Where

router = APIRouter(prefix="/v1/events", tags=["events"])
BATCH_INSTANCE = "/v1/events/batch"


def event_answer(renderer: Renderer, recorded: Recorded, lang: str) -> dict[str, Any]:
    """The answer for one recorded event: what it did and the order's current state."""
    state = recorded.state
    return {
        "result": recorded.result,
        "changed": recorded.changed,
        "sequence": state.sequence,
        "regression": recorded.regression,
        "violation": recorded.violation,
        "order": {"platform": state.platform, "order_id": state.order_id},
        "current": renderer.stored_canonical(state.current.canonical, lang),
        "native": renderer.stored_native(state.current.native, lang),
        "mapping_version": renderer.tables.version,
    }


def _native(event: EventIn, base: str) -> NativeEvent:
    return NativeEvent(
        event.order_id,
        event.status_input(),
        event.occurred_at,
        event.event_id,
        where=base,
        time_where=f"{base}/occurred_at",
    )


@router.post(
    "",
    status_code=202,
    response_model=EventOut,
    responses=responses(400, 401, 404, 413, 415, 422, 503),
    openapi_extra=self_read(EventIn.__name__),
)
async def post_event(request: Request) -> Response:
    """Record one status observation of an order (spec §6 rules) and answer its current state.

    The latest event by the source's time wins; a late older event is kept in the timeline only;
    a duplicate (same `event_id`, or same native code and time) changes nothing. An unknown native
    code is recorded as canonical `unknown` and counted at `GET /v1/unmapped`.
    """
    # The busiest route reads its own request: FastAPI's dependency solving and body handling
    # cost about a quarter of its time (bench/events.py). Same checks, same problems, in order.
    tenant = await bearer_tenant(request)
    lang = request_language(request)
    event = await read_json(request, EventIn)
    runtime: Runtime = request.app.state.runtime
    services: Services = request.app.state.services
    table = runtime.tables.platform(event.platform, where="#/platform")
    [result] = await services.recorder.record(
        tenant, table.platform, [_native(event, "#")], [Where.body()]
    )
    if isinstance(result, GatewayError):
        raise result
    body = orjson.dumps(event_answer(runtime.renderer, result, lang))
    return Response(body, status_code=202, media_type=JSON, headers={"Content-Language": lang})


class EventsEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[Any] = Field(min_length=1)


@router.post(
    "/batch",
    status_code=202,
    response_model=EventsBatchOut,
    responses=responses(400, 401, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["events"],
                        "additionalProperties": False,
                        "properties": {
                            "events": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"$ref": "#/components/schemas/EventIn"},
                            }
                        },
                    }
                }
            },
        }
    },
)
async def post_events_batch(
    request: Request, tenant: TenantDep, services: ServicesDep, runtime: RuntimeDep, lang: LangDep
) -> Response:
    """Record up to 1,000 events in one call; `results` answers each in order, a bad event gets
    `{"error": <problem>}` in its place and does not fail the others."""
    envelope = await read_json(request, EventsEnvelope)
    limit = services.settings.events_batch_max_items
    if len(envelope.events) > limit:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "events"),
                    "msg": f"at most {limit} events per call (got {len(envelope.events)})",
                }
            ]
        )
    slots: list[dict[str, Any] | None] = [None] * len(envelope.events)
    groups: dict[str, list[tuple[int, NativeEvent, Where]]] = {}
    for i, raw in enumerate(envelope.events):
        base = f"#/events/{i}"
        try:
            event = EventIn.model_validate(raw)
            table = runtime.tables.platform(event.platform, where=f"{base}/platform")
        except ValidationError as exc:
            errors = [
                dict(e, loc=("body", "events", i, *e["loc"])) for e in exc.errors(include_url=False)
            ]
            slots[i] = {"error": validation_problem(errors, BATCH_INSTANCE)}
            continue
        except GatewayError as exc:
            slots[i] = {"error": problem_from_error(exc, BATCH_INSTANCE)}
            continue
        groups.setdefault(table.platform, []).append((i, _native(event, base), Where.body(base)))
    for platform, items in groups.items():
        results = await services.recorder.record(
            tenant, platform, [e for _, e, _ in items], [w for _, _, w in items]
        )
        for (i, _, _), result in zip(items, results, strict=True):
            slots[i] = (
                {"error": problem_from_error(result, BATCH_INSTANCE)}
                if isinstance(result, GatewayError)
                else event_answer(runtime.renderer, result, lang)
            )
    body = orjson.dumps({"results": slots})
    return Response(body, status_code=202, media_type=JSON, headers={"Content-Language": lang})
