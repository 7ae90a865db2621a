"""Share tokens (tenant key) and the public order view they open (no key).

`POST /v1/orders/{platform}/{order_id}/share` gives a storefront a signed, expiring, read-only
token for one order, so a browser never holds an API key; `GET /v1/public/orders/{token}` answers
that order's localized state and timeline. A revoked, expired or forged token is a 404.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Path, Request, Response

from gateway.api.auth import ServicesDep, TenantDep
from gateway.api.deps import JSON, LangDep, RuntimeDep, cached
from gateway.api.share_schemas import (
    PublicOrderOut,
    ShareCreatedOut,
    ShareIn,
    SharesOut,
)
from gateway.clock import iso
from gateway.errors import NotFound
from gateway.problems import responses
from gateway.runtime import render
from gateway.shares import read
from gateway.storage.shares import Share

router = APIRouter(prefix="/v1", tags=["orders"])
public = APIRouter(prefix="/v1/public", tags=["public"])

PlatformPath = Annotated[str, Path(max_length=64)]
OrderPath = Annotated[str, Path(min_length=1, max_length=200)]
PUBLIC_HEADERS = {"X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
GONE = "no order is shared under this token (it may have expired or been revoked)"


def _share(share: Share) -> dict[str, str]:
    return {
        "id": share.id,
        "platform": share.platform,
        "order_id": share.order_id,
        "created_at": share.created_at,
        "expires_at": share.expires_at,
    }


@router.post(
    "/orders/{platform}/{order_id:path}/share",
    response_model=ShareCreatedOut,
    status_code=201,
    responses=responses(400, 401, 404, 413, 415, 422, 503),
)
async def share_order(
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    platform: PlatformPath,
    order_id: OrderPath,
    body: Annotated[ShareIn | None, Body()] = None,
) -> Response:
    """A read-only, expiring token for this order, for a storefront's `<order-status>` widget."""
    table = runtime.tables.platform(platform, where="platform")
    [state] = await services.orders.states(tenant, [(table.platform, order_id)])
    if state is None:
        raise NotFound(f"no {table.platform} order {order_id!r}", where="order_id")
    days = (body or ShareIn()).days
    share, token = await services.shares.create(tenant, table.platform, order_id, days * 86_400)
    answer = {**_share(share), "token": token, "url": f"/v1/public/orders/{token}"}
    return Response(orjson.dumps(answer), status_code=201, media_type=JSON)


@router.get(
    "/orders/{platform}/{order_id:path}/share",
    response_model=SharesOut,
    responses=responses(401, 404, 422, 503),
)
async def list_shares(
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    platform: PlatformPath,
    order_id: OrderPath,
) -> Response:
    """The order's live shares (their tokens are not shown again)."""
    table = runtime.tables.platform(platform, where="platform")
    found = await services.shares.of_order(tenant, table.platform, order_id)
    return Response(orjson.dumps({"shares": [_share(s) for s in found]}), media_type=JSON)


@router.delete("/shares/{share_id}", status_code=204, responses=responses(401, 404, 422, 503))
async def revoke_share(
    tenant: TenantDep, services: ServicesDep, share_id: Annotated[str, Path(max_length=64)]
) -> Response:
    """Ends a share at once: its token answers 404 from now on."""
    if not await services.shares.revoke(tenant, share_id):
        raise NotFound(f"no share {share_id!r}", where="share_id")
    return Response(status_code=204)


@public.get(
    "/orders/{token}", response_model=PublicOrderOut, responses=responses(304, 404, 422, 503)
)
async def public_order(
    request: Request,
    services: ServicesDep,
    runtime: RuntimeDep,
    lang: LangDep,
    token: Annotated[str, Path(max_length=600)],
) -> Response:
    """One shared order's localized state and timeline; no key, CORS on (for the widget)."""
    parsed = read(token)
    claims = await services.shares.check(token, parsed[0].tenant) if parsed else None
    if claims is None:
        raise NotFound(GONE, where="token")
    [state] = await services.orders.states(claims.tenant, [(claims.platform, claims.order_id)])
    if state is None:
        raise NotFound(GONE, where="token")
    timeline = await services.orders.timeline(claims.tenant, claims.platform, claims.order_id)
    document = runtime.renderer.public_order(state, timeline, lang)
    rendered = render({**document, "expires_at": iso(claims.expires)})
    # max_age 0: revalidated on every read, so a polling widget costs a 304 until it changes
    return cached(request, rendered, lang, 0, PUBLIC_HEADERS)
