"""/v1/mappings/{platform}/{code}: a tenant's own codes (`cloudcart.payment` and
`cloudcart.fulfillment` for CloudCart's parts); /v1/unmapped: codes nobody maps yet."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import orjson
from fastapi import APIRouter, Path, Response
from pydantic import ValidationError

from gateway.api.auth import ServicesDep, TenantDep
from gateway.api.deps import JSON, RuntimeDep
from gateway.api.tracking_schemas import (
    FulfillmentMappingIn,
    PartMappingOut,
    PaymentMappingIn,
    TenantMappingIn,
    TenantMappingOut,
    TenantMappingsOut,
    UnmappedListOut,
)
from gateway.custom import (
    PARTS,
    AnyMapping,
    Part,
    TenantFulfillmentMapping,
    TenantMapping,
    TenantPaymentMapping,
    checked_detail,
    field_name,
    loaded,
    part_platform,
    split_field_name,
    split_platform,
)
from gateway.errors import Conflict, InvalidStatus, NotFound
from gateway.problems import responses
from gateway.runtime import Runtime
from gateway.services import Services
from gateway.tables.schema import PlatformFile

router = APIRouter(tags=["mappings"])
Code = Annotated[str, Path(min_length=1, max_length=128)]


def _out(platform: str, code: str, m: AnyMapping) -> dict[str, Any]:
    if not isinstance(m, TenantMapping):
        return _part_out(platform, code, m)
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


def _part_out(
    platform: str, code: str, m: TenantPaymentMapping | TenantFulfillmentMapping
) -> dict[str, Any]:
    out: dict[str, Any] = {"platform": platform, "code": code, "payment": None}
    if isinstance(m, TenantPaymentMapping):
        out.update(payment=m.payment, fulfillment=None, refines=None, completes_when_paid=False)
    else:
        out.update(
            fulfillment=m.fulfillment, refines=m.refines, completes_when_paid=m.completes_when_paid
        )
    return {**out, "labels": m.labels, "descriptions": m.descriptions, "updated_at": m.updated_at}


def _resolve(runtime: Runtime, platform: str) -> tuple[PlatformFile, Part | None]:
    """The table and part a mapping's platform names: `cscart`, or `cloudcart.payment`."""
    name, part = split_platform(platform)
    table = runtime.tables.platform(name, where="platform")
    if part is not None and not _builtin(table, part):
        raise NotFound(f"{table.platform} statuses have no {part} part", where="platform")
    return table, part


def _builtin(table: PlatformFile, part: Part | None) -> Mapping[str, object]:
    if part == "payment":
        return table.payment_statuses
    if part == "fulfillment":
        return table.fulfillment_statuses
    return table.statuses


def _new_code(table: PlatformFile, part: Part | None, code: str) -> str:
    """`code` normalized; a 422 when empty, a 409 when the tables already know it."""
    normal = table.normalize(code)
    if not normal:
        raise InvalidStatus("the code is empty", where="code")
    if normal in _builtin(table, part):
        what = f"{part} code" if part else "status"
        raise Conflict(
            f"{normal!r} is a built-in {table.platform} {what}; only codes the tables do not "
            "know can be mapped by a tenant",
            where="code",
        )
    return normal


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def _store(
    services: Services,
    tenant: str,
    table: PlatformFile,
    part: Part | None,
    code: str,
    m: AnyMapping,
) -> Response:
    key = services.orders.keys(tenant).mappings
    await services.redis.hset(key, field_name(table.platform, code, part), m.model_dump_json())
    out = _out(part_platform(table.platform, part), code, m)
    return Response(orjson.dumps(out), media_type=JSON)


def _texts(body: TenantMappingIn | PaymentMappingIn | FulfillmentMappingIn) -> dict[str, Any]:
    """A mapping's texts as stored: English label and description first, all four languages."""
    return {
        "label": body.labels["en"],
        "description": body.descriptions.get("en") or body.labels["en"],
        "labels": body.labels,
        "descriptions": body.descriptions,
        "updated_at": _stamp(),
    }


@router.put(
    "/v1/mappings/cloudcart.payment/{code:path}",
    response_model=PartMappingOut,
    responses=responses(400, 401, 404, 409, 415, 422, 503),
)
async def put_payment_mapping(
    body: PaymentMappingIn,
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    code: Code,
) -> Response:
    """Map one of the tenant's own CloudCart payment codes to a payment state, with labels in
    ru, en, fr and el. `/v1/unmapped` lists such codes under `cloudcart.payment`."""
    table = runtime.tables.platform("cloudcart", where="platform")
    normal = _new_code(table, "payment", code)
    mapping = TenantPaymentMapping(payment=body.payment, **_texts(body))
    return await _store(services, tenant, table, "payment", normal, mapping)


@router.put(
    "/v1/mappings/cloudcart.fulfillment/{code:path}",
    response_model=PartMappingOut,
    responses=responses(400, 401, 404, 409, 415, 422, 503),
)
async def put_fulfillment_mapping(
    body: FulfillmentMappingIn,
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    code: Code,
) -> Response:
    """Map one of the tenant's own CloudCart fulfilment codes to a goods state (and the headline
    it refines an order to, if any), with labels in ru, en, fr and el."""
    table = runtime.tables.platform("cloudcart", where="platform")
    normal = _new_code(table, "fulfillment", code)
    mapping = TenantFulfillmentMapping(
        fulfillment=body.fulfillment,
        refines=body.refines,
        completes_when_paid=body.completes_when_paid,
        **_texts(body),
    )
    return await _store(services, tenant, table, "fulfillment", normal, mapping)


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
    and tracking use it from now on; events recorded before keep what they were. CloudCart's
    payment and fulfilment codes have routes of their own (`cloudcart.payment`, ...)."""
    table, part = _resolve(runtime, platform)
    if part is not None:
        raise InvalidStatus(
            f"a {part} code is mapped with PUT /v1/mappings/{table.platform}.{part}/{{code}} "
            f"and a body of {part!r} and labels",
            where="platform",
        )
    normal = _new_code(table, None, code)
    try:
        detail = checked_detail(runtime.tables, body.canonical, body.detail)
        mapping = TenantMapping(
            canonical=body.canonical,
            detail=detail,
            payment=body.payment,
            fulfillment=body.fulfillment,
            paid=body.paid,
            provisional=body.provisional,
            action=body.action_required,
            **_texts(body),
        )
    except (ValueError, KeyError, ValidationError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise InvalidStatus(message.removeprefix("Value error, "), where="#") from exc
    return await _store(services, tenant, table, None, normal, mapping)


async def _load(services: ServicesDep, tenant: str, name: str) -> AnyMapping | None:
    raw = await services.redis.hget(services.orders.keys(tenant).mappings, name)
    return loaded(name, raw) if raw else None


async def _get(
    services: Services, tenant: str, runtime: Runtime, platform: str, code: str
) -> Response:
    table, part = _resolve(runtime, platform)
    normal = table.normalize(code)
    name = part_platform(table.platform, part)
    mapping = await _load(services, tenant, field_name(table.platform, normal, part))
    if mapping is None:
        raise NotFound(f"no tenant mapping for {name} {normal!r}", where="code")
    return Response(orjson.dumps(_out(name, normal, mapping)), media_type=JSON)


async def _delete(
    services: Services, tenant: str, runtime: Runtime, platform: str, code: str
) -> Response:
    table, part = _resolve(runtime, platform)
    normal = table.normalize(code)
    removed = await services.redis.hdel(
        services.orders.keys(tenant).mappings, field_name(table.platform, normal, part)
    )
    if not removed:
        name = part_platform(table.platform, part)
        raise NotFound(f"no tenant mapping for {name} {normal!r}", where="code")
    return Response(status_code=204)


def _part_routes(part: Part) -> None:
    """GET and DELETE of one CloudCart part's mappings at the path its PUT has."""
    platform = f"cloudcart.{part}"

    async def get_part(
        tenant: TenantDep, services: ServicesDep, runtime: RuntimeDep, code: Code
    ) -> Response:
        return await _get(services, tenant, runtime, platform, code)

    async def delete_part(
        tenant: TenantDep, services: ServicesDep, runtime: RuntimeDep, code: Code
    ) -> Response:
        return await _delete(services, tenant, runtime, platform, code)

    path = f"/v1/mappings/{platform}/{{code:path}}"
    router.add_api_route(
        path,
        get_part,
        methods=["GET"],
        name=f"get_{part}_mapping",
        summary=f"Get {part.capitalize()} Mapping",
        description=f"One of the tenant's own CloudCart {part} codes.",
        response_model=PartMappingOut,
        responses=responses(401, 404, 503),
    )
    router.add_api_route(
        path,
        delete_part,
        methods=["DELETE"],
        name=f"delete_{part}_mapping",
        summary=f"Delete {part.capitalize()} Mapping",
        description=f"Remove a mapping of a CloudCart {part} code; it reads as unknown again.",
        status_code=204,
        responses=responses(401, 404, 503),
    )


for _part in PARTS:
    _part_routes(_part)


@router.get(
    "/v1/mappings/{platform}/{code:path}",
    response_model=TenantMappingOut | PartMappingOut,
    responses=responses(401, 404, 503),
)
async def get_mapping(
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    platform: Annotated[str, Path(max_length=64)],
    code: Code,
) -> Response:
    """One tenant mapping (of a part: platform `cloudcart.payment` or `cloudcart.fulfillment`)."""
    return await _get(services, tenant, runtime, platform, code)


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
    return await _delete(services, tenant, runtime, platform, code)


@router.get("/v1/mappings", response_model=TenantMappingsOut, responses=responses(401, 503))
async def list_mappings(tenant: TenantDep, services: ServicesDep) -> Response:
    """Every mapping of the tenant: its order statuses, then its CloudCart part codes."""
    key = services.orders.keys(tenant).mappings
    rows = cast(dict[str, str], await services.redis.hgetall(key))
    statuses: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for name in sorted(rows):
        platform, code = split_field_name(name)
        mapping = loaded(name, rows[name])
        (statuses if isinstance(mapping, TenantMapping) else parts).append(
            _out(platform, code, mapping)
        )
    return Response(orjson.dumps({"mappings": statuses, "part_mappings": parts}), media_type=JSON)


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
