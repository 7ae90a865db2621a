"""/v1/mappings/{platform}/{code}: a tenant's own codes; /v1/unmapped: codes nobody maps yet."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, cast

import orjson
from fastapi import APIRouter, Path, Response
from pydantic import ValidationError

from gateway.api.auth import ServicesDep, TenantDep
from gateway.api.deps import JSON, RuntimeDep
from gateway.api.tracking_schemas import (
    TenantMappingIn,
    TenantMappingOut,
    TenantMappingsOut,
    UnmappedListOut,
)
from gateway.custom import TenantMapping, checked_detail, field_name, split_field_name
from gateway.errors import Conflict, InvalidStatus, NotFound
from gateway.problems import responses

router = APIRouter(tags=["mappings"])
Code = Annotated[str, Path(min_length=1, max_length=128)]


def _out(platform: str, code: str, m: TenantMapping) -> dict[str, Any]:
    return {
        "platform": platform,
        "code": code,
        "canonical": m.canonical,
        "detail": m.detail,
        "payment": m.payment,
        "fulfillment": m.fulfillment,
        "paid": m.paid,
        "provisional": m.provisional,
        "action_required": m.action,
        "labels": m.labels,
        "descriptions": m.descriptions,
        "updated_at": m.updated_at,
    }


@router.put(
    "/v1/mappings/{platform}/{code:path}",
    response_model=TenantMappingOut,
    responses=responses(400, 401, 404, 409, 415, 422, 503),
)
async def put_mapping(
    body: TenantMappingIn,
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    platform: Annotated[str, Path(max_length=64)],
    code: Code,
) -> Response:
    """Map one of the tenant's own native codes (a CS-Cart letter, a CloudCart custom status) to
    the canonical model, with labels in ru, en, fr and el. Translation (with this tenant's key)
    and tracking use it from now on; events recorded before keep what they were."""
    table = runtime.tables.platform(platform, where="platform")
    normal = table.normalize(code)
    if not normal:
        raise InvalidStatus("the code is empty", where="code")
    if normal in table.statuses:
        raise Conflict(
            f"{normal!r} is a built-in {table.platform} status; only codes the tables do not "
            "know can be mapped by a tenant",
            where="code",
        )
    try:
        detail = checked_detail(runtime.tables, body.canonical, body.detail)
        mapping = TenantMapping(
            label=body.labels["en"],
            description=body.descriptions.get("en") or body.labels["en"],
            canonical=body.canonical,
            detail=detail,
            payment=body.payment,
            fulfillment=body.fulfillment,
            paid=body.paid,
            provisional=body.provisional,
            action=body.action_required,
            labels=body.labels,
            descriptions=body.descriptions,
            updated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
    except (ValueError, KeyError, ValidationError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise InvalidStatus(message.removeprefix("Value error, "), where="#") from exc
    key = services.orders.keys(tenant).mappings
    await services.redis.hset(key, field_name(table.platform, normal), mapping.model_dump_json())
    return Response(orjson.dumps(_out(table.platform, normal, mapping)), media_type=JSON)


async def _load(
    services: ServicesDep, tenant: str, platform: str, code: str
) -> TenantMapping | None:
    raw = await services.redis.hget(
        services.orders.keys(tenant).mappings, field_name(platform, code)
    )
    return TenantMapping.model_validate_json(raw) if raw else None


@router.get(
    "/v1/mappings/{platform}/{code:path}",
    response_model=TenantMappingOut,
    responses=responses(401, 404, 503),
)
async def get_mapping(
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    platform: Annotated[str, Path(max_length=64)],
    code: Code,
) -> Response:
    """One tenant mapping."""
    table = runtime.tables.platform(platform, where="platform")
    normal = table.normalize(code)
    mapping = await _load(services, tenant, table.platform, normal)
    if mapping is None:
        raise NotFound(f"no tenant mapping for {table.platform} {normal!r}", where="code")
    return Response(orjson.dumps(_out(table.platform, normal, mapping)), media_type=JSON)


@router.delete(
    "/v1/mappings/{platform}/{code:path}", status_code=204, responses=responses(401, 404, 503)
)
async def delete_mapping(
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    platform: Annotated[str, Path(max_length=64)],
    code: Code,
) -> Response:
    """Remove a tenant mapping; the code reads as `unknown` again for new events."""
    table = runtime.tables.platform(platform, where="platform")
    normal = table.normalize(code)
    removed = await services.redis.hdel(
        services.orders.keys(tenant).mappings, field_name(table.platform, normal)
    )
    if not removed:
        raise NotFound(f"no tenant mapping for {table.platform} {normal!r}", where="code")
    return Response(status_code=204)


@router.get("/v1/mappings", response_model=TenantMappingsOut, responses=responses(401, 503))
async def list_mappings(tenant: TenantDep, services: ServicesDep) -> Response:
    """Every mapping of the tenant."""
    key = services.orders.keys(tenant).mappings
    rows = cast(dict[str, str], await services.redis.hgetall(key))
    out = []
    for name in sorted(rows):
        platform, code = split_field_name(name)
        out.append(_out(platform, code, TenantMapping.model_validate_json(rows[name])))
    return Response(orjson.dumps({"mappings": out}), media_type=JSON)


@router.get("/v1/unmapped", response_model=UnmappedListOut, responses=responses(401, 503))
async def list_unmapped(tenant: TenantDep, services: ServicesDep) -> Response:
    """Native codes the tables did not know, with how often each came, most frequent first;
    also the store's own codes a connector learned before any order carried them (count 0),
    each with the mapping the connector suggests from what the store says about the code."""
    k = services.orders.keys(tenant)
    async with services.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(k.unmapped)
        pipe.hgetall(k.unmapped_seen)
        pipe.hgetall(k.mappings)
        pipe.hgetall(k.suggestions)
        counts, seen, mapped, suggested = await pipe.execute()
    out = []
    for name in {*counts, *suggested}:
        platform, code = split_field_name(name)
        details = orjson.loads(seen.get(name, "{}"))
        out.append(
            {
                "platform": platform,
                "code": code,
                "count": int(counts.get(name, 0)),
                "first_seen": details.get("first_seen", ""),
                "last_seen": details.get("last_seen", ""),
                "order_id": details.get("order_id", ""),
                "mapped": name in mapped,
                "suggested": orjson.loads(suggested[name]) if name in suggested else None,
            }
        )
    out.sort(key=lambda u: (-u["count"], u["platform"], u["code"]))
    return Response(orjson.dumps({"unmapped": out}), media_type=JSON)
