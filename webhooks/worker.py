"""The delivery worker: change feed → signed HTTP attempts (straight, or through lanes) → log.

Two loops share one process:

* **fan-out** reads each tenant's change feed through the consumer group `delivery` (a new owner
  first takes over what a dead one left pending), matches each entry against the tenant's enabled
  endpoints, and routes each delivery (`webhooks.queue.route`): held here to be sent straight from
  the feed when nothing of its order waits for the endpoint (`webhooks.direct`), else queued on
  its lane in Redis. Each turn it also stores what was sent straight from the feed: it moves a
  chain whose first attempt failed onto its lane (`settle_direct`);
* **delivery** starts held chains and claims due lanes, as many as there are slots
  (`webhooks.slots`): a chain's changes go out one after the other, each logged and its feed
  entry acknowledged before the next; a lane's head is leased, sent, recorded and the lane moved
  on, or retried later (exponential backoff, full jitter, `Retry-After`); an endpoint is disabled
  on 410 Gone or after `webhook_disable_after_s` of failing.

At least once: a feed entry is acknowledged only once each of its deliveries is logged or queued
on a lane, and a message leaves its lane only after an attempt is recorded, so a worker killed
mid-delivery leaves what it had in flight to be sent again (same `webhook-id`): by the next owner
of the fan-out, or when a lane's lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from gateway.clock import iso, iso_ms
from gateway.connectors.service import Connectors
from gateway.errors import SecretKeyMissing
from gateway.fbo.timetable import Timetable
from gateway.fbo.watch import note_change, raise_due
from gateway.observability import Metrics
from gateway.recording import Recorder
from gateway.render import Renderer
from gateway.settings import Settings
from gateway.storage.autopipeline import AutoPipeline
from gateway.storage.fbo import ShipmentStore
from gateway.storage.keys import TenantKeys, feed_news, tenants
from webhooks.direct import Book, Chain, Failure, Key
from webhooks.endpoints import Endpoint, EndpointStore
from webhooks.operations import disable_endpoint
from webhooks.pace import UNLIMITED, Pace, pause_s
from webhooks.payloads import Bodies, current_of, message_id, order_of
from webhooks.queue import (
    GROUP,
    OPS_LANE,
    Backlog,
    Claimed,
    DeliveryQueue,
    Head,
    Routed,
    Settled,
    order_lane,
    script,
)
from webhooks.schedule import RetryPolicy, classify, next_delay
from webhooks.sender import Attempt, Sender
from webhooks.slots import Limits, share

log = logging.getLogger("gateway.webhooks")

POLL_S = 0.02  # idle wait of the loops (nothing to send, no news): they look at their clocks
# Without news, every tenant's feed is read (and the fan-out leases renewed) once a SWEEP_S, and
# Redis is asked for every tenant's due lanes once a DUE_EVERY_S: the idle cost of a tenant is a
# few commands a second, however often the loops wake.
SWEEP_S = 1.0
DUE_EVERY_S = 0.25
TENANTS_EVERY_S = 1.0  # how often the tenant list (and their consumer groups) is refreshed
ENDPOINTS_FOR_S = 1.0  # how long a worker trusts its copy of a tenant's endpoints
FBO_EVERY_S = 1.0  # how often FBO deadlines are looked at
REPAIR_EVERY_S = 60.0  # how often the ready sets are checked against the due sets
BACKLOG_EVERY_S = 5.0  # how often the backlog gauges are sampled
HELD_EVERY_S = 1.0  # how often a worker reports what it holds (for `pending`)
HELD_FOR_S = 5.0  # how long such a report counts (a worker that died stops counting then)
FANOUT_LEASE_MS = 10_000  # a fan-out owner that stops renewing for this long is replaced
NEWS_WAIT_S = 1.0  # longest wait for one message of the feed-news channel
UNOPENED_S = 30.0  # how long a worker leaves a tenant alone whose secrets it cannot open
READ_COUNT = 500
ROUTE_CHUNK = 1_000  # deliveries routed in one Redis step
GONE = "the receiver answered 410 Gone"  # why an endpoint was disabled at once
LEASE_MARGIN_MS = 10_000
# Messages one delivery slot may send back to back (its lane's next ones, then other due lanes of
# the same endpoint) before it is given back, so the endpoints share the worker's slots.
LANE_RUN = 50
Fields = Mapping[str, str]


@dataclass
class Step:
    """One routing step of the fan-out: deliveries for Redis to route (with their entries'
    fields), the entries it acknowledges unless something of them is held, and deliveries that
    join chains this worker holds ((endpoint id, lane, feed id, fields))."""

    routed: list[Routed] = field(default_factory=list)
    fields: list[Fields] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    joins: list[tuple[str, str, str, Fields]] = field(default_factory=list)


def _entries(reply: Any) -> list[tuple[str, Fields]]:
    """The entries of an XREADGROUP reply ([[stream, entries]]) or an XAUTOCLAIM one."""
    # An entry trimmed from the feed meanwhile has no fields; it is acknowledged all the same.
    if reply and isinstance(reply[0], str):  # XAUTOCLAIM: [cursor, entries, deleted]
        return [(i, f or {}) for i, f in reply[1]]
    return [(i, f or {}) for _, items in reply or () for i, f in items]


def log_entry(
    endpoint: str,
    msg: str,
    fields: Fields,
    number: int,
    now_ms: int,
    result: str,
    attempt: Attempt,
    next_ms: int | None,
) -> dict[str, Any]:
    """The delivery log's entry of attempt `number` at feed entry `msg` (`fields`)."""
    order = order_of(fields)
    return {
        "endpoint_id": endpoint,
        "msg_id": message_id(msg),
        "type": fields.get("type"),
        "platform": order[0] if order else None,
        "order_id": order[1] if order else None,
        "sequence": int(fields["sequence"]) if "sequence" in fields else None,
        "attempt": number,
        "at": iso_ms(now_ms),
        "result": result,
        "status_code": attempt.status,
        "duration_ms": attempt.duration_ms,
        "response": attempt.response,
        "error": attempt.error,
        "next_attempt_at": iso_ms(next_ms) if next_ms else None,
    }


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
        self.endpoints = EndpointStore.configured(client, settings)
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
        self._metrics.webhook_held.set_function(lambda: len(self.direct))
        self.policy = RetryPolicy(
            base_s=settings.webhook_retry_base_s,
            cap_s=settings.webhook_retry_cap_s,
            window_s=settings.webhook_retry_window_s,
        )
        self._lease_ms = int(settings.webhook_timeout_s * 1000) + LEASE_MARGIN_MS
        self._limits = Limits.for_concurrency(settings.webhook_concurrency)
        self._failing: set[tuple[str, str]] = set()  # (tenant, endpoint): last attempt failed
        # (tenant, endpoint) given a rate limit since its chains were held: they go to lanes
        self._paced: set[tuple[str, str]] = set()
        self._reported: dict[str, dict[str, int]] = {}  # what `report_held` stored last
        self._starved = False  # the last claim left an endpoint without a slot
        self._turn = 0
        self._tenants: list[str] = []
        self._known: frozenset[str] = frozenset()  # the same tenants, to look names up in
        self._grouped: set[str] = set()
        self._cache: dict[str, tuple[float, dict[str, Endpoint]]] = {}
        self._busy: dict[tuple[str, str], int] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()  # the delivery loop: a slot is free, or work waits
        # the fan-out loop: a feed has news, or a failed chain waits to move
        self._fanout_wake = asyncio.Event()
        self._news: set[str] = set()  # tenants whose feeds got changes since they were last read
        self._more: set[str] = set()  # tenants whose last read was full: more may wait
        self._swept = 0.0  # when every tenant's feed was last read (monotonic)
        self._new_tenants = False  # news named a tenant this worker does not know yet
        self._lanes_at = 0.0  # when the due lanes were last asked for (monotonic)
        self._lanes_stale = True  # lanes may have become due since then
        self._lanes_due = False  # the last answer had lanes due
        self._stop = asyncio.Event()
        self._taking_over: dict[str, str] = {}  # tenant -> XAUTOCLAIM cursor
        self._warned: dict[Key, int] = {}  # endpoint -> the failure streak it announced
        self._reread: dict[str, str] = {}  # tenant -> own pending entries read up to this id
        self._unopened: dict[str, float] = {}  # tenant -> left to other workers until (monotonic)
        self._metrics.webhook_unopened.set_function(lambda: len(self._unopened))
        self.direct = Book()
        self._delivered: dict[str, list[Settled]] = {}  # sent straight from the feed, to log
        self._acks: dict[str, list[str]] = {}  # feed entries settled, to acknowledge
        self._lock = client.register_script(script("lock.lua"))
        self._pipe = AutoPipeline(client)

    def keys(self, tenant: str) -> TenantKeys:
        return TenantKeys(self._settings.redis_prefix, tenant)

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; in-flight attempts get a moment to finish."""
        self._stop = stop
        news = asyncio.create_task(self._news_loop())
        try:
            await asyncio.gather(
                self._fanout_loop(stop), self._delivery_loop(stop), self._connector_loop(stop)
            )
        finally:
            news.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await news
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=2.0)
            for task in self._inflight:
                task.cancel()  # its lease runs out and another worker sends it again
            with contextlib.suppress(RedisError):
                await self.settle_direct()  # what was delivered is not sent again
            with contextlib.suppress(RedisError):
                # what it still holds stays pending in the group: the next owner of the fan-out
                # takes it over (and reports it), so this worker's reports end now
                await self.report_held(leaving=True)
            await self._release_leases()
            await self.sender.close()
            if self.connectors is not None:
                await self.connectors.close()

    async def _pause(
        self, stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None
    ) -> None:
        """Wait `seconds`, or until `stop` or `wake` (the delivery loop's, by default) is set."""
        wake = wake or self._wake
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        wake.clear()

    async def _guarded(self, stop: asyncio.Event, step: Any) -> bool:
        """Run one loop step; a Redis outage is logged and waited out (the changes stay pending),
        never fatal. (Endpoints whose secrets do not open with this worker's GATEWAY_SECRET_KEY
        are left to other workers: `_cannot_open`.)"""
        try:
            return bool(await step())
        except RedisError as exc:
            log.warning("webhook worker: Redis unavailable (%s); retrying", exc)
        except SecretKeyMissing as exc:
            log.error("webhook worker: %s; retrying", exc.detail)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        return False

    # ------------------------------------------------------------------ fan-out

    async def _fanout_loop(self, stop: asyncio.Event) -> None:
        checked = deadlines = sampled = reported = 0.0
        repaired = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now - checked >= TENANTS_EVERY_S or self._new_tenants:
                checked, self._new_tenants = now, False
                await self._guarded(stop, self._refresh_tenants)
                self._news &= self._known  # news of no tenant (one deleted since) is dropped
            if now - sampled >= BACKLOG_EVERY_S:
                sampled = now
                await self._guarded(stop, self.sample_backlog)
            if now - reported >= HELD_EVERY_S:
                reported = now
                await self._guarded(stop, self.report_held)
            if now - repaired >= REPAIR_EVERY_S:
                repaired = now
                await self._guarded(stop, self.repair_ready)
            if now - deadlines >= FBO_EVERY_S:
                deadlines = now
                await self._guarded(stop, self.raise_fbo_warnings)
            await self._guarded(stop, self.settle_direct)
            moved = await self._guarded(stop, partial(self.fan_out_once, self._to_read()))
            if not moved:
                await self._pause(stop, POLL_S, self._fanout_wake)

    def _to_read(self) -> list[str] | None:
        """The tenants whose feeds this turn of the fan-out reads: all of them (None) once a
        SWEEP_S, which renews the fan-out leases and finds what no news announced; else those
        with news, with more to read than the last read took, or with entries pending to take
        over or to read again."""
        known = self._known
        if not self._news <= known:
            self._new_tenants = True  # news of a tenant made since the list was read: kept
        now = time.monotonic()
        if now - self._swept >= SWEEP_S:
            self._swept = now
            self._news -= known
            return None
        due = (self._news & known) | self._more | self._taking_over.keys() | self._reread.keys()
        self._news -= due
        return [tenant for tenant in self._tenants if tenant in due]

    async def _news_loop(self) -> None:
        """Listen for the tenants whose feeds got changes (`gateway.storage.keys.feed_news`, which
        the commit script publishes) and wake the fan-out for them: a change goes out within
        milliseconds, not at the next sweep. While Redis is away nothing is lost: the sweep reads
        every feed, and once listening again the next turn sweeps."""
        channel = feed_news(self._settings.redis_prefix)
        while True:
            pubsub = self._r.pubsub(ignore_subscribe_messages=True)
            try:
                # A cluster client learns its nodes on its first command (a channel is heard on
                # every node, so any will do for listening).
                await self._r.ping()
                await pubsub.subscribe(channel)
                # what was announced while not listening is read now, new tenants' feeds too
                self._swept, self._new_tenants = 0.0, True
                self._fanout_wake.set()
                while True:
                    message = await pubsub.get_message(timeout=NEWS_WAIT_S)
                    if message is not None:
                        self._news.add(str(message["data"]))
                        self._fanout_wake.set()
            except Exception as exc:  # never fatal: the sweeps read every feed meanwhile
                log.warning(
                    "webhook worker: not listening for feed news (%s: %s); retrying",
                    exc.__class__.__name__,
                    exc,
                )
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(RedisError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # (redis-py)

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
        self._tenants, self._known = sorted(found), frozenset(found)
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

    async def fan_out_once(self, tenants: Sequence[str] | None = None) -> int:
        """Route the new feed entries of `tenants` (all, by default) whose fan-out this worker
        owns (queued on lanes, or held to be sent straight from the feed: `webhooks.direct`);
        returns how many entries moved.

        One worker at a time fans a tenant's feed out (a lease), so an order's changes are
        routed in feed order. Entries read but not routed (a failed step, a dead owner) are
        routed before anything newer: a new owner first takes over everything pending in the
        group (`XAUTOCLAIM`), and an owner whose step failed first reads its own pending
        entries again; entries this worker holds for direct sending are skipped in both.
        """
        if not self._tenants:
            await self._refresh_tenants()
        reading = self._openable(self._tenants if tenants is None else tenants)
        if not reading:
            return 0
        leases = await self._pipe.run_scripts(
            self._lock,
            [([self.keys(t).fanout_lock], [self.name, FANOUT_LEASE_MS, ""]) for t in reading],
        )
        owned: list[str] = []
        for tenant, lease in zip(reading, leases, strict=True):
            if lease == 2:  # just became the owner: take over what the last one left
                self._taking_over[tenant] = "0-0"
            if lease:
                owned.append(tenant)
        if not owned:
            return 0
        async with self._r.pipeline(transaction=False) as pipe:
            for tenant in owned:
                stream = self.keys(tenant).changes
                if tenant in self._taking_over:
                    start = self._taking_over[tenant]
                    pipe.xautoclaim(stream, GROUP, self.name, 0, start, count=READ_COUNT)
                else:
                    start = self._reread.get(tenant, ">")
                    pipe.xreadgroup(GROUP, self.name, {stream: start}, count=READ_COUNT)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        moved = 0
        for tenant, reply in zip(owned, replies, strict=True):
            if isinstance(reply, ResponseError) and "NOGROUP" in str(reply):
                self._grouped.discard(tenant)  # the feed was deleted, or never had a group
                await self._ensure_group(tenant)
                self._more.add(tenant)  # read next turn
                continue
            if isinstance(reply, Exception):
                raise reply
            entries = _entries(reply)
            again = len(entries) >= READ_COUNT  # the feed may hold more than one read takes
            if tenant in self._taking_over:
                if reply[0] == "0-0":  # the whole group's pending entries are this worker's
                    del self._taking_over[tenant]
                    again = True  # then what is new
                else:
                    self._taking_over[tenant] = reply[0]
            elif tenant in self._reread:
                if len(entries) < READ_COUNT:
                    del self._reread[tenant]  # caught up with its own pending entries
                    again = True  # then what is new
                else:
                    self._reread[tenant] = entries[-1][0]
            if again:
                self._more.add(tenant)
            else:
                self._more.discard(tenant)
            if tenant in self._taking_over or self._reread.get(tenant, ">") != ">":
                held = self.direct.held_ids(tenant)
                entries = [e for e in entries if e[0] not in held]
            if entries:
                try:
                    moved += await self._fan_out(tenant, entries)
                except SecretKeyMissing as exc:
                    self._reread[tenant] = "0"
                    await self._cannot_open(tenant, exc)
                except BaseException:
                    self._reread[tenant] = "0"  # what was read and not routed comes first
                    raise
        return moved

    def _openable(self, tenants: Sequence[str]) -> list[str]:
        """`tenants` but those this worker leaves to others for now (`_cannot_open`)."""
        now = time.monotonic()
        for tenant, until in list(self._unopened.items()):
            if until <= now:
                del self._unopened[tenant]  # the key may have been set right, or secrets resealed
        return [t for t in tenants if t not in self._unopened]

    async def _cannot_open(self, tenant: str, exc: SecretKeyMissing) -> None:
        """The tenant's endpoint secrets do not open here (no GATEWAY_SECRET_KEY, or another):
        this worker gives up the tenant's fan-out, so a worker with the key takes it over (and
        what this one read and left pending) at once, and leaves the tenant to the others for
        UNOPENED_S, its lanes too; nothing is signed with anything else. Counted in
        `gateway_webhook_unopened_tenants`."""
        self._unopened[tenant] = time.monotonic() + UNOPENED_S
        log.error(
            "webhook worker: tenant %s is left to other workers for %g s: %s",
            tenant,
            UNOPENED_S,
            exc.detail,
        )
        with contextlib.suppress(RedisError):
            await self._lock(keys=[self.keys(tenant).fanout_lock], args=[self.name, 0, "release"])

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

    async def report_held(self, *, leaving: bool = False) -> bool:
        """Store what this worker holds to send straight from the feed, per endpoint, so an
        endpoint's `pending` counts it (for HELD_FOR_S; renewed every HELD_EVERY_S), and drop
        what it reported before and holds no more (all of it when `leaving`)."""
        held = {} if leaving else self.direct.held()
        if not held and not self._reported:
            return False
        report = {t: dict.fromkeys(endpoints, 0) for t, endpoints in self._reported.items()}
        for tenant, counts in held.items():
            report.setdefault(tenant, {}).update(counts)
        now_ms = int(time.time() * 1000)
        await self.queue.report_held(self.name, report, now_ms, now_ms + int(HELD_FOR_S * 1000))
        self._reported = held
        return False

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
        """Route `entries` to the tenant's enabled endpoints whose filters match, in steps of
        about ROUTE_CHUNK deliveries: a change of an order this worker holds a chain of joins
        that chain; any other may be held to be sent straight from the feed
        (`_may_send_directly`) unless Redis has a lane of its order waiting; the rest go onto
        lanes. The book changes only once a step is stored."""
        endpoints = [e for e in (await self._endpoints(tenant, fresh=True)).values() if e.enabled]
        now_ms = int(time.time() * 1000)
        step = Step()
        modes: dict[tuple[str, str], bool] = {}  # (endpoint, lane): may go direct
        offered: dict[str, int] = {}  # endpoint: changes offered for direct sending so far
        for feed_id, fields in entries:
            if fields and fields.get("platform") == "kak2c":
                await note_change(self.shipments, tenant, fields)
            order = order_of(fields) if fields else None
            lane = order_lane(*order) if order else OPS_LANE
            current = current_of(fields) if fields else {}
            platform = order[0] if order else None
            mine: list[tuple[str, bool]] = []
            joins = False
            for endpoint in endpoints if fields else ():
                if not endpoint.filter.matches(fields.get("type", ""), platform, current):
                    continue
                if self.direct.chain(tenant, endpoint.id, lane) is not None:
                    step.joins.append((endpoint.id, lane, feed_id, fields))
                    joins = True
                    continue
                key = (endpoint.id, lane)
                if key not in modes:
                    modes[key] = self._may_send_directly(
                        tenant, endpoint, offered.get(endpoint.id, 0)
                    )
                if modes[key]:
                    offered[endpoint.id] = offered.get(endpoint.id, 0) + 1
                mine.append((endpoint.id, modes[key]))
            # An entry that joined a chain is acknowledged once that settles, not by the step.
            if not joins:
                step.ids.append(feed_id)
            number = 0 if joins else len(step.ids)
            for endpoint_id, direct in mine:
                step.routed.append(Routed(number, endpoint_id, lane, feed_id, direct))
                step.fields.append(fields)
            if len(step.routed) >= ROUTE_CHUNK:
                await self._route(tenant, step, now_ms)
                step = Step()
        if step.routed or step.ids or step.joins:
            await self._route(tenant, step, now_ms)
        return len(entries)

    def _may_send_directly(self, tenant: str, endpoint: Endpoint, offered: int) -> bool:
        """Whether a change for `endpoint` may be held to be sent straight from the feed, with
        `offered` others already offered in this step (Redis still says no when its order's
        lane waits, or the endpoint fails or is held)."""
        return (
            self._settings.webhook_direct
            and endpoint.pace == UNLIMITED
            and (tenant, endpoint.id) not in self._failing
            and self.direct.has_room(tenant, endpoint.id, offered)
        )

    async def _route(self, tenant: str, step: Step, now_ms: int) -> None:
        """Store one routing step, then hold what it left to this worker, in feed order."""
        picked = await self.queue.route(tenant, step.routed, now_ms, step.ids)
        held = [(step.routed[i], step.fields[i]) for i in picked]
        for d, fields in held:
            self.direct.add(tenant, d.endpoint, d.name, d.msg, fields)
        for endpoint_id, lane, feed_id, fields in step.joins:
            self.direct.add(tenant, endpoint_id, lane, feed_id, fields)
        if len(held) < len(step.routed):
            self._lanes_stale = True  # some went onto lanes
        if held or step.joins or self._lanes_stale:
            self._wake.set()

    def _acknowledge(self, tenant: str, feed_id: str | None) -> None:
        if feed_id is not None:
            self._acks.setdefault(tenant, []).append(feed_id)

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
        """Start delivering due lanes and held chains, as many as this worker has room for,
        shared among the endpoints as `webhooks.slots` says (tenants take turns at going
        first); returns how many."""
        now_ms = int(time.time() * 1000)
        found: list[tuple[str, list[str]]] = []
        # Redis is asked for due lanes when some may have become due (lanes were queued, a
        # lane's delivery ended), else every POLL_S while the last answer had lanes due (more
        # than there were slots for, say) and every DUE_EVERY_S when it had none: a slot freed
        # by a direct delivery needs no round trip to start the next held chain.
        every = POLL_S if self._lanes_due else DUE_EVERY_S
        if self._lanes_stale or time.monotonic() - self._lanes_at >= every:
            self._lanes_stale, self._lanes_at = False, time.monotonic()
            found = await self.queue.with_due(self._openable(self._tenants), now_ms)
            self._lanes_due = bool(found)
        self._turn += 1
        if found:
            first = self._turn % len(found)
            found = found[first:] + found[:first]
        free = self._settings.webhook_concurrency - len(self._inflight)
        due = [(tenant, endpoint) for tenant, endpoints in found for endpoint in endpoints]
        # Chains of a failing endpoint, or one paced since, are about to move to lanes
        # (`settle_direct`).
        chains = [
            key
            for key in self.direct.waiting()
            if key not in self._failing and key not in self._paced
        ]
        due += [key for key in chains if key not in set(due)]
        shared = share(due, self._busy, self._failing, free, self._limits)
        self._starved = shared.starved
        rooms = dict(shared.rooms)
        started = 0
        for key in chains:
            while rooms.get(key, 0) > 0 and (chain := self.direct.next_waiting(key)) is not None:
                self._start(key, self._run_direct(key, chain))
                rooms[key] -= 1
                started += 1
        for tenant, endpoints in found:
            asked = {e: rooms[(tenant, e)] for e in endpoints if rooms.get((tenant, e), 0) > 0}
            if not asked:
                continue
            try:
                paces = await self._paces(tenant, asked)
            except SecretKeyMissing as exc:  # found out before any of its lanes is leased
                await self._cannot_open(tenant, exc)
                continue
            for claimed in await self.queue.claim(tenant, asked, now_ms, self._lease_ms, paces):
                key = (tenant, claimed.endpoint)
                self._start(key, self._deliver_guarded(tenant, claimed), lane=True)
                started += 1
        return started

    def _start(self, key: Key, work: Coroutine[Any, Any, None], *, lane: bool = False) -> None:
        """Run one delivery slot's work (a lane's, or held chains'), counted against the worker
        and the endpoint."""
        self._busy[key] = self._busy.get(key, 0) + 1
        task = asyncio.create_task(work)
        self._inflight.add(task)
        task.add_done_callback(partial(self._done, key, lane))

    async def _paces(self, tenant: str, endpoints: Mapping[str, Any]) -> dict[str, Pace]:
        """The pace of each endpoint (a new one is looked up at once, so its limit holds from
        its first delivery)."""
        known = await self._endpoints(tenant)
        if any(e not in known for e in endpoints):
            known = await self._endpoints(tenant, fresh=True)
        return {e: known[e].pace for e in endpoints if e in known}

    def _done(self, busy_key: tuple[str, str], lane: bool, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._busy[busy_key] -= 1
        if not self._busy[busy_key]:
            del self._busy[busy_key]
        if lane:
            self._lanes_stale = True  # its endpoint (or another) may have more due
        self._wake.set()  # room for another lane or chain

    async def _deliver_guarded(self, tenant: str, claimed: Claimed) -> None:
        try:
            await self.deliver(tenant, claimed)
        except SecretKeyMissing as exc:  # the lease runs out and another worker sends it
            await self._cannot_open(tenant, exc)
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
                self._metrics.delivery_results["dropped"].inc()
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
        attempt = await self._send(endpoint, head.msg, fields)
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
                GONE,
            )
        else:
            await self._record(tenant, member, endpoint, head, fields, attempt, "retry")
        return None

    async def _send(self, endpoint: Endpoint, msg: str, fields: Fields) -> Attempt:
        """One signed attempt at a feed entry, in the endpoint's language."""
        body = self.bodies.body(fields, endpoint.lang)
        headers = endpoint.delivery_headers(message_id(msg), body, datetime.now(UTC))
        attempt = await self.sender.send(endpoint.url, headers, body)
        self._metrics.delivery_seconds.observe(attempt.duration_ms / 1000)
        return attempt

    def _next_ms(self, attempt: Attempt, number: int, now_ms: int) -> int:
        """When to try again after failed attempt `number`."""
        delay = next_delay(
            self.policy,
            number,
            self._rng,
            status=attempt.status,
            retry_after=attempt.retry_after,
            timed_out=attempt.timed_out,
        )
        return now_ms + int(delay * 1000)

    def _pause_s(self, endpoint: str, attempt: Attempt) -> float | None:
        """How long the receiver asked the whole endpoint to wait (counted and logged)."""
        pause = pause_s(self.policy, attempt.status, attempt.retry_after)
        if pause is not None:
            self._metrics.webhook_holds.labels(status=str(attempt.status)).inc()
            log.info(
                "webhook endpoint %s asked to wait %.0f s (%s with Retry-After): holding it",
                endpoint,
                pause,
                attempt.status,
            )
        return pause

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
                next_ms = self._next_ms(attempt, number, now_ms)
        pause = self._pause_s(endpoint.id, attempt)
        result = {"retry": "retrying"}.get(verdict, verdict)
        order = order_of(fields)
        entry = log_entry(endpoint.id, head.msg, fields, number, now_ms, result, attempt, next_ms)
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
        self._metrics.delivery_results[result].inc()
        failing_since = finished.failing_since
        if failing_since is None:
            self._failing.discard((tenant, endpoint.id))
        else:
            self._failing.add((tenant, endpoint.id))
            if finished.still and verdict != "delivered" and endpoint.enabled:
                await self._warn(tenant, endpoint, failing_since, now_ms, attempt)
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

    async def _warn(
        self, tenant: str, endpoint: Endpoint, failing_since: int, now_ms: int, attempt: Attempt
    ) -> None:
        """Once an endpoint has failed for `webhook_warn_after_s`, tell the tenant: an
        `endpoint.failing` event, once per failure streak, saying when it will be disabled."""
        key = (tenant, endpoint.id)
        settings = self._settings
        if (
            self._warned.get(key) == failing_since
            or now_ms - failing_since < settings.webhook_warn_after_s * 1000
        ):
            return
        data = {
            "endpoint_id": endpoint.id,
            "url": endpoint.url,
            "failing_since": iso_ms(failing_since),
            "disable_at": iso_ms(failing_since + int(settings.webhook_disable_after_s * 1000)),
            "status_code": attempt.status,
            "error": attempt.error,
        }
        try:
            announced = await self.queue.warn_failing(
                tenant, endpoint.id, failing_since, now_ms, data
            )
        except RedisError:  # the attempt is recorded; the next failed one announces it
            log.warning("could not announce failing webhook endpoint %s", endpoint.id)
            return
        if announced:
            log.warning(
                "webhook endpoint %s of tenant %s has failed since %s (endpoint.failing sent)",
                endpoint.id,
                tenant,
                data["failing_since"],
            )
        self._warned[key] = failing_since

    # ------------------------------------------------------------------ straight from the feed

    async def _run_direct(self, key: Key, chain: Chain) -> None:
        """Send held chains of one endpoint, each message after the one before it was answered,
        up to LANE_RUN messages (fewer when another endpoint waits for a slot); a failed attempt
        stops its chain, which `settle_direct` then moves onto its lane."""
        tenant, endpoint_id = key
        sent = 0
        current: Chain | None = chain
        try:
            while current is not None:
                while current.messages and not self._stop.is_set():
                    endpoint = (await self._endpoints(tenant)).get(endpoint_id)
                    if endpoint is None:
                        endpoint = (await self._endpoints(tenant, fresh=True)).get(endpoint_id)
                    if endpoint is None or not endpoint.enabled:
                        self._drop_held(key, current)
                        return
                    if endpoint.pace != UNLIMITED:  # a rate limit set since: lanes pace it
                        self.direct.unpark(current)
                        self._paced.add(key)
                        self._fanout_wake.set()
                        return
                    if not await self._send_head(tenant, endpoint, current):
                        return
                    sent += 1
                if sent >= LANE_RUN or self._stop.is_set() or self._starved:
                    return
                if key in self._failing:  # its waiting chains move to lanes (`settle_direct`)
                    return
                current = self.direct.next_waiting(key)
        except Exception as exc:  # one bad message must not stop the worker: it goes to a lane
            log.exception("webhook delivery to %s failed unexpectedly", endpoint_id)
            if current is not None and current.messages and current.failure is None:
                attempt = Attempt(None, 0.0, error=f"{exc.__class__.__name__}: {exc}"[:500])
                self._failed_head(tenant, endpoint_id, current, attempt)

    async def _send_head(self, tenant: str, endpoint: Endpoint, chain: Chain) -> bool:
        """Attempt a chain's head: True when delivered (settled, to be logged), False when the
        attempt failed (the chain then waits to move onto its lane)."""
        feed_id, fields = chain.messages[0]
        attempt = await self._send(endpoint, feed_id, fields)
        now_ms = int(time.time() * 1000)
        outcome = classify(attempt.status)
        if outcome == "delivered":
            entry = log_entry(endpoint.id, feed_id, fields, 1, now_ms, outcome, attempt, None)
            delivered = Settled(endpoint.id, entry, order_of(fields))
            # Stored before the order's next change goes out, so a worker that dies repeats
            # at most the one change of an order it had in flight.
            ack = self.direct.last_use(chain)
            try:
                await self.queue.settled(tenant, delivered, ack)
            except RedisError:  # stored by `settle_direct` once Redis is back
                self._delivered.setdefault(tenant, []).append(delivered)
                ack = None
            late = self.direct.settle(chain)
            if late != ack:
                self._acknowledge(tenant, late)
            self._failing.discard((tenant, endpoint.id))
            self._metrics.delivery_results["delivered"].inc()
            return True
        if outcome == "gone":
            entry = log_entry(endpoint.id, feed_id, fields, 1, now_ms, "gone", attempt, None)
            await self._gone(tenant, endpoint, chain, Settled(endpoint.id, entry, order_of(fields)))
            return False
        self._failed_head(tenant, endpoint.id, chain, attempt, now_ms)
        return False

    def _failed_head(
        self,
        tenant: str,
        endpoint: str,
        chain: Chain,
        attempt: Attempt,
        now_ms: int | None = None,
    ) -> None:
        """The first attempt at a chain's head failed: the chain waits for `settle_direct` to
        move it onto its lane, due at the retry time (and the endpoint held, on Retry-After)."""
        now_ms = now_ms or int(time.time() * 1000)
        feed_id, fields = chain.messages[0]
        pause = self._pause_s(endpoint, attempt)
        next_ms = self._next_ms(attempt, 1, now_ms)
        entry = log_entry(endpoint, feed_id, fields, 1, now_ms, "retrying", attempt, next_ms)
        hold_until = now_ms + int(pause * 1000) if pause is not None else None
        self.direct.fail(chain, Failure(entry, now_ms, next_ms, hold_until))
        self._failing.add((tenant, endpoint))
        self._metrics.delivery_results["retrying"].inc()
        self._fanout_wake.set()  # for `settle_direct`

    async def _gone(self, tenant: str, endpoint: Endpoint, chain: Chain, attempt: Settled) -> None:
        """The receiver answered 410 Gone: log that attempt, disable the endpoint (its lanes are
        dropped) and drop what this worker holds for it, as the lane path does."""
        self._metrics.delivery_results["gone"].inc()
        _, done = self.direct.ids(chain)
        await self.queue.settle(tenant, [attempt], done, reached=False)
        self._taken(chain, done)
        await disable_endpoint(self._r, self.endpoints, self.queue, tenant, endpoint, GONE)
        self._cache.pop(tenant, None)
        self._drop_held((tenant, endpoint.id))

    def _drop_held(self, key: Key, *chains: Chain) -> None:
        """The endpoint is gone or disabled: forget `chains` and its waiting ones (their entries
        are acknowledged as far as they concern it)."""
        for each in [*chains, *self.direct.waiting_of(key)]:
            self._taken(each, [])
            self._metrics.delivery_results["dropped"].inc()
        self._fanout_wake.set()  # their acknowledgements

    async def settle_direct(self) -> int:
        """Store what was sent straight from the feed: log the deliveries and acknowledge the
        entries that are done, move each failed chain onto its lane (with the order's later
        changes it held) and the waiting chains of failing endpoints, and of endpoints given a
        rate limit since they were held, onto theirs. Returns how many deliveries and chains it
        stored."""
        stored = 0
        for tenant in sorted(set(self._delivered) | set(self._acks)):
            delivered, acks = self._delivered.pop(tenant, []), self._acks.pop(tenant, [])
            try:
                await self.queue.settle(tenant, delivered, acks)
            except BaseException:  # kept for the next turn
                self._delivered.setdefault(tenant, [])[:0] = delivered
                self._acks.setdefault(tenant, [])[:0] = acks
                raise
            stored += len(delivered)
        moved = 0
        for chain in self.direct.failed():
            await self._shelve(chain)
            moved += 1
        for key in list(self._failing | self._paced):
            for chain in self.direct.waiting_of(key):
                await self._requeue(chain)
                moved += 1
            self._paced.discard(key)
        if moved:
            self._lanes_stale = True
            self._wake.set()
        return stored + moved

    async def _shelve(self, chain: Chain) -> None:
        """Move a chain whose head failed onto its lane (`DeliveryQueue.shelve`); it stays in
        the book until that is stored, so a failed step is tried again."""
        failure = chain.failure
        assert failure is not None
        head_id, fields = chain.messages[0]
        ids, done = self.direct.ids(chain)
        await self.queue.shelve(
            chain.tenant,
            chain.member,
            Head(head_id, 1, failure.at_ms),
            ids,
            done,
            now_ms=failure.at_ms,
            next_ms=failure.next_ms,
            entry=failure.entry,
            order=order_of(fields),
            hold_until_ms=failure.hold_until_ms,
        )
        self._taken(chain, done)

    async def _requeue(self, chain: Chain) -> None:
        """Put a chain that waits for a slot onto its lane, due now (its endpoint fails, or is
        paced: the lane keeps its pace); one that a slot has started meanwhile is left to it."""
        if not self.direct.park(chain):  # a slot started it meanwhile: it is not waiting now
            return
        ids, done = self.direct.ids(chain)
        deliveries = [(chain.endpoint, chain.name, feed_id) for feed_id in ids]
        try:
            await self.queue.enqueue(chain.tenant, deliveries, int(time.time() * 1000), done)
        except BaseException:
            self.direct.unpark(chain)
            raise
        self._taken(chain, done)

    def _taken(self, chain: Chain, acknowledged: list[str]) -> None:
        """A chain is stored on its lane (or dropped): out of the book; the entries that no
        delivery needs any more, besides those already `acknowledged` in the same step, are
        acknowledged next."""
        _, done = self.direct.take(chain)
        for feed_id in done:
            if feed_id not in acknowledged:
                self._acknowledge(chain.tenant, feed_id)
