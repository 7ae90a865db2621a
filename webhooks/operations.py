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
    # Applied to the endpoint as it is now, not to `endpoint` (a PATCH may be newer), and
    # never over a concurrent change.
    done = await store.update(
        tenant, endpoint.id, lambda e: disabled(e, reason) if e.enabled else e
    )
    if done is None:
        return endpoint  # deleted meanwhile
    before, off = done
    if not before.enabled:
        return off  # someone else disabled it first: they dropped its lanes and told the tenant
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
