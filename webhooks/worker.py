"""The delivery worker: change feed → delivery lanes → signed HTTP attempts → log and retries.

Two loops share one process:

* **fan-out** reads each tenant's change feed through the consumer group `delivery` (entries a dead
  worker had read come back to another after `RECLAIM_IDLE_MS`), matches each entry against the
  tenant's enabled endpoints, and queues it on one lane per endpoint and order, acknowledging it in
  the same step (`webhooks.queue`);
* **delivery** claims due lanes (a lease per lane: many workers never deliver one message twice at
  once), sends each lane's head, records the attempt and moves the lane on, or schedules a retry
  (exponential backoff, full jitter, `Retry-After`), and disables an endpoint on 410 Gone or after
  `webhook_disable_after_s` of failing.

At least once: a message leaves its lane only after an attempt is recorded, so a worker killed
mid-delivery leaves it to be sent again (same `webhook-id`) when its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from gateway.clock import iso
from gateway.connectors.service import Connectors
from gateway.fbo.timetable import Timetable
from gateway.fbo.watch import note_change, raise_due
from gateway.observability import Metrics
from gateway.recording import Recorder
from gateway.render import Renderer
from gateway.settings import Settings
from gateway.storage.autopipeline import AutoPipeline
from gateway.storage.fbo import ShipmentStore
from gateway.storage.keys import TenantKeys, tenants
from webhooks.endpoints import Endpoint, EndpointStore
from webhooks.operations import disable_endpoint
from webhooks.pace import Pace, pause_s
from webhooks.payloads import Bodies, current_of, message_id, order_of
from webhooks.queue import (
    GROUP,
    OPS_LANE,
    Backlog,
    Claimed,
    DeliveryQueue,
    Head,
    order_lane,
    script,
)
from webhooks.schedule import RetryPolicy, classify, next_delay
from webhooks.sender import Attempt, Sender
from webhooks.signing import headers as signed_headers
from webhooks.slots import Limits, share

log = logging.getLogger("gateway.webhooks")

POLL_S = 0.02  # idle wait between polls of the feeds and the due lanes
TENANTS_EVERY_S = 1.0  # how often the tenant list (and their consumer groups) is refreshed
ENDPOINTS_FOR_S = 1.0  # how long a worker trusts its copy of a tenant's endpoints
FBO_EVERY_S = 1.0  # how often FBO deadlines are looked at
REPAIR_EVERY_S = 60.0  # how often the ready sets are checked against the due sets
BACKLOG_EVERY_S = 5.0  # how often the backlog gauges are sampled
FANOUT_LEASE_MS = 10_000  # a fan-out owner that stops renewing for this long is replaced
READ_COUNT = 500
LEASE_MARGIN_MS = 10_000
# Messages one delivery slot may send back to back (its lane's next ones, then other due lanes of
# the same endpoint) before it is given back, so the endpoints share the worker's slots.
LANE_RUN = 50
Fields = Mapping[str, str]


def _entries(reply: Any) -> list[tuple[str, Fields]]:
    """The entries of an XREADGROUP reply ([[stream, entries]]) or an XAUTOCLAIM one."""
    # An entry trimmed from the feed meanwhile has no fields; it is acknowledged all the same.
    if reply and isinstance(reply[0], str):  # XAUTOCLAIM: [cursor, entries, deleted]
        return [(i, f or {}) for i, f in reply[1]]
    return [(i, f or {}) for _, items in reply or () for i, f in items]


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Worker:
    """Delivers every tenant's webhooks; run as many as wanted against one Redis."""

    def __init__(
        self,
        client: Redis,
        settings: Settings,
        renderer: Renderer,
        metrics: Metrics | None = None,
        *,
        rng: random.Random | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self._r = client
        self._settings = settings
        self.bodies = Bodies(renderer)
        self._metrics = metrics or Metrics()
        self._rng = rng or random.Random()
        self.name = settings.worker_id or worker_name()
        self.queue = DeliveryQueue(client, settings.redis_prefix, settings.history_days)
        self.endpoints = EndpointStore(client, settings.redis_prefix)
        self.shipments = ShipmentStore(client, settings.redis_prefix, settings.history_days)
        self.timetable = Timetable.load()
        # Pull connectors record what they fetch like the API records events (issue 7).
        self.connectors = (
            Connectors(client, settings, recorder, self._metrics) if recorder else None
        )
        self.sender = Sender(
            allow_private=settings.allow_private_webhooks,
            connect_timeout_s=settings.webhook_connect_timeout_s,
            timeout_s=settings.webhook_timeout_s,
            limit=settings.webhook_concurrency,
        )
        self._metrics.webhook_connections.set_function(lambda: self.sender.connections)
        self.policy = RetryPolicy(
            base_s=settings.webhook_retry_base_s,
            cap_s=settings.webhook_retry_cap_s,
            window_s=settings.webhook_retry_window_s,
        )
        self._lease_ms = int(settings.webhook_timeout_s * 1000) + LEASE_MARGIN_MS
        self._limits = Limits.for_concurrency(settings.webhook_concurrency)
        self._failing: set[tuple[str, str]] = set()  # (tenant, endpoint): last attempt failed
        self._starved = False  # the last claim left an endpoint without a slot
        self._turn = 0
        self._tenants: list[str] = []
        self._grouped: set[str] = set()
        self._cache: dict[str, tuple[float, dict[str, Endpoint]]] = {}
        self._busy: dict[tuple[str, str], int] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._taking_over: set[str] = set()
        self._lock = client.register_script(script("lock.lua"))
        self._pipe = AutoPipeline(client)

    def keys(self, tenant: str) -> TenantKeys:
        return TenantKeys(self._settings.redis_prefix, tenant)

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; in-flight attempts get a moment to finish."""
        self._stop = stop
        try:
            await asyncio.gather(
                self._fanout_loop(stop), self._delivery_loop(stop), self._connector_loop(stop)
            )
        finally:
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=2.0)
            for task in self._inflight:
                task.cancel()  # its lease runs out and another worker sends it again
            await self._release_leases()
            await self.sender.close()
            if self.connectors is not None:
                await self.connectors.close()

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self._wake.clear()

    async def _guarded(self, stop: asyncio.Event, step: Any) -> bool:
        """Run one loop step; a Redis outage is logged and waited out, never fatal."""
        try:
            return bool(await step())
        except RedisError as exc:
            log.warning("webhook worker: Redis unavailable (%s); retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            return False

    # ------------------------------------------------------------------ fan-out

    async def _fanout_loop(self, stop: asyncio.Event) -> None:
        checked = deadlines = sampled = 0.0
        repaired = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now - checked >= TENANTS_EVERY_S:
                checked = now
                await self._guarded(stop, self._refresh_tenants)
            if now - sampled >= BACKLOG_EVERY_S:
                sampled = now
                await self._guarded(stop, self.sample_backlog)
            if now - repaired >= REPAIR_EVERY_S:
                repaired = now
                await self._guarded(stop, self.repair_ready)
            if now - deadlines >= FBO_EVERY_S:
                deadlines = now
                await self._guarded(stop, self.raise_fbo_warnings)
            moved = await self._guarded(stop, self.fan_out_once)
            if moved:
                self._wake.set()
            else:
                await self._pause(stop, POLL_S)

    async def _connector_loop(self, stop: asyncio.Event) -> None:
        """Polls the platforms' APIs that are due, on a loop of its own: a slow or silent
        platform (up to `connector_timeout_s`) never holds up the fan-out of changes."""
        if self.connectors is None:
            return
        while not stop.is_set():
            await self._guarded(stop, partial(self.connectors.run_due, self._tenants))
            await self._pause_only(stop, FBO_EVERY_S)

    async def _pause_only(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def _refresh_tenants(self) -> bool:
        found = cast(set[str], await self._r.smembers(tenants(self._settings.redis_prefix)))
        self._tenants = sorted(found)
        new = [tenant for tenant in self._tenants if tenant not in self._grouped]
        await self.queue.migrate(new)  # lanes queued by an earlier version
        for tenant in new:
            await self._ensure_group(tenant)
        return False

    async def _ensure_group(self, tenant: str) -> None:
        try:
            await self._r.xgroup_create(self.keys(tenant).changes, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._grouped.add(tenant)

    async def fan_out_once(self) -> int:
        """Queue the new feed entries of every tenant whose fan-out this worker owns; returns
        how many entries moved.

        One worker at a time fans a tenant's feed out (a lease), so an order's changes are
        queued in feed order. Entries read but not queued (a failed step, a dead owner) are
        queued before anything newer: the owner first re-reads its own pending entries, and a
        new owner first takes over everything the previous one left pending.
        """
        if not self._tenants:
            await self._refresh_tenants()
        tenants = list(self._tenants)
        if not tenants:
            return 0
        leases = await self._pipe.run_scripts(
            self._lock,
            [([self.keys(t).fanout_lock], [self.name, FANOUT_LEASE_MS, ""]) for t in tenants],
        )
        owned: list[str] = []
        for tenant, lease in zip(tenants, leases, strict=True):
            if lease == 2:  # just became the owner: take over what the last one left
                self._taking_over.add(tenant)
            if lease:
                owned.append(tenant)
        if not owned:
            return 0
        async with self._r.pipeline(transaction=False) as pipe:
            for tenant in owned:
                stream = self.keys(tenant).changes
                if tenant in self._taking_over:
                    pipe.xautoclaim(stream, GROUP, self.name, 0, "0-0", count=READ_COUNT)
                pipe.xreadgroup(GROUP, self.name, {stream: "0"}, count=READ_COUNT)
                pipe.xreadgroup(GROUP, self.name, {stream: ">"}, count=READ_COUNT)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        moved = 0
        at = 0
        for tenant in owned:
            taking_over = tenant in self._taking_over
            mine = replies[at : at + (3 if taking_over else 2)]
            at += len(mine)
            if any(isinstance(r, ResponseError) and "NOGROUP" in str(r) for r in mine):
                self._grouped.discard(tenant)  # the feed was deleted, or never had a group
                await self._ensure_group(tenant)
                continue
            for reply in mine:
                if isinstance(reply, Exception):
                    raise reply
            if taking_over:
                if mine[0][0] == "0-0":  # nothing more left pending by another worker
                    self._taking_over.discard(tenant)
                mine = mine[1:]
            pending, new = (_entries(reply) for reply in mine)
            # What this worker read before goes first; newer entries wait (they stay pending
            # for this worker and come back with the next read of its own entries).
            entries = pending
            if len(pending) < READ_COUNT and tenant not in self._taking_over:
                entries = pending + [e for e in new if e[0] not in {i for i, _ in pending}]
            if entries:
                moved += await self._fan_out(tenant, entries)
        return moved

    async def repair_ready(self) -> int:
        """Put right any ready-set entry that disagrees with its endpoint's lanes (see
        `lua/reindex.lua`); how many there were (logged: it means a script was cut short)."""
        fixed = await self.queue.repair(await self.endpoints.ids(self._tenants))
        if fixed:
            log.warning("webhook worker: %d delivery index entries were out of step; fixed", fixed)
        return fixed

    async def sample_backlog(self) -> Backlog:
        """Set the backlog gauges (`gateway_webhook_unqueued_events`, `…_waiting_lanes`,
        `…_due_lanes`, `…_oldest_due_seconds`) from Redis, over every tenant."""
        endpoints = await self.endpoints.ids(self._tenants)
        backlog = await self.queue.backlog(endpoints, int(time.time() * 1000))
        self._metrics.webhook_unqueued.set(backlog.unqueued)
        self._metrics.webhook_waiting_lanes.set(backlog.waiting_lanes)
        self._metrics.webhook_due_lanes.set(backlog.due_lanes)
        self._metrics.webhook_oldest_due.set(backlog.oldest_due_s)
        return backlog

    async def _release_leases(self) -> None:
        for tenant in self._tenants:
            with contextlib.suppress(RedisError):
                await self._lock(
                    keys=[self.keys(tenant).fanout_lock], args=[self.name, 0, "release"]
                )

    async def raise_fbo_warnings(self) -> int:
        """Put every FBO deadline warning that is due into its tenant's feed (once each)."""
        raised = 0
        for tenant in await self.shipments.with_due(self._tenants, int(time.time() * 1000)):
            raised += await raise_due(self.shipments, self.timetable, tenant)
        return raised

    async def _fan_out(self, tenant: str, entries: list[tuple[str, Fields]]) -> int:
        endpoints = [e for e in (await self._endpoints(tenant, fresh=True)).values() if e.enabled]
        now_ms = int(time.time() * 1000)
        chunk: list[tuple[str, str, str]] = []
        acked: list[str] = []
        for feed_id, fields in entries:
            if not fields:
                acked.append(feed_id)
                continue
            if fields.get("platform") == "kak2c":
                await note_change(self.shipments, tenant, fields)
            order = order_of(fields)
            lane = order_lane(*order) if order else OPS_LANE
            current = current_of(fields)
            platform = order[0] if order else None
            for endpoint in endpoints:
                if endpoint.filter.matches(fields.get("type", ""), platform, current):
                    chunk.append((endpoint.id, lane, feed_id))
            acked.append(feed_id)
            if len(chunk) >= 500:
                await self.queue.enqueue(tenant, chunk, now_ms, acked)
                chunk, acked = [], []
        if acked:
            await self.queue.enqueue(tenant, chunk, now_ms, acked)
        return len(entries)

    async def _endpoints(self, tenant: str, *, fresh: bool = False) -> dict[str, Endpoint]:
        now = time.monotonic()
        hit = self._cache.get(tenant)
        if hit is not None and not fresh and hit[0] > now:
            return hit[1]
        found = {e.id: e for e in await self.endpoints.all(tenant)}
        self._cache[tenant] = (now + ENDPOINTS_FOR_S, found)
        return found

    # ------------------------------------------------------------------ delivery

    async def _delivery_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = await self._guarded(stop, self.claim_once)
            if not started:
                await self._pause(stop, POLL_S)

    async def claim_once(self) -> int:
        """Start delivering due lanes, as many as this worker has room for, shared among the
        endpoints as `webhooks.slots` says (tenants take turns at going first); returns how
        many."""
        now_ms = int(time.time() * 1000)
        found = await self.queue.with_due(self._tenants, now_ms)
        self._turn += 1
        if found:
            first = self._turn % len(found)
            found = found[first:] + found[:first]
        free = self._settings.webhook_concurrency - len(self._inflight)
        due = [(tenant, endpoint) for tenant, endpoints in found for endpoint in endpoints]
        shared = share(due, self._busy, self._failing, free, self._limits)
        self._starved = shared.starved
        started = 0
        for tenant, endpoints in found:
            rooms = {e: shared.rooms[(tenant, e)] for e in endpoints if (tenant, e) in shared.rooms}
            if not rooms:
                continue
            paces = await self._paces(tenant, rooms)
            for claimed in await self.queue.claim(tenant, rooms, now_ms, self._lease_ms, paces):
                busy_key = (tenant, claimed.endpoint)
                self._busy[busy_key] = self._busy.get(busy_key, 0) + 1
                task = asyncio.create_task(self._deliver_guarded(tenant, claimed))
                self._inflight.add(task)
                task.add_done_callback(partial(self._done, busy_key))
                started += 1
        return started

    async def _paces(self, tenant: str, endpoints: Mapping[str, Any]) -> dict[str, Pace]:
        """The pace of each endpoint (a new one is looked up at once, so its limit holds from
        its first delivery)."""
        known = await self._endpoints(tenant)
        if any(e not in known for e in endpoints):
            known = await self._endpoints(tenant, fresh=True)
        return {e: known[e].pace for e in endpoints if e in known}

    def _done(self, busy_key: tuple[str, str], task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._busy[busy_key] -= 1
        if not self._busy[busy_key]:
            del self._busy[busy_key]
        self._wake.set()  # room for another lane

    async def _deliver_guarded(self, tenant: str, claimed: Claimed) -> None:
        try:
            await self.deliver(tenant, claimed)
        except RedisError as exc:  # the lease runs out and the lane is tried again
            log.warning(
                "webhook delivery of %s postponed: Redis unavailable (%s)", claimed.member, exc
            )
        except Exception:  # one bad message must not stop the worker
            log.exception("webhook delivery of %s failed unexpectedly", claimed.member)

    async def deliver(self, tenant: str, claimed: Claimed) -> None:
        """Attempt the head of one claimed lane and record what happened; then go on at once
        with the endpoint's next message (the lane's next one, else another due lane of the
        endpoint, leased in the same step) up to LANE_RUN in a row, without a claim of its own."""
        for sent in range(1, LANE_RUN + 1):
            endpoint = (await self._endpoints(tenant)).get(claimed.endpoint)
            if endpoint is None:
                endpoint = (await self._endpoints(tenant, fresh=True)).get(claimed.endpoint)
            if endpoint is None or not endpoint.enabled:
                await self.queue.drop_lane(tenant, claimed.member)
                self._metrics.deliveries.labels(result="dropped").inc()
                return
            # A slot goes back to the pool when another endpoint is waiting for one.
            go_on = sent < LANE_RUN and not self._stop.is_set() and not self._starved
            following = await self._attempt(tenant, claimed, endpoint, go_on=go_on)
            if following is None:
                return
            claimed = following

    async def _attempt(
        self, tenant: str, claimed: Claimed, endpoint: Endpoint, *, go_on: bool = False
    ) -> Claimed | None:
        """One attempt at a claimed lane's head; the endpoint's next message when it is this
        worker's to send now (`go_on` asked for one and there is one)."""
        member, fields = claimed.member, claimed.fields
        started_ms = int(time.time() * 1000)
        head = Head(claimed.head.msg, claimed.head.attempts, claimed.head.first_ms or started_ms)
        if not fields:  # trimmed: older than the history
            attempt = Attempt(None, 0.0, error="Expired: the change is older than the history")
            return await self._record(
                tenant, member, endpoint, head, {}, attempt, "failed", started_ms, go_on=go_on
            )
        body = self.bodies.body(fields, endpoint.lang)
        now = datetime.now(UTC)
        headers = signed_headers(
            message_id(head.msg),
            int(now.timestamp()),
            body,
            endpoint.signing_secrets(now),
            endpoint.lang,
        )
        attempt = await self.sender.send(endpoint.url, headers, body)
        self._metrics.delivery_seconds.observe(attempt.duration_ms / 1000)
        outcome = classify(attempt.status)
        if outcome == "delivered":
            return await self._record(
                tenant, member, endpoint, head, fields, attempt, "delivered", go_on=go_on
            )
        if outcome == "gone":
            await self._record(tenant, member, endpoint, head, fields, attempt, "gone")
            await disable_endpoint(
                self._r,
                self.endpoints,
                self.queue,
                tenant,
                endpoint,
                "the receiver answered 410 Gone",
            )
        else:
            await self._record(tenant, member, endpoint, head, fields, attempt, "retry")
        return None

    async def _record(
        self,
        tenant: str,
        member: str,
        endpoint: Endpoint,
        head: Head,
        fields: Fields,
        attempt: Attempt,
        verdict: Literal["delivered", "retry", "failed", "gone"],
        now_ms: int | None = None,
        *,
        go_on: bool = False,
    ) -> Claimed | None:
        """Log the attempt and move the lane on; the endpoint's next message when it is this
        worker's to send at once (see `DeliveryQueue.finish`)."""
        now_ms = now_ms or int(time.time() * 1000)
        number = head.attempts + 1
        first_ms = head.first_ms or now_ms
        next_ms: int | None = None
        if verdict == "retry":
            if now_ms - first_ms >= self.policy.window_s * 1000:
                verdict = "failed"  # retried for the whole window: given up
            else:
                delay = next_delay(
                    self.policy,
                    number,
                    self._rng,
                    status=attempt.status,
                    retry_after=attempt.retry_after,
                    timed_out=attempt.timed_out,
                )
                next_ms = now_ms + int(delay * 1000)
        pause = pause_s(self.policy, attempt.status, attempt.retry_after)
        if pause is not None:
            self._metrics.webhook_holds.labels(status=str(attempt.status)).inc()
            log.info(
                "webhook endpoint %s asked to wait %.0f s (%s with Retry-After): holding it",
                endpoint.id,
                pause,
                attempt.status,
            )
        result = {"retry": "retrying"}.get(verdict, verdict)
        order = order_of(fields)
        entry: dict[str, Any] = {
            "endpoint_id": endpoint.id,
            "msg_id": message_id(head.msg),
            "type": fields.get("type"),
            "platform": order[0] if order else None,
            "order_id": order[1] if order else None,
            "sequence": int(fields["sequence"]) if "sequence" in fields else None,
            "attempt": number,
            "at": iso(now_ms / 1000),
            "result": result,
            "status_code": attempt.status,
            "duration_ms": attempt.duration_ms,
            "response": attempt.response,
            "error": attempt.error,
            "next_attempt_at": iso(next_ms / 1000) if next_ms else None,
        }
        outcome: Literal["delivered", "retry", "failed"] = (
            "retry" if verdict == "retry" else "delivered" if verdict == "delivered" else "failed"
        )
        finished = await self.queue.finish(
            tenant,
            member,
            Head(head.msg, head.attempts, first_ms),
            outcome,
            now_ms=now_ms,
            next_ms=next_ms or now_ms,
            entry=entry,
            order=order,
            keep_until_ms=now_ms + self._lease_ms if go_on and verdict != "retry" else None,
            pace=endpoint.pace,
            hold_until_ms=now_ms + int(pause * 1000) if pause is not None else None,
        )
        self._metrics.deliveries.labels(result=result).inc()
        failing_since = finished.failing_since
        if failing_since is None:
            self._failing.discard((tenant, endpoint.id))
        else:
            self._failing.add((tenant, endpoint.id))
        if (
            finished.still
            and verdict != "delivered"
            and endpoint.enabled
            and failing_since is not None
            and now_ms - failing_since >= self._settings.webhook_disable_after_s * 1000
        ):
            await disable_endpoint(
                self._r,
                self.endpoints,
                self.queue,
                tenant,
                endpoint,
                f"every delivery failed since {iso(failing_since / 1000)}",
            )
            self._cache.pop(tenant, None)
            return None  # what it handed on was dropped with the endpoint's lanes
        return finished.next
