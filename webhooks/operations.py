"""Operational events and endpoint state changes shared by the worker and the API."""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis.asyncio import Redis

from gateway.clock import now_iso
from gateway.storage.keys import TenantKeys
from webhooks.endpoints import Endpoint, EndpointStore, disabled
from webhooks.queue import DeliveryQueue


async def record_event(
    client: Redis, keys: TenantKeys, event_type: str, data: dict[str, Any], history_ms: int
) -> str:
    """Append an event that is not an order change to the tenant's feed (delivered like one)."""
    keep = f"{max(0, int(time.time() * 1000) - history_ms)}-0"
    fields = {"type": event_type, "timestamp": now_iso(), "data": orjson.dumps(data).decode()}
    feed_id = await client.xadd(keys.changes, fields, minid=keep, approximate=True)  # type: ignore[arg-type]
    return str(feed_id)


async def disable_endpoint(
    client: Redis,
    store: EndpointStore,
    queue: DeliveryQueue,
    tenant: str,
    endpoint: Endpoint,
    reason: str,
) -> Endpoint:
    """Disable `endpoint`, drop what waits for it, and tell the tenant's other endpoints that
    subscribe to `endpoint.disabled`."""
    current = await store.get(tenant, endpoint.id)  # not a stale copy: a PATCH may be newer
    if current is None or not current.enabled:
        return current or endpoint
    off = disabled(current, reason)
    await store.put(tenant, off)
    await queue.drop_endpoint(tenant, endpoint.id)
    await record_event(
        client,
        store.keys(tenant),
        "endpoint.disabled",
        {
            "endpoint_id": endpoint.id,
            "url": endpoint.url,
            "reason": reason,
            "disabled_at": off.disabled_at,
        },
        queue.history_ms,
    )
    return off
