"""What configuring, polling and backfilling a tenant's connectors share: Redis and the
settings, the box that seals credentials, one HTTP session, the name this process takes a
connector's lease under (`LEASE_MS`), and the backfills it runs for the API."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from typing import cast
from zoneinfo import ZoneInfo

import aiohttp
import orjson
from redis.asyncio import Redis

from gateway.clock import iso, now_iso
from gateway.connectors import rejects
from gateway.connectors.base import Json
from gateway.ingest import NativeEvent
from gateway.observability import Metrics
from gateway.recording import Recorder
from gateway.sealing import box_for
from gateway.settings import Settings
from gateway.storage.keys import TenantKeys
from webhooks.guard import connector as guarded_connector
from webhooks.operations import record_event

LEASE_MS = 120_000
log = logging.getLogger("gateway.connectors")


class ConnectorRuntime:
    def __init__(
        self,
        client: Redis,
        settings: Settings,
        recorder: Recorder,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics or Metrics()
        self._r = client
        self._settings = settings
        self._recorder = recorder
        self._box = box_for(settings, "connector credentials")
        self._zone = ZoneInfo(settings.measoft_local_zone)
        self._session: aiohttp.ClientSession | None = None
        self._name = f"{settings.worker_id or 'gw'}-{secrets.token_hex(4)}"
        self._backfills: set[asyncio.Task[Json]] = set()  # backfills run for the API

    def keys(self, tenant: str) -> TenantKeys:
        return TenantKeys(self._settings.redis_prefix, tenant)

    async def close(self) -> None:
        for task in list(self._backfills):  # stopped mid-page: it resumes from the last page
            task.cancel()
        if self._backfills:
            await asyncio.gather(*self._backfills, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=guarded_connector(
                    allow_private=self._settings.allow_private_webhooks, limit=32
                ),
                timeout=aiohttp.ClientTimeout(
                    total=self._settings.connector_timeout_s,
                    sock_connect=self._settings.webhook_connect_timeout_s,
                ),
                trust_env=False,
            )
        return self._session

    async def _stored(self, tenant: str, platform: str) -> Json | None:
        raw = cast(str | None, await self._r.hget(self.keys(tenant).connectors, platform))
        return cast(Json, orjson.loads(raw)) if raw else None

    def _record(self, tenant: str, platform: str) -> rejects.Tally:
        """What a poll or backfill page records with: the recorder, noting what it refused
        and which orders it took (for `_set_aside`)."""

        async def record(events: Sequence[NativeEvent]) -> list[object]:
            return list(await self._recorder.record(tenant, platform, events))

        return rejects.Tally(record)

    async def _set_aside(
        self, tenant: str, platform: str, found: Sequence[rejects.Rejected], tally: rejects.Tally
    ) -> None:
        """Keep the orders a poll could not take (`found`, and what the recording refused) in
        the connector's list, let the ones it took leave it, and tell the tenant of each one
        seen for the first time: a `connector.item_rejected` event and a log line."""
        k = self.keys(tenant)
        key = k.connector_rejected(platform)
        refused, taken = tally.drain()
        found = [*found, *refused]
        raw = cast(dict[str, str], await self._r.hgetall(key))
        stored: dict[str, Json] = {name: orjson.loads(doc) for name, doc in raw.items()}
        if not found and not stored:
            return
        history_s = self._settings.history_days * 86_400
        change = rejects.update(stored, found, taken, now_iso(), iso(time.time() - history_s))
        async with self._r.pipeline(transaction=True) as pipe:
            if change.drop:
                pipe.hdel(key, *change.drop)
            if change.write:
                pipe.hset(key, mapping={n: orjson.dumps(e) for n, e in change.write.items()})
            await pipe.execute()
        for entry in change.new:
            log.warning(
                "connector %s of tenant %s set aside order %s (%s): %s",
                platform,
                tenant,
                entry["order_id"],
                entry["where"],
                entry["detail"],
            )
            data = {"platform": platform, **{n: entry[n] for n in rejects.ANNOUNCED}}
            await record_event(self._r, k, "connector.item_rejected", data, int(history_s * 1000))
        self._metrics.connector_rejected.labels(platform=platform).inc(len(change.new))
