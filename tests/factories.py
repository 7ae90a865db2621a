"""Data builders for tests: tenants made through the same store the CLI uses."""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.keys import TenantKeys
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


# ---- HTTP tests of the tracking API (tests/api/test_events.py and its neighbours) ----

PROBLEM_JSON = "application/problem+json"
PAYLOADS = Path(__file__).resolve().parent / "ingest" / "payloads"
BASE_TIME = datetime(2024, 5, 14, 10, 0, tzinfo=timezone(timedelta(hours=3)))


def at(seconds: int) -> str:
    """An event time `seconds` after 2024-05-14 10:00 Moscow time, as ISO 8601 with its offset."""
    return (BASE_TIME + timedelta(seconds=seconds)).isoformat()


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """An RFC 9457 answer with `status`: its content type, members and language; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["content-language"] == "en"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"]
    return body


def pointers(problem: dict[str, Any]) -> list[str]:
    """Every JSON pointer a problem names (its own and those of its `errors`)."""
    found = [problem["pointer"]] if problem.get("pointer") else []
    return found + [e["pointer"] for e in problem.get("errors") or [] if e.get("pointer")]


def revoke(settings: Settings, tenant: Tenant, credential: str) -> None:
    """Revoke one of the tenant's credentials through the store the CLI uses."""

    async def run() -> None:
        client = client_for(settings.redis_url or "")
        try:
            await TenantStore(client, settings.redis_prefix).revoke(tenant.tenant, credential)
        finally:
            await client.aclose()

    asyncio.run(run())


def changes(settings: Settings, tenant: Tenant) -> list[dict[str, str]]:
    """The fields of every entry of the tenant's change stream (the webhook feed), oldest first."""

    async def run() -> list[dict[str, str]]:
        client = client_for(settings.redis_url or "")
        try:
            key = TenantKeys(settings.redis_prefix, tenant.tenant).changes
            entries = cast(list[tuple[str, dict[str, str]]], await client.xrange(key))
            return [fields for _, fields in entries]
        finally:
            await client.aclose()

    return asyncio.run(run())


def another_key(settings: Settings, tenant: Tenant) -> Tenant:
    """The same tenant with a second API key of its own (the first one stays valid)."""

    async def issue() -> str:
        client = client_for(settings.redis_url or "")
        try:
            return str(await TenantStore(client, settings.redis_prefix).issue("gwk", tenant.tenant))
        finally:
            await client.aclose()

    return Tenant(tenant.tenant, asyncio.run(issue()), tenant.ingest_token)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released): free to start a server on,
    or to connect to and be refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
