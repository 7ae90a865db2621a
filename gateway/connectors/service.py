"""Connectors of tenants: configuration (credentials sealed), polling under a lease, health.

The API stores and shows a connector and can poll it at once; the delivery worker polls every
connector that is due, one worker per tenant and platform at a time (a Redis lease), so many
workers never ask a platform twice for the same changes. A poll reads the connector again once
it holds the lease, and storing a connector for another account (`SOURCE_FIELDS`) takes the
lease while it drops the old account's state, so no poll of the old account writes after it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import aiohttp
import orjson
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from gateway.clock import now_iso
from gateway.connectors import cloudcart, cscart, measoft
from gateway.connectors.base import Connector, Pulled
from gateway.connectors.measoft import AUTH_ERRORS
from gateway.connectors.memory import RedisMemory
from gateway.connectors.secrets import SecretBox
from gateway.custom import field_name
from gateway.errors import Conflict, GatewayError, InvalidPayload, NotFound
from gateway.ingest import NativeEvent
from gateway.observability import Metrics
from gateway.recording import Recorder
from gateway.settings import Settings
from gateway.storage.keys import TenantKeys
from webhooks.guard import connector as guarded_connector
from webhooks.operations import record_event

CONNECTORS: dict[str, Connector] = {
    "measoft": measoft,
    "cscart": cscart,
    "cloudcart": cloudcart,
}
PLATFORMS = tuple(CONNECTORS)
PAUSE_AFTER_AUTH_FAILURES = 3
MAX_BACKOFF_S = 3600.0
LEASE_MS = 120_000
Json = dict[str, Any]
Progress = Callable[[Json], Awaitable[None] | None]


def source(connector: Connector, options: Mapping[str, Any]) -> tuple[str, ...]:
    """Which account a connector's options read (`SOURCE_FIELDS`); an address with or without
    its trailing slash is the same."""
    return tuple(
        "" if options.get(name) is None else str(options[name]).rstrip("/")
        for name in connector.SOURCE_FIELDS
    )


def moved(connector: Connector, stored: Json | None, options: Mapping[str, Any]) -> bool:
    """Whether a connector stored again reads another account than before (options that no
    longer validate count as another)."""
    if stored is None:
        return False
    try:
        before = connector.Options.model_validate(stored["options"]).model_dump(mode="json")
    except ValueError:
        return True
    return source(connector, before) != source(connector, options)


def check_platform(platform: str) -> Connector:
    found = CONNECTORS.get(platform)
    if found is None:
        raise NotFound(
            f"no connector for {platform!r}; available: {', '.join(PLATFORMS)}",
            where="platform",
            valid=list(PLATFORMS),
        )
    return found


class Connectors:
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
        key = settings.secret_key.get_secret_value() if settings.secret_key else None
        self._box = SecretBox(key)
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

    # ---------------------------------------------------------------- configuration

    async def put(self, tenant: str, platform: str, body: BaseModel) -> Json:
        """Store a connector: its options in clear, its secret fields sealed. For another
        account (store, API address, login, stream) the connector starts over: the old one's
        cursor, memory, back-off, last error, suggestions and backfill are dropped, under the
        lease (409 while a poll or a backfill runs). New credentials or interval keep them."""
        connector = check_platform(platform)
        raw = body.model_dump(mode="json")
        secret_values = {
            name: getattr(body, name).get_secret_value() for name in connector.SECRET_FIELDS
        }
        sealed = self._box.seal(secret_values)
        options = connector.Options.model_validate(
            {k: v for k, v in raw.items() if k not in connector.SECRET_FIELDS}
        )
        k = self.keys(tenant)
        stored = await self._stored(tenant, platform)
        shown = options.model_dump(mode="json")
        lease = k.connector_lease(platform)
        holder = None
        if moved(connector, stored, shown):
            holder = f"{self._name}-put-{secrets.token_hex(4)}"
            if not await self._r.set(lease, holder, nx=True, px=LEASE_MS):
                raise Conflict(
                    f"the {platform} connector is busy (a backfill or a poll runs); store it "
                    "for another account when that has finished"
                )
        try:
            forget = await self._forgetting(tenant, platform) if holder else None
            stamp = now_iso()
            doc = {
                "platform": platform,
                "options": shown,
                "sealed": sealed,
                "created_at": stored["created_at"] if stored else stamp,
                "updated_at": stamp,
                "paused": None,
            }
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(k.connectors, platform, orjson.dumps(doc).decode())
                pipe.hset(k.connector_health(platform), "failures_in_row", 0)
                if forget is not None:
                    forget(pipe)
                await pipe.execute()
        finally:
            if holder and await self._r.get(lease) == holder:
                await self._r.delete(lease)
        return await self.show(tenant, platform)

    async def _forgetting(self, tenant: str, platform: str) -> Callable[[Pipeline], None]:
        """What belongs to the account a connector read until now, as steps to add to the
        transaction that stores it for another: where its next poll starts and how (the
        cursor, the mode), its memory of each order, its back-off and last error, the mappings
        it suggested and its backfill job."""
        k = self.keys(tenant)
        suggested = [
            name
            async for name, _ in self._r.hscan_iter(k.suggestions, match=field_name(platform, "*"))
        ]
        memory = RedisMemory(self._r, k, platform)

        def steps(pipe: Pipeline) -> None:
            pipe.hdel(k.connector_health(platform), "cursor", "mode", "next_poll_at", "last_error")
            pipe.delete(*memory.keys(), k.connector_backfill(platform))
            if suggested:
                pipe.hdel(k.suggestions, *suggested)

        return steps

    async def _stored(self, tenant: str, platform: str) -> Json | None:
        raw = cast(str | None, await self._r.hget(self.keys(tenant).connectors, platform))
        return cast(Json, orjson.loads(raw)) if raw else None

    async def show(self, tenant: str, platform: str) -> Json:
        """The connector as the API shows it: options, `password: "set"`, health."""
        check_platform(platform)
        doc = await self._stored(tenant, platform)
        if doc is None:
            raise NotFound(f"no {platform} connector is configured", where="platform")
        health = cast(
            dict[str, str], await self._r.hgetall(self.keys(tenant).connector_health(platform))
        )
        last_success = health.get("last_success_at")
        lag = (
            round(time.time() - datetime.fromisoformat(last_success).timestamp(), 1)
            if last_success
            else None
        )
        connector = check_platform(platform)
        return {
            "platform": platform,
            **doc["options"],
            **dict.fromkeys(connector.SECRET_FIELDS, "set"),
            "created_at": doc["created_at"],
            "updated_at": doc["updated_at"],
            "paused": doc.get("paused"),
            "health": {
                "runs": int(health.get("runs", 0)),
                "last_run_at": health.get("last_run_at"),
                "last_success_at": last_success,
                "last_error": orjson.loads(health["last_error"])
                if health.get("last_error")
                else None,
                "lag_s": lag,
                "orders_seen": int(health.get("orders_seen", 0)),
                "events_seen": int(health.get("events_seen", 0)),
                "failures_in_row": int(health.get("failures_in_row", 0)),
                "mode": health.get("mode") or None,
            },
        }

    async def delete(self, tenant: str, platform: str) -> None:
        k = self.keys(tenant)
        check_platform(platform)
        if not await self._r.hdel(k.connectors, platform):
            raise NotFound(f"no {platform} connector is configured", where="platform")
        forget = await self._forgetting(tenant, platform)
        async with self._r.pipeline(transaction=True) as pipe:
            forget(pipe)
            pipe.delete(k.connector_health(platform), k.connector_lease(platform))
            await pipe.execute()

    # ---------------------------------------------------------------- polling

    async def run(self, tenant: str, platform: str) -> Json:
        """Poll now (under the lease, like the worker) and answer the connector's state."""
        check_platform(platform)
        if await self._stored(tenant, platform) is None:
            raise NotFound(f"no {platform} connector is configured", where="platform")
        await self._run_leased(tenant, platform)
        return await self.show(tenant, platform)

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
            pulled = await connector.pull(
                self._http(),
                options,
                secret_values,
                orjson.loads(raw_cursor) if raw_cursor else {},
                self._record(tenant, platform),
                self._zone,
                RedisMemory(self._r, k, platform),
            )
        except GatewayError as exc:
            await self._failed(tenant, platform, doc, exc, started)
            return
        await self._succeeded(health, pulled, started)
        if pulled.suggestions:
            await self._r.hset(
                k.suggestions,
                mapping={
                    field_name(platform, code): orjson.dumps(s).decode()
                    for code, s in pulled.suggestions.items()
                },
            )

    def _record(self, tenant: str, platform: str) -> Any:
        async def record(events: Sequence[NativeEvent]) -> list[object]:
            return list(await self._recorder.record(tenant, platform, events))

        return record

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

    # ---------------------------------------------------------------- backfill

    async def backfill(
        self,
        tenant: str,
        platform: str,
        since: date,
        *,
        on_progress: Progress | None = None,
        stop: asyncio.Event | None = None,
    ) -> Json:
        """Import the connector's history since `since`, page by page under its lease, saving
        the job after every page; a job with the same `since` not finished is resumed. Stops
        after the current page when `stop` is set. Answers the job (an error is in it)."""
        doc, runner = await self._begin_backfill(tenant, platform, since)
        return await self._backfill_pages(tenant, platform, doc, runner, on_progress, stop)

    async def start_backfill(self, tenant: str, platform: str, since: date) -> Json:
        """Begin a backfill that runs in the background of this process; answers the job."""
        doc, runner = await self._begin_backfill(tenant, platform, since)
        task = asyncio.create_task(
            self._backfill_pages(tenant, platform, doc, runner, None, None),
            name=f"backfill-{tenant}-{platform}",
        )
        self._backfills.add(task)
        task.add_done_callback(self._backfills.discard)
        return await self.backfill_status(tenant, platform)

    async def backfill_status(self, tenant: str, platform: str) -> Json:
        check_platform(platform)
        k = self.keys(tenant)
        job = cast(dict[str, str], await self._r.hgetall(k.connector_backfill(platform)))
        if not job:
            raise NotFound(f"no {platform} backfill was started", where="platform")
        lease = cast(str | None, await self._r.get(k.connector_lease(platform)))
        finished = job.get("finished_at") or None
        return {
            "platform": platform,
            "since": job["since"],
            "running": not finished and lease is not None and lease == job.get("runner"),
            "state": orjson.loads(job.get("state") or "{}"),
            "pages": int(job.get("pages", 0)),
            "orders": int(job.get("orders", 0)),
            "events": int(job.get("events", 0)),
            "total": int(job["total"]) if job.get("total") else None,
            "started_at": job["started_at"],
            "updated_at": job["updated_at"],
            "finished_at": finished,
            "error": orjson.loads(job["error"]) if job.get("error") else None,
        }

    async def _begin_backfill(self, tenant: str, platform: str, since: date) -> tuple[Json, str]:
        """Take the lease and create (or resume) the job: (connector, lease holder)."""
        check_platform(platform)
        if await self._stored(tenant, platform) is None:
            raise NotFound(f"no {platform} connector is configured", where="platform")
        k = self.keys(tenant)
        runner = f"{self._name}-backfill-{secrets.token_hex(4)}"
        if not await self._r.set(k.connector_lease(platform), runner, nx=True, px=LEASE_MS):
            raise Conflict(
                f"the {platform} connector is busy (a backfill or a poll runs); try again later"
            )
        doc = await self._stored(tenant, platform)  # again, under the lease
        if doc is None:
            if await self._r.get(k.connector_lease(platform)) == runner:
                await self._r.delete(k.connector_lease(platform))
            raise NotFound(f"no {platform} connector is configured", where="platform")
        key = k.connector_backfill(platform)
        job = cast(dict[str, str], await self._r.hgetall(key))
        stamp = now_iso()
        if job and job.get("since") == since.isoformat() and not job.get("finished_at"):
            await self._r.hset(key, mapping={"runner": runner, "error": "", "updated_at": stamp})
        else:  # a new job (another date, or the last one finished)
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.hset(
                    key,
                    mapping={
                        "since": since.isoformat(),
                        "state": "{}",
                        "pages": 0,
                        "orders": 0,
                        "events": 0,
                        "total": "",
                        "runner": runner,
                        "started_at": stamp,
                        "updated_at": stamp,
                        "finished_at": "",
                        "error": "",
                    },
                )
                await pipe.execute()
        return doc, runner

    async def _backfill_pages(
        self,
        tenant: str,
        platform: str,
        doc: Json,
        runner: str,
        on_progress: Progress | None,
        stop: asyncio.Event | None,
    ) -> Json:
        k = self.keys(tenant)
        key, lease = k.connector_backfill(platform), k.connector_lease(platform)
        connector = CONNECTORS[platform]
        try:
            job = cast(dict[str, str], await self._r.hgetall(key))
            since = date.fromisoformat(job["since"])
            state = cast(Json, orjson.loads(job.get("state") or "{}"))
            options = connector.Options.model_validate(doc["options"])
            secret_values = self._box.open(doc["sealed"])
            record = self._record(tenant, platform)
            while stop is None or not stop.is_set():
                page = await connector.backfill_page(
                    self._http(), options, secret_values, since, state, record, self._zone
                )
                state = page.state
                async with self._r.pipeline(transaction=True) as pipe:
                    pipe.hincrby(key, "pages", 1)
                    pipe.hincrby(key, "orders", page.orders)
                    pipe.hincrby(key, "events", page.events)
                    stamp = now_iso()
                    pipe.hset(
                        key,
                        mapping={
                            "state": orjson.dumps(state),
                            "total": "" if page.total is None else page.total,
                            "updated_at": stamp,
                            "finished_at": stamp if page.done else "",
                        },
                    )
                    pipe.pexpire(lease, LEASE_MS)
                    await pipe.execute()
                if on_progress is not None:
                    status = await self.backfill_status(tenant, platform)
                    shown = on_progress(
                        {**status, "page": {"orders": page.orders, "events": page.events}}
                    )
                    if shown is not None:
                        await shown
                if page.done:
                    break
        except GatewayError as exc:
            error = {"class": exc.__class__.__name__, "message": exc.detail, "at": now_iso()}
            await self._r.hset(key, mapping={"error": orjson.dumps(error), "updated_at": now_iso()})
        finally:
            if await self._r.get(lease) == runner:
                await self._r.delete(lease)
        return await self.backfill_status(tenant, platform)
