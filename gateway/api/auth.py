"""Who is calling: the tenant of an API key (Bearer), or of an ingest token (URL or header)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from gateway.custom import Part, by_platform, field_name
from gateway.errors import Unauthorized
from gateway.runtime import Runtime
from gateway.services import Services
from gateway.translate import CloudCartStatus, Custom, StatusInput

_bearer = HTTPBearer(auto_error=False, description="A tenant API key: `gwk_<tenant>_…`.")
_token_query = APIKeyQuery(
    name="token",
    auto_error=False,
    description="An ingest token (`gwi_…`) for platforms that cannot send a header.",
)
_token_header = APIKeyHeader(
    name="X-Gateway-Token", auto_error=False, description="An ingest token (`gwi_…`)."
)


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _remember(request: Request, tenant: str) -> str:
    request.state.tenant = tenant
    return tenant


async def _key_tenant(request: Request, services: Services, key: str | None) -> str:
    if not key:
        raise Unauthorized("send the tenant's API key as `Authorization: Bearer <key>`")
    tenant = await services.verify(key, "gwk")
    if tenant is None:
        raise Unauthorized("the API key is unknown or revoked")
    return _remember(request, tenant)


async def tenant_of_key(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The tenant whose API key is in `Authorization: Bearer`; 401 otherwise."""
    return await _key_tenant(request, services, credentials.credentials if credentials else None)


async def bearer_tenant(request: Request) -> str:
    """`tenant_of_key` for a route that reads its own request (no dependency solving)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    services: Services = request.app.state.services
    return await _key_tenant(request, services, key.strip() if scheme.lower() == "bearer" else None)


TenantDep = Annotated[str, Depends(tenant_of_key)]


def _basic_password(request: Request) -> str | None:
    """The password of `Authorization: Basic` (MeaSoft can send Basic auth): an ingest token."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


async def tenant_of_ingest(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    query_token: Annotated[str | None, Depends(_token_query)],
    header_token: Annotated[str | None, Depends(_token_header)],
) -> str:
    """The tenant of an ingest call: API key or ingest token as Bearer, an ingest token in
    `X-Gateway-Token`, `?token=` or as the Basic auth password."""
    presented = [
        (value, kind)
        for value, kind in (
            (credentials.credentials if credentials else None, "gwk"),
            (credentials.credentials if credentials else None, "gwi"),
            (header_token, "gwi"),
            (query_token, "gwi"),
            (_basic_password(request), "gwi"),
        )
        if value
    ]
    if not presented:
        raise Unauthorized(
            "send an API key as `Authorization: Bearer`, or the tenant's ingest token as "
            "`X-Gateway-Token`, `?token=` or the Basic auth password"
        )
    for value, kind in presented:
        tenant = await services.verify(value, kind)
        if tenant is not None:
            return _remember(request, tenant)
    raise Unauthorized("the API key or ingest token is unknown or revoked")


IngestTenantDep = Annotated[str, Depends(tenant_of_ingest)]


async def _optional_key_tenant(request: Request) -> tuple[Services, str] | None:
    """The tenant of a Bearer key on a route that needs none; 401 for a key that is not one."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    services: Services = request.app.state.services
    tenant = await services.verify(value.strip(), "gwk") if scheme.lower() == "bearer" else None
    if tenant is None:
        raise Unauthorized("the API key is unknown or revoked (translation needs no key)")
    _remember(request, tenant)
    return services, tenant


async def tenant_mappings(
    request: Request, runtime: Runtime, platform: str, status: StatusInput, where: str
) -> Custom | None:
    """With a tenant's API key, that tenant's mappings of the codes of `status` (order status,
    and a CloudCart status's parts) the tables do not know; None without a key or when the
    tables know every code (the answer is then the same for everyone, and cached)."""
    caller = await _optional_key_tenant(request)
    if caller is None:
        return None
    services, tenant = caller
    table = runtime.tables.platform(platform, where=where)
    three = status if isinstance(status, CloudCartStatus) else CloudCartStatus(status)
    names = []
    if (code := table.normalize(three.order)) not in table.statuses:
        names.append(field_name(table.platform, code))
    for part, raw, known in (
        ("payment", three.payment, table.payment_statuses.keys()),
        ("fulfillment", three.fulfillment, table.fulfillment_statuses.keys()),
    ):
        if raw is not None and (code := table.normalize(raw)) not in known:
            names.append(field_name(table.platform, code, cast(Part, part)))
    if not names:
        return None
    docs = cast(
        list[str | None], await services.redis.hmget(services.orders.keys(tenant).mappings, names)
    )
    found = by_platform({n: d for n, d in zip(names, docs, strict=True) if d})
    return found.get(table.platform, Custom())


async def all_tenant_mappings(request: Request) -> dict[str, Custom] | None:
    """With a tenant's API key, all of that tenant's mappings by platform (for a batch)."""
    caller = await _optional_key_tenant(request)
    if caller is None:
        return None
    services, tenant = caller
    raw = cast(dict[str, str], await services.redis.hgetall(services.orders.keys(tenant).mappings))
    return by_platform(raw)
