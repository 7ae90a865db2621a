"""Backfill jobs: a connector's history imported page by page under its lease, the job saved
after every page so an interrupted one resumes; run at once (the CLI) or in the background of
this process (the API)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import date
from typing import cast

import orjson

from gateway.clock import now_iso
from gateway.connectors.base import Json
from gateway.connectors.registry import CONNECTORS, check_platform
from gateway.connectors.runtime import LEASE_MS, ConnectorRuntime
from gateway.errors import Conflict, GatewayError, NotFound

Progress = Callable[[Json], Awaitable[None] | None]


class Backfilling(ConnectorRuntime):
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
                await self._set_aside(tenant, platform, page.rejected, record)
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
