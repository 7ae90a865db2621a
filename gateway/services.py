"""What the stateful part of a running gateway holds: the Redis client and the stores on it.

Opened by the app's lifespan (and by CLI verbs), closed with it; routes reach it through
`gateway.api.auth` and `gateway.api.deps`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis

from gateway.connectors.service import Connectors
from gateway.idempotency import Idempotency
from gateway.observability import Metrics
from gateway.recording import Recorder
from gateway.runtime import Runtime
from gateway.sealing import box_for
from gateway.settings import Settings
from gateway.storage import open_redis
from gateway.storage.fbo import ShipmentStore
from gateway.storage.orders import OrderStore
from gateway.storage.shares import ShareStore
from gateway.storage.tenants import TenantStore
from webhooks.endpoints import EndpointStore
from webhooks.queue import DeliveryQueue
from webhooks.sender import Sender
from webhooks.worker import Worker


@dataclass
class Services:
    settings: Settings
    redis: Redis
    orders: OrderStore
    tenants: TenantStore
    recorder: Recorder
    metrics: Metrics
    endpoints: EndpointStore
    deliveries: DeliveryQueue
    sender: Sender
    shipments: ShipmentStore
    connectors: Connectors
    shares: ShareStore
    idempotency: Idempotency
    _verified: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)

    async def verify(self, value: str, kind: str) -> str | None:
        """The tenant of a presented credential; trusted for `auth_cache_seconds` once seen."""
        ttl = self.settings.auth_cache_seconds
        now = time.monotonic()
        hit = self._verified.get((kind, value))
        if hit is not None and hit[1] > now:
            return hit[0]
        tenant = await self.tenants.verify(value, "gwi" if kind == "gwi" else "gwk")
        if tenant is not None and ttl > 0:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[(kind, value)] = (tenant, now + ttl)
        return tenant


@asynccontextmanager
async def open_services(
    settings: Settings, runtime: Runtime, metrics: Metrics | None = None
) -> AsyncIterator[Services]:
    async with open_redis(settings) as client:
        orders = OrderStore(client, settings.redis_prefix, settings.history_days)
        metrics = metrics or Metrics()
        sender = Sender(
            allow_private=settings.allow_private_webhooks,
            connect_timeout_s=settings.webhook_connect_timeout_s,
            timeout_s=settings.webhook_timeout_s,
            limit=16,  # the API only sends test deliveries
        )
        recorder = Recorder.configured(runtime.tables, client, settings, metrics, orders)
        services = Services(
            settings=settings,
            redis=client,
            orders=orders,
            tenants=TenantStore(client, settings.redis_prefix),
            recorder=recorder,
            metrics=metrics,
            endpoints=EndpointStore.configured(client, settings),
            deliveries=DeliveryQueue(client, settings.redis_prefix, settings.history_days),
            sender=sender,
            shipments=ShipmentStore(client, settings.redis_prefix, settings.history_days),
            connectors=Connectors(client, settings, recorder, metrics),
            shares=ShareStore(client, settings.redis_prefix),
            idempotency=Idempotency(
                client, settings.redis_prefix, box_for(settings, "kept answers")
            ),
        )
        try:
            yield services
        finally:
            await sender.close()
            await services.connectors.close()


@asynccontextmanager
async def running_worker(
    services: Services, runtime: Runtime, enabled: bool
) -> AsyncIterator[Worker | None]:
    """A delivery worker in this process while the context lasts (`gateway serve`)."""
    if not enabled:
        yield None
        return
    worker = Worker(
        services.redis,
        services.settings,
        runtime.renderer,
        services.metrics,
        recorder=services.recorder,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="webhook-worker")
    try:
        yield worker
    finally:
        stop.set()
        await task
