"""Data builders for tests: tenants made through the same store the CLI uses."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.tenants import TenantStore


@dataclass(frozen=True)
class Tenant:
    tenant: str
    api_key: str
    ingest_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def make_tenant(settings: Settings, name: str | None = None) -> Tenant:
    """Create a tenant with an API key and an ingest token (outside any app's event loop)."""
    assert settings.redis_url is not None

    async def create() -> Tenant:
        client = client_for(settings.redis_url or "")
        try:
            store = TenantStore(client, settings.redis_prefix)
            tenant, key = await store.create(name or f"shop-{uuid.uuid4().hex[:10]}")
            token = await store.issue("gwi", tenant)
            return Tenant(tenant, str(key), str(token))
        finally:
            await client.aclose()

    return asyncio.run(create())


def event(
    order_id: str,
    status: str | dict[str, str],
    occurred_at: str,
    platform: str = "cscart",
    **extra: str,
) -> dict[str, object]:
    """A POST /v1/events body."""
    return {
        "platform": platform,
        "order_id": order_id,
        "status": status,
        "occurred_at": occurred_at,
        **extra,
    }
