"""Polling connectors: the ones that are due, one worker at a time under a Redis lease, with
back-off after failures and a pause after repeated authorisation failures.

A poll reads the connector again once it holds the lease, so it never polls an account the
connector was stored away from meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

import orjson

from gateway.clock import now_iso
from gateway.connectors.base import Json, Pulled
from gateway.connectors.configuration import Configuring
from gateway.connectors.measoft import AUTH_ERRORS
from gateway.connectors.memory import RedisMemory
from gateway.connectors.registry import CONNECTORS, PLATFORMS, check_platform
from gateway.connectors.runtime import LEASE_MS
from gateway.custom import field_name
from gateway.errors import Conflict, GatewayError, InvalidPayload, NotFound
from webhooks.operations import record_event

PAUSE_AFTER_AUTH_FAILURES = 3
MAX_BACKOFF_S = 3600.0
RUNNING_WAIT_S = 30.0  # how long `POST …/run` waits for a poll another process is running
AWAIT_POLL_S = 0.05  # how often it looks whether that poll has ended


class Polling(Configuring):
    async def run(self, tenant: str, platform: str) -> Json:
        """Poll now (under the lease, like the worker) and answer the connector's state after
        the poll. When another process is polling it already, its poll is the one asked for:
        wait for it to end and answer the state after it.

        Raises:
            NotFound: no connector of `platform` is configured.
            Conflict: that other poll is still running after RUNNING_WAIT_S.
        """
        check_platform(platform)
        if await self._stored(tenant, platform) is None:
            raise NotFound(f"no {platform} connector is configured", where="platform")
        if not await self._run_leased(tenant, platform):
            await self._await_poll(tenant, platform)
        return await self.show(tenant, platform)

    async def _await_poll(self, tenant: str, platform: str) -> None:
        lease = self.keys(tenant).connector_lease(platform)
        deadline = time.monotonic() + RUNNING_WAIT_S
        while await self._r.exists(lease):
            if time.monotonic() >= deadline:
                raise Conflict(
                    f"a poll of the {platform} connector has been running for over "
                    f"{RUNNING_WAIT_S:g} s; ask again once it ends (GET shows its health)",
                    where="platform",
                )
            await asyncio.sleep(AWAIT_POLL_S)

    async def run_due(self, tenants: Sequence[str]) -> int:
        """Poll every configured, unpaused connector whose interval has passed."""
        ran = 0
        if not tenants:
            return 0
        async with self._r.pipeline(transaction=False) as pipe:  # one round trip for all
            for tenant in tenants:
                pipe.hgetall(self.keys(tenant).connectors)
            configured = cast(list[dict[str, str]], await pipe.execute())
        for tenant, raw in zip(tenants, configured, strict=True):
            for platform, text in raw.items():
                doc = orjson.loads(text)
                if doc.get("paused") or platform not in PLATFORMS:
                    continue
                health = self.keys(tenant).connector_health(platform)
                last, later = cast(
                    list[str | None], await self._r.hmget(health, ["last_run_at", "next_poll_at"])
                )
                interval = doc["options"].get("interval_s") or self._settings.connector_interval_s
                if last and time.time() - datetime.fromisoformat(last).timestamp() < interval:
                    continue
                if later and time.time() < datetime.fromisoformat(later).timestamp():
                    continue  # backing off after failures (or as the platform's Retry-After says)
                ran += await self._run_leased(tenant, platform)
        return ran

    async def _run_leased(self, tenant: str, platform: str) -> int:
        lease = self.keys(tenant).connector_lease(platform)
        if not await self._r.set(lease, self._name, nx=True, px=LEASE_MS):
            return 0  # another worker polls it now
        try:
            # read again under the lease: it may have been stored for another account since
            doc = await self._stored(tenant, platform)
            if doc is None:
                return 0
            await self._poll(tenant, platform, doc)
        finally:
            if await self._r.get(lease) == self._name:
                await self._r.delete(lease)
        return 1

    async def _poll(self, tenant: str, platform: str, doc: Json) -> None:
        k = self.keys(tenant)
        health = k.connector_health(platform)
        connector = CONNECTORS[platform]
        started = now_iso()
        try:
            secret_values = self._box.open(doc["sealed"])
            options = connector.Options.model_validate(doc["options"])
            raw_cursor = cast(str | None, await self._r.hget(health, "cursor"))
            record = self._record(tenant, platform)
            pulled = await connector.pull(
                self._http(),
                options,
                secret_values,
                orjson.loads(raw_cursor) if raw_cursor else {},
                record,
                self._zone,
                RedisMemory(self._r, k, platform),
            )
        except GatewayError as exc:
            await self._failed(tenant, platform, doc, exc, started)
            return
        await self._succeeded(health, pulled, started)
        await self._set_aside(tenant, platform, pulled.rejected, record)
        if pulled.suggestions:
            await self._r.hset(
                k.suggestions,
                mapping={
                    field_name(platform, code): orjson.dumps(s).decode()
                    for code, s in pulled.suggestions.items()
                },
            )

    async def _succeeded(self, health: str, pulled: Pulled, started: str) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hincrby(health, "runs", 1)
            pipe.hincrby(health, "orders_seen", pulled.orders)
            pipe.hincrby(health, "events_seen", pulled.events)
            pipe.hset(
                health,
                mapping={
                    "last_run_at": started,
                    "last_success_at": now_iso(),
                    "failures_in_row": 0,
                },
            )
            if pulled.cursor:  # where the next poll starts; only moved on by a success
                pipe.hset(health, "cursor", orjson.dumps(pulled.cursor))
            if pulled.mode:
                pipe.hset(health, "mode", pulled.mode)
            pipe.hdel(health, "next_poll_at")
            await pipe.execute()
        platform = health.split(":connector:")[1].split(":")[0]
        self._metrics.connector_polls.labels(platform=platform, result="ok").inc()
        self._metrics.connector_events.labels(platform=platform).inc(pulled.events)

    async def _failed(
        self, tenant: str, platform: str, doc: Json, exc: GatewayError, started: str
    ) -> None:
        k = self.keys(tenant)
        health = k.connector_health(platform)
        error = {"class": exc.__class__.__name__, "message": exc.detail, "at": now_iso()}
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hincrby(health, "runs", 1)
            pipe.hset(health, mapping={"last_run_at": started, "last_error": orjson.dumps(error)})
            pipe.hincrby(health, "failures_in_row", 1)
            _, _, in_row = await pipe.execute()
        # Back off: the interval doubles per failure in a row (up to an hour), or longer when the
        # platform says so (CS-Cart 509/503, CloudCart 429 with Retry-After).
        interval = doc["options"].get("interval_s") or self._settings.connector_interval_s
        wait = min(interval * 2 ** (int(in_row) - 1), MAX_BACKOFF_S)
        retry_after = exc.extensions.get("retry_after_s")
        if isinstance(retry_after, int | float):
            wait = max(wait, float(retry_after))
        later = datetime.fromtimestamp(time.time() + wait, UTC).isoformat(timespec="seconds")
        await self._r.hset(health, "next_poll_at", later)
        self._metrics.connector_polls.labels(platform=platform, result="failed").inc()
        auth = isinstance(exc, InvalidPayload) and (
            exc.extensions.get("measoft_error") in AUTH_ERRORS
            or exc.extensions.get("http_status") in (401, 403)
        )
        if auth and int(in_row) >= PAUSE_AFTER_AUTH_FAILURES:
            doc = {**doc, "paused": f"{in_row} authorisation failures in a row: {exc.detail}"}
            await self._r.hset(k.connectors, platform, orjson.dumps(doc).decode())
            await record_event(
                self._r,
                k,
                "connector.paused",
                {"platform": platform, "reason": doc["paused"], "error": error},
                int(self._settings.history_days * 86_400_000),
            )
