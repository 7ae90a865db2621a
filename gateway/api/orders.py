"""GET /v1/orders/{platform}/{order_id} and GET /v1/orders: a tenant's orders, localized."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime

from gateway.api.auth import ServicesDep, TenantDep
from gateway.api.deps import JSON, LangDep, RuntimeDep
from gateway.api.tracking_schemas import OrderOut, OrdersPageOut
from gateway.canonical import Code, Stage
from gateway.errors import InvalidCursor, NotFound
from gateway.problems import responses
from gateway.storage.orders import split_member
from gateway.tracking import to_us

router = APIRouter(prefix="/v1/orders", tags=["orders"])
SCAN_BATCH = 200
SCAN_LIMIT = 5000  # index entries looked at per call; past it the page ends early with a cursor


def encode_cursor(score: int, name: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([score, name])).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[int, str]:
    try:
        score, name = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if type(score) is int and type(name) is str:
            return score, name
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        pass
    raise InvalidCursor("pass back the `next_cursor` of a previous page", where="cursor")


@router.get(
    "/{platform}/{order_id:path}",
    response_model=OrderOut,
    responses=responses(401, 404, 422, 503),
)
async def get_order(
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    lang: LangDep,
    platform: Annotated[str, Path(max_length=64)],
    order_id: Annotated[str, Path(min_length=1, max_length=200)],
) -> Response:
    """The order's current canonical state, `sequence`, and its whole timeline: each observation
    with its native code, canonical result, event and received times, and flags."""
    table = runtime.tables.platform(platform, where="platform")
    [state] = await services.orders.states(tenant, [(table.platform, order_id)])
    if state is None:
        raise NotFound(f"no {table.platform} order {order_id!r}", where="order_id")
    timeline = await services.orders.timeline(tenant, table.platform, order_id)
    body = orjson.dumps(runtime.renderer.order(state, timeline, lang))
    return Response(body, media_type=JSON, headers={"Content-Language": lang})


@router.get("", response_model=OrdersPageOut, responses=responses(401, 404, 422, 503))
async def list_orders(
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    lang: LangDep,
    platform: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[
        Code | None, Query(description="Canonical code of the current state.")
    ] = None,
    stage: Annotated[Stage | None, Query()] = None,
    updated_after: Annotated[
        AwareDatetime | None,
        Query(description="Only orders with an observation received after this time."),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=600)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """The tenant's orders, oldest activity first, with cursor pagination."""
    wanted = runtime.tables.platform(platform, where="platform").platform if platform else None
    position = decode_cursor(cursor) if cursor else None
    if position is None and updated_after is not None:
        position = (to_us(updated_after), "\U0010ffff")
    found: list[dict[str, Any]] = []
    scanned = 0
    next_cursor: str | None = None
    while len(found) < limit and scanned < SCAN_LIMIT:
        rows = await services.orders.index_page(tenant, position, SCAN_BATCH)
        if not rows:
            next_cursor = None
            break
        scanned += len(rows)
        refs = [split_member(name) for name, _ in rows]
        states = await services.orders.states(tenant, refs)
        taken = 0  # rows of this batch looked at
        for (name, score), state in zip(rows, states, strict=True):
            taken += 1
            position = (score, name)
            if state is None or (wanted and state.platform != wanted):
                continue
            canonical = state.current.canonical
            if (status and canonical["code"] != status) or (stage and canonical["stage"] != stage):
                continue
            found.append(
                {
                    "platform": state.platform,
                    "order_id": state.order_id,
                    "sequence": state.sequence,
                    "current": runtime.renderer.stored_canonical(canonical, lang),
                    "occurred_at": state.current.occurred_at,
                    "updated_at": state.updated_at,
                }
            )
            if len(found) == limit:
                break
        next_cursor = encode_cursor(*position) if position else None
        if len(rows) < SCAN_BATCH and taken == len(rows):  # the index has nothing after this
            next_cursor = None
            break
    body = orjson.dumps({"lang": lang, "orders": found, "next_cursor": next_cursor})
    return Response(body, media_type=JSON, headers={"Content-Language": lang})
