"""/v1/webhooks: endpoints, secrets, test sends, the delivery log and replay (tenant key).

Delivery itself is the worker's (`webhooks.worker`); these routes manage what it reads and send
the one synchronous request the API makes itself, `POST /v1/webhooks/{id}/test`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BeforeValidator, StringConstraints

from gateway.api.auth import ServicesDep, TenantDep
from gateway.api.deps import JSON, RuntimeDep
from gateway.api.webhook_schemas import (
    DeliveriesOut,
    ReplayIn,
    ReplayOut,
    RotateIn,
    SecretOut,
    TestOut,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
    WebhooksOut,
)
from gateway.clock import iso, now_iso
from gateway.errors import Conflict, InvalidCursor, InvalidInput, InvalidWebhookUrl, NotFound
from gateway.i18n import choose_language
from gateway.idempotency import IdempotencyKey
from gateway.problems import responses
from gateway.runtime import Runtime
from gateway.services import Services
from webhooks import log as delivery_log
from webhooks.endpoints import Endpoint, Filter, checked_filter, enabled, rotated
from webhooks.guard import UnsafeUrl, check_url, resolve_public
from webhooks.payloads import current_of, message_id, order_of
from webhooks.queue import OPS_LANE, order_lane
from webhooks.replay import (
    Selection,
    entries as replay_entries,
    order_platform,
    window as replay_window,
)

router = APIRouter(tags=["webhooks"])
EndpointId = Annotated[str, Path(min_length=1, max_length=64, description="`ep_…`")]
CURSOR = r"^\d{1,20}-\d{1,20}$"


async def _checked_url(services: Services, url: str) -> str:
    settings = services.settings
    try:
        parsed = check_url(url, allow_insecure=settings.allow_insecure_webhooks)
        await resolve_public(
            parsed.host or "",
            parsed.port or (443 if parsed.scheme == "https" else 80),
            allow_private=settings.allow_private_webhooks,
        )
    except UnsafeUrl as exc:
        raise InvalidWebhookUrl(exc.reason, where="#/url") from exc
    return str(parsed)


def _lang(value: str) -> str:
    return choose_language(value, None, "#/lang")


def _filter(runtime: Runtime, value: Filter) -> Filter:
    return checked_filter(value, runtime.tables)


async def _endpoint(services: Services, tenant: str, endpoint_id: str) -> Endpoint:
    endpoint = await services.endpoints.get(tenant, endpoint_id)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {endpoint_id!r}", where="id")
    return endpoint


async def _update(
    services: Services, tenant: str, endpoint_id: str, change: Callable[[Endpoint], Endpoint]
) -> Endpoint:
    """`change` applied to the endpoint as it is now (never over a concurrent change)."""
    done = await services.endpoints.update(tenant, endpoint_id, change)
    if done is None:
        raise NotFound(f"no webhook endpoint {endpoint_id!r}", where="id")
    return done[1]


def _retained(services: Services) -> str:
    """The oldest delivery-log id still within the retention: older entries are not shown,
    whether or not Redis's rough trim has removed them yet."""
    return services.deliveries.keep_from(int(time.time() * 1000))


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type=JSON)


@router.post(
    "/v1/webhooks",
    status_code=201,
    response_model=WebhookCreatedOut,
    responses=responses(400, 401, 409, 413, 415, 422, 503),
)
async def create_webhook(
    body: WebhookIn,
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Register an endpoint. The answer carries its `secret` (`whsec_…`), shown only here, and
    its `public_key` (`whpk_…`, also in `public_keys` later)."""

    async def answer() -> Response:
        url = await _checked_url(services, body.url)
        endpoint = await services.endpoints.create(
            tenant,
            url=url,
            lang=_lang(body.lang),
            filter=_filter(runtime, body.filter),
            description=body.description,
            rate_limit=body.rate_limit,
            signature_schemes=body.signature_schemes,
            headers=body.headers,
        )
        doc = endpoint.public()
        return _json(
            {**doc, "secret": endpoint.secrets[0].secret, "public_key": _current_key(doc)}, 201
        )

    return await services.idempotency.run(tenant, idempotency_key, request, answer)


def _current_key(doc: Any) -> str:
    return str(doc["public_keys"][0]["key"])


@router.get("/v1/webhooks", response_model=WebhooksOut, responses=responses(401, 503))
async def list_webhooks(tenant: TenantDep, services: ServicesDep) -> Response:
    """Every endpoint of the tenant (no secrets), with what waits for it and its latest attempt;
    disabled ones first, then by creation."""
    found = await services.endpoints.all(tenant)
    found.sort(key=lambda e: e.enabled)
    return _json({"webhooks": await _with_state(services, tenant, found)})


@router.get(
    "/v1/webhooks/{endpoint_id}", response_model=WebhookOut, responses=responses(401, 404, 503)
)
async def get_webhook(
    endpoint_id: EndpointId, tenant: TenantDep, services: ServicesDep
) -> Response:
    """One endpoint, with how many deliveries wait for it and its latest attempt."""
    endpoint = await _endpoint(services, tenant, endpoint_id)
    return _json((await _with_state(services, tenant, [endpoint]))[0])


async def _with_state(services: Services, tenant: str, found: list[Endpoint]) -> list[Any]:
    """The endpoints' public documents with what waits for each and its latest attempt."""
    ids = [e.id for e in found]
    pending = await services.deliveries.pending_many(tenant, ids)
    keys = services.orders.keys(tenant)
    oldest = _retained(services)
    last = await delivery_log.latest(services.redis, [keys.webhook_log(i) for i in ids], oldest)
    held = await services.deliveries.held_until(tenant, ids, int(time.time() * 1000))
    failing = await services.deliveries.failing_since(tenant, ids)
    disable_ms = int(services.settings.webhook_disable_after_s * 1000)
    return [
        {
            **e.public(),
            "pending": pending[e.id],
            "held_until": iso(until / 1000) if until is not None else None,
            "failing_since": iso(since / 1000) if since is not None else None,
            "disable_at": (
                iso((since + disable_ms) / 1000) if since is not None and e.enabled else None
            ),
            "last_attempt": attempt,
        }
        for e, attempt, until, since in zip(found, last, held, failing, strict=True)
    ]


@router.patch(
    "/v1/webhooks/{endpoint_id}",
    response_model=WebhookOut,
    responses=responses(400, 401, 404, 409, 413, 415, 422, 503),
)
async def patch_webhook(
    endpoint_id: EndpointId,
    body: WebhookPatch,
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
) -> Response:
    """Change the URL, language, filter, description, rate limit, signature schemes or own
    headers; the secret and key stay (choosing `v1a` on an endpoint made before it existed
    makes its key)."""
    endpoint = await _endpoint(services, tenant, endpoint_id)
    update: dict[str, Any] = {"updated_at": now_iso()}
    if body.url is not None:
        update["url"] = await _checked_url(services, body.url)
    if body.lang is not None:
        update["lang"] = _lang(body.lang)
    if body.filter is not None:
        update["filter"] = _filter(runtime, body.filter)
    if body.signature_schemes is not None:
        update["signature_schemes"] = body.signature_schemes
    for nullable in ("description", "rate_limit"):
        if nullable in body.model_fields_set:
            update[nullable] = getattr(body, nullable)
    if "headers" in body.model_fields_set:
        update["headers"] = body.headers or {}
    changed = await _update(
        services, tenant, endpoint.id, lambda e: e.model_copy(update=update).with_signing_key()
    )
    return _json(changed.public())


@router.delete("/v1/webhooks/{endpoint_id}", status_code=204, responses=responses(401, 404, 503))
async def delete_webhook(
    endpoint_id: EndpointId, tenant: TenantDep, services: ServicesDep
) -> Response:
    """Remove the endpoint; deliveries waiting for it are dropped, its log is deleted."""
    if not await services.endpoints.delete(tenant, endpoint_id):
        raise NotFound(f"no webhook endpoint {endpoint_id!r}", where="id")
    await services.deliveries.drop_endpoint(tenant, endpoint_id)
    await services.endpoints.forget(tenant, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/v1/webhooks/{endpoint_id}/rotate-secret",
    response_model=SecretOut,
    responses=responses(400, 401, 404, 409, 413, 415, 422, 503),
)
async def rotate_secret(
    endpoint_id: EndpointId,
    tenant: TenantDep,
    services: ServicesDep,
    request: Request,
    body: RotateIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A new secret, shown once, and a new signing key (its public key answered). The previous
    ones keep signing beside them for `overlap_s` (the body is optional; default
    `GATEWAY_WEBHOOK_ROTATION_OVERLAP_S`, 24 h): each delivery carries both signatures of each
    scheme it uses meanwhile. `overlap_s: 0` switches at once (a leaked secret)."""

    async def answer() -> Response:
        at = datetime.now(UTC)
        overlap_s = services.settings.webhook_rotation_overlap_s
        if body is not None and body.overlap_s is not None:
            overlap_s = body.overlap_s
        changed = await _update(services, tenant, endpoint_id, lambda e: rotated(e, overlap_s, at))
        secret = changed.secrets[0].secret  # rotation puts the new one first
        previous = [s.expires_at for s in changed.secrets if s.expires_at]
        return _json(
            {
                "secret": secret,
                "public_key": _current_key(changed.public()),
                "previous_valid_until": max(previous) if previous else None,
            }
        )

    return await services.idempotency.run(tenant, idempotency_key, request, answer)


@router.post(
    "/v1/webhooks/{endpoint_id}/enable",
    response_model=WebhookOut,
    responses=responses(401, 404, 409, 422, 503),
)
async def enable_webhook(
    endpoint_id: EndpointId,
    tenant: TenantDep,
    services: ServicesDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Turn a disabled endpoint back on; events from now on reach it (replay sends the ones it
    missed)."""

    async def answer() -> Response:
        changed = await _update(services, tenant, endpoint_id, enabled)
        async with services.redis.pipeline(transaction=False) as pipe:
            services.endpoints.fresh_start(pipe, tenant, changed.id)
            await pipe.execute()
        return _json(changed.public())

    return await services.idempotency.run(tenant, idempotency_key, request, answer)


@router.post(
    "/v1/webhooks/{endpoint_id}/test",
    response_model=TestOut,
    responses=responses(401, 404, 409, 422, 503),
)
async def test_webhook(
    endpoint_id: EndpointId,
    tenant: TenantDep,
    services: ServicesDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,  # noqa: PT028 (a route, not a test)
) -> Response:
    """Send a signed `webhook.test` event now and answer what the receiver said (also logged)."""

    async def answer() -> Response:
        endpoint = await _endpoint(services, tenant, endpoint_id)
        now = datetime.now(UTC)
        msg = message_id(f"test_{int(time.time() * 1000)}")
        body = orjson.dumps(
            {
                "type": "webhook.test",
                "timestamp": now_iso(),
                "data": {
                    "endpoint_id": endpoint.id,
                    "message": "A test delivery from the gateway.",
                },
            }
        )
        headers = endpoint.delivery_headers(msg, body, now)
        attempt = await services.sender.send(endpoint.url, headers, body)
        delivered = attempt.status is not None and 200 <= attempt.status < 300
        entry = {
            "endpoint_id": endpoint.id,
            "msg_id": msg,
            "type": "webhook.test",
            "platform": None,
            "order_id": None,
            "sequence": None,
            "attempt": 1,
            "at": now_iso(),
            "result": "delivered" if delivered else "failed",
            "status_code": attempt.status,
            "duration_ms": attempt.duration_ms,
            "response": attempt.response,
            "error": attempt.error,
            "next_attempt_at": None,
        }
        await services.deliveries.log_only(tenant, endpoint.id, entry)
        return _json(
            {
                "msg_id": msg,
                "delivered": delivered,
                "status_code": attempt.status,
                "duration_ms": attempt.duration_ms,
                "response": attempt.response,
                "error": attempt.error,
            }
        )

    return await services.idempotency.run(tenant, idempotency_key, request, answer)


Result = Literal["delivered", "retrying", "failed", "gone"]


def _absent_if_empty(value: object) -> object:
    return None if value == "" else value


# `?status=&order_id=` (a form left blank) filters by nothing, as if the parameter were absent.
Blank = BeforeValidator(_absent_if_empty)
Text64 = Annotated[str, StringConstraints(max_length=64)]
Text200 = Annotated[str, StringConstraints(max_length=200)]


@router.get(
    "/v1/webhooks/{endpoint_id}/deliveries",
    response_model=DeliveriesOut,
    responses=responses(401, 404, 422, 503),
)
async def list_deliveries(
    endpoint_id: EndpointId,
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    status: Annotated[
        Result | None, Blank, Query(description="Only attempts with this result.")
    ] = None,
    order_id: Annotated[
        Text200 | None, Blank, Query(description="Only attempts of this order.")
    ] = None,
    platform: Annotated[
        Text64 | None, Blank, Query(description="Only attempts of this platform's orders.")
    ] = None,
    cursor: Annotated[Text64 | None, Blank, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Every delivery attempt to the endpoint, newest first (kept `GATEWAY_HISTORY_DAYS`)."""
    endpoint = await _endpoint(services, tenant, endpoint_id)
    name = runtime.tables.platform(platform, where="platform").platform if platform else None
    key = services.orders.keys(tenant).webhook_log(endpoint.id)
    found, next_cursor = await delivery_log.page(
        services.redis,
        key,
        cursor=_cursor(cursor),
        limit=limit,
        result=status,
        platform=name,
        order_id=order_id,
        oldest=_retained(services),
    )
    return _json({"deliveries": found, "next_cursor": next_cursor})


@router.get(
    "/v1/orders/{platform}/{order_id:path}/deliveries",
    response_model=DeliveriesOut,
    responses=responses(401, 404, 422, 503),
)
async def order_deliveries(
    platform: Annotated[str, Path(max_length=64)],
    order_id: Annotated[str, Path(min_length=1, max_length=200)],
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    cursor: Annotated[Text64 | None, Blank, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Every delivery attempt of the order's changes, to any of the tenant's endpoints (a
    deleted endpoint's attempts go with its log)."""
    name = runtime.tables.platform(platform, where="platform").platform
    found, next_cursor = await delivery_log.order_page(
        services.redis,
        services.orders.keys(tenant),
        (name, order_id),
        cursor=_cursor(cursor),
        limit=limit,
        oldest=_retained(services),
    )
    return _json({"deliveries": found, "next_cursor": next_cursor})


def _cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    ms, _, seq = cursor.partition("-")
    if not re.fullmatch(CURSOR, cursor) or max(int(ms), int(seq)) >= 2**64:
        raise InvalidCursor("pass back the `next_cursor` of a previous page", where="cursor")
    return cursor


@router.post(
    "/v1/webhooks/{endpoint_id}/replay",
    response_model=ReplayOut,
    responses=responses(400, 401, 404, 409, 413, 415, 422, 503),
)
async def replay(
    endpoint_id: EndpointId,
    body: ReplayIn,
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Queue again, for this endpoint, the events its filter selects: one order's changes
    (`order_id`, with its `platform` when the id exists on more than one), every event between
    `since` and `until` (of one `platform` if given), or an order's changes in that range. New
    attempts, the same `webhook-id`s; per-order order holds as for new events. A disabled
    endpoint is enabled first (409 until then)."""

    async def answer() -> Response:
        endpoint = await _endpoint(services, tenant, endpoint_id)
        if not endpoint.enabled:
            raise Conflict(
                f"the endpoint is disabled; enable it (POST /v1/webhooks/{endpoint.id}/enable) "
                "before replaying to it",
                where="id",
            )
        keys = services.orders.keys(tenant)
        span = replay_window(body.since, body.until, datetime.now(UTC))
        if body.order_id is not None:
            platform = await order_platform(
                services.redis, keys, runtime.tables, body.order_id, body.platform
            )
            selection = Selection((platform, body.order_id), None, span)
        elif body.since is not None:
            name = (
                body.platform
                and runtime.tables.platform(body.platform, where="#/platform").platform
            )
            selection = Selection(None, name or None, span)
        else:
            raise InvalidInput(
                "send `order_id` (with its `platform` if needed), or `since` (and `until`)",
                where="#",
            )
        entries = await replay_entries(services.redis, keys, selection)
        deliveries = []
        for feed_id, fields in entries:
            order = order_of(fields)
            if endpoint.filter.matches(
                fields.get("type", ""), order[0] if order else None, current_of(fields)
            ):
                deliveries.append((endpoint.id, order_lane(*order) if order else OPS_LANE, feed_id))
        now_ms = int(time.time() * 1000)
        for start in range(0, len(deliveries), 500):
            await services.deliveries.enqueue(tenant, deliveries[start : start + 500], now_ms)
        return _json({"queued": len(deliveries)})

    return await services.idempotency.run(tenant, idempotency_key, request, answer)
