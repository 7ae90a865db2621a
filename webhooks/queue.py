"""Delivery lanes in Redis: what is waiting for which endpoint, and who delivers it now.

Most changes never touch a lane: the worker fanning a tenant's feed out sends them itself
(`webhooks.direct`; `route` decides, `settled` logs them). Lanes hold the rest: a change whose
first attempt failed, with the later changes of its order (`shelve`); the changes of an order
that already has a lane; those of endpoints that fail, are held or paced; replays; and
everything when `GATEWAY_WEBHOOK_DIRECT` is off.

A *lane* is one endpoint and one order (or `ops` for events of no order). Its list holds the
change-feed ids still to deliver, oldest first; only its head is ever in flight, so one order's
changes reach an endpoint in `sequence` order and a failing delivery holds back that order alone.
Each endpoint's `due` set scores its non-empty lanes with the time their head may be tried, and
the tenant's `ready` set scores each endpoint with its earliest lane. Claiming a lane moves its
score to the end of a lease, which is how many workers share the work without doing one delivery
twice at once, and how a dead worker's lanes come back. An endpoint at its in-flight cap is simply
not asked for more: its lanes stay due in its own set and never hide another endpoint's.

The steps that must not be torn apart (fan-out + acknowledge, claim + read the head, record +
advance + go on) are Lua scripts over one tenant's keys (one Redis Cluster slot).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal, cast

import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from gateway.clock import iso_ms
from gateway.storage.autopipeline import AutoPipeline
from gateway.storage.keys import SEP, TenantKeys, lane
from gateway.values import value
from webhooks.pace import UNLIMITED, Pace

GROUP = "delivery"
# Entries of a feed after an id, counted in Redis (up to ARGV[2]) so none is sent back.
UNREAD = "return #redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])"
UNREAD_COUNTED = 100_000  # where Redis keeps no lag, the backlog counts this many at most
OPS_LANE = "ops"
Json = dict[str, Any]


def held_counts(reports: Mapping[str, str], now_ms: int) -> dict[str, int]:
    """Messages held per endpoint over the workers' reports (`endpoint<US>worker` ->
    `count expiry_ms`) not past their expiry."""
    held: dict[str, int] = {}
    for field, report in reports.items():
        count, _, expiry = report.partition(" ")
        if expiry.isdigit() and int(expiry) > now_ms:
            endpoint = field.partition(SEP)[0]
            held[endpoint] = held.get(endpoint, 0) + int(count)
    return held


def script(*names: str) -> str:
    """The Lua source of `webhooks/lua/<name>`s, one after the other (shared functions first)."""
    return "\n".join((files("webhooks") / "lua" / n).read_text(encoding="utf-8") for n in names)


@value
class Head:
    """The message at a lane's head and how it has fared so far."""

    msg: str
    attempts: int = 0
    first_ms: int | None = None


@value
class Claimed:
    """A lane leased to this worker, with its head and the head's change-feed fields ({} when
    the entry was trimmed from the feed)."""

    member: str
    head: Head
    fields: dict[str, str]

    @property
    def endpoint(self) -> str:
        return split_lane(self.member)[0]


@value
class Routed:
    """A delivery to queue on its lane, or to send straight from the feed when it may (`direct`:
    see `DeliveryQueue.route`); `entry` is 1 + the index of its feed entry among those routed."""

    entry: int
    endpoint: str
    name: str  # the lane's name
    msg: str  # the change-feed id
    direct: bool = False


@value
class Settled:
    """A delivery sent straight from the feed that reached its receiver, as logged."""

    endpoint: str
    entry: Json
    order: tuple[str, str] | None


@value
class Finished:
    """What recording an attempt did: `still` is False when the lane's head had already gone
    (dropped meanwhile); `next` is the endpoint's message the caller goes on with, if any."""

    still: bool
    failing_since: int | None = None
    next: Claimed | None = None


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits to be delivered, over every tenant asked: change-feed entries not yet fanned
    out to lanes (read by no worker, or read and not yet queued), lanes with anything waiting
    (due, backing off or in flight), lanes due now that no worker has started, and how long
    the most overdue of those has been due (0 when none is)."""

    unqueued: int
    waiting_lanes: int
    due_lanes: int
    oldest_due_s: float


def split_lane(member: str) -> tuple[str, str]:
    """(endpoint id, lane name) of a due member."""
    endpoint, _, name = member.partition(SEP)
    return endpoint, name


def order_lane(platform: str, order_id: str) -> str:
    return f"{platform}{SEP}{order_id}"


def _claimed(member: str, msg: str, state: str, flat: Sequence[str]) -> Claimed:
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    if state:
        doc = orjson.loads(state)
        if doc.get("msg") == msg:
            return Claimed(member, Head(msg, doc["attempts"], doc["first_ms"]), fields)
    return Claimed(member, Head(msg), fields)


class DeliveryQueue:
    """Lanes, claims and attempts of every tenant's webhook deliveries."""

    def __init__(self, client: Redis, prefix: str, history_days: float) -> None:
        self._r = client
        self._prefix = prefix
        self.history_ms = int(history_days * 86_400_000)
        self._fanout = client.register_script(script("ready.lua", "fanout.lua"))
        self._settle = client.register_script(script("log.lua", "recovered.lua", "settle.lua"))
        self._shelve = client.register_script(script("ready.lua", "log.lua", "shelve.lua"))
        self._claim = client.register_script(script("ready.lua", "claim.lua"))
        self._finish = client.register_script(
            script("ready.lua", "log.lua", "recovered.lua", "finish.lua")
        )
        self._warn = client.register_script(script("warn.lua"))
        self._drop = client.register_script(script("ready.lua", "drop.lua"))
        self._migrate = client.register_script(script("migrate.lua"))
        self._reindex = client.register_script(script("ready.lua", "reindex.lua"))
        self._unread = client.register_script(UNREAD)
        self._held = client.register_script(script("held.lua"))
        self._pipe = AutoPipeline(client)
        self._batch: dict[str, tuple[list[Settled], list[str]]] = {}
        self._settling: list[asyncio.Future[None]] = []  # the callers of `settled` this turn
        self._writing: set[asyncio.Task[None]] = set()

    def keys(self, tenant: str) -> TenantKeys:
        return TenantKeys(self._prefix, tenant)

    async def enqueue(
        self,
        tenant: str,
        deliveries: Sequence[tuple[str, str, str]],
        now_ms: int,
        acknowledge: Sequence[str] = (),
    ) -> int:
        """Queue (endpoint id, lane name, message id) deliveries and acknowledge `acknowledge`
        (change-feed ids now fanned out) at once."""
        routed = [Routed(0, endpoint, name, msg) for endpoint, name, msg in deliveries]
        await self.route(tenant, routed, now_ms, acknowledge)
        return len(deliveries)

    async def route(
        self,
        tenant: str,
        deliveries: Sequence[Routed],
        now_ms: int,
        entries: Sequence[str] = (),
    ) -> list[int]:
        """Queue `deliveries` on their lanes, except those offered for direct sending that may
        go (`lua/fanout.lua`): their indexes come back, for the caller to send. Each of
        `entries` (change-feed ids; a delivery's `entry` is 1 + its index there) with no
        delivery left to the caller is acknowledged in the same step."""
        k = self.keys(tenant)
        keys = [k.changes, k.webhook_ready, k.webhook_failing, k.webhook_holds]
        args: list[Any] = [GROUP if entries else "", now_ms, len(entries), *entries]
        for d in deliveries:
            member = lane(d.endpoint, d.name)
            keys += [k.webhook_lane(member), k.webhook_due(d.endpoint)]
            args += [d.entry, d.msg, member, d.endpoint, "d" if d.direct else "q"]
        picked = cast(list[int], await self._fanout(keys=keys, args=args))
        return [int(i) - 1 for i in picked]

    async def settle(
        self,
        tenant: str,
        delivered: Sequence[Settled],
        acknowledge: Sequence[str],
        *,
        reached: bool = True,
    ) -> None:
        """Log deliveries sent straight from the feed and acknowledge `acknowledge`, in one step
        (`lua/settle.lua`). Deliveries that `reached` their receivers end their endpoints'
        failure streaks (and an announced one with `endpoint.recovered`); a 410 Gone did not."""
        if delivered or acknowledge:
            call = self._settle_call(tenant, delivered, acknowledge, reached=reached)
            await self._run(self._settle, *call)

    async def settled(self, tenant: str, delivered: Settled, acknowledge: str | None) -> None:
        """`settle` one delivery, written with every other one settled in this loop turn (one
        `lua/settle.lua` run per tenant): returns once it is stored.

        Each caller waits on a future of its own, settled by the write: a caller that is
        cancelled leaves the write to go on for the others (half the cost of a shared future
        behind `asyncio.shield`)."""
        loop = asyncio.get_running_loop()
        if not self._settling:
            loop.call_soon(self._flush_settled)
        stored: asyncio.Future[None] = loop.create_future()
        self._settling.append(stored)
        found, acks = self._batch.setdefault(tenant, ([], []))
        found.append(delivered)
        if acknowledge is not None:
            acks.append(acknowledge)
        await stored

    def _flush_settled(self) -> None:
        batch, waiting = self._batch, self._settling
        self._batch, self._settling = {}, []
        calls = [self._settle_call(t, found, acks) for t, (found, acks) in batch.items()]

        async def write() -> None:
            try:
                await self._pipe.run_scripts(self._settle, calls)
            except Exception as exc:
                for stored in waiting:
                    if not stored.done():  # not a caller that was cancelled meanwhile
                        stored.set_exception(exc)
            else:
                for stored in waiting:
                    if not stored.done():
                        stored.set_result(None)

        task = asyncio.get_running_loop().create_task(write())
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    def _settle_call(
        self,
        tenant: str,
        delivered: Sequence[Settled],
        acknowledge: Sequence[str],
        *,
        reached: bool = True,
    ) -> tuple[list[str], list[Any]]:
        k = self.keys(tenant)
        keys = [k.changes, k.webhook_failing, k.webhook_warned, k.webhooks]
        now_ms = int(time.time() * 1000)
        args: list[Any] = [
            GROUP,
            self.keep_from(now_ms),
            int(self.history_ms / 1000),
            iso_ms(now_ms) if reached else "",
            len(acknowledge),
            *acknowledge,
        ]
        for d in delivered:
            log = k.webhook_log(d.endpoint)
            keys += [log, *k.order_logs(d.order, log)]
            args += [d.endpoint, orjson.dumps(d.entry).decode()]
        return keys, args

    async def shelve(
        self,
        tenant: str,
        member: str,
        head: Head,
        messages: Sequence[str],
        acknowledge: Sequence[str],
        *,
        now_ms: int,
        next_ms: int,
        entry: Json,
        order: tuple[str, str] | None,
        hold_until_ms: int | None = None,
    ) -> None:
        """Put a chain sent straight from the feed onto its lane after its head's first attempt
        failed (`head` counts that attempt), log the attempt, acknowledge `acknowledge`
        (`lua/shelve.lua`)."""
        k = self.keys(tenant)
        endpoint, _ = split_lane(member)
        log = k.webhook_log(endpoint)
        order_log, order_stream = k.order_logs(order, log)
        keys = [
            k.webhook_lane(member),
            k.webhook_heads,
            k.webhook_due(endpoint),
            k.webhook_ready,
            k.webhook_failing,
            k.webhook_holds,
            log,
            order_log,
            k.changes,
            order_stream,
        ]
        state = {"msg": head.msg, "attempts": head.attempts, "first_ms": head.first_ms}
        args: list[Any] = [
            member,
            endpoint,
            orjson.dumps(state).decode(),
            next_ms,
            now_ms,
            orjson.dumps(entry).decode(),
            self.keep_from(now_ms),
            int(self.history_ms / 1000),
            hold_until_ms if hold_until_ms is not None else "",
            GROUP,
            len(messages),
            *messages,
            len(acknowledge),
            *acknowledge,
        ]
        await self._run(self._shelve, keys, args)

    async def warn_failing(
        self, tenant: str, endpoint: str, since_ms: int, now_ms: int, data: Json
    ) -> bool:
        """Announce `endpoint`'s failure streak that began at `since_ms` with an
        `endpoint.failing` event, once, if it is still going on (`lua/warn.lua`); whether it
        was announced now."""
        k = self.keys(tenant)
        keys = [k.webhook_failing, k.webhook_warned, k.changes]
        args = [
            endpoint,
            since_ms,
            iso_ms(since_ms),
            self.keep_from(now_ms),
            iso_ms(now_ms),
            orjson.dumps(data).decode(),
        ]
        return bool(await self._run(self._warn, keys, args))

    async def migrate(self, tenants: Sequence[str]) -> int:
        """Move the lanes of an earlier version's single due set into the per-endpoint ones;
        how many lanes moved (0 once done)."""
        if not tenants:
            return 0
        calls = []
        for tenant in tenants:
            k = self.keys(tenant)
            calls.append(([k.webhook_due_legacy, k.webhook_ready], [k.webhook_due("")]))
        return sum(int(m) for m in await self._pipe.run_scripts(self._migrate, calls))

    async def repair(self, endpoints: Mapping[str, Sequence[str]]) -> int:
        """Re-derive each tenant's ready set from the due sets of its endpoints (tenant ->
        endpoint ids), in one round trip; how many entries were wrong."""
        asked = [(tenant, ids) for tenant, ids in endpoints.items() if ids]
        if not asked:
            return 0
        calls = []
        for tenant, ids in asked:
            k = self.keys(tenant)
            keys = [k.webhook_ready, k.webhook_holds, *(k.webhook_due(e) for e in ids)]
            calls.append((keys, list(ids)))
        return sum(int(f) for f in await self._pipe.run_scripts(self._reindex, calls))

    async def with_due(self, tenants: Sequence[str], now_ms: int) -> list[tuple[str, list[str]]]:
        """(tenant, its endpoints with a lane due now, earliest first), asked in one round
        trip; tenants with nothing due are left out."""
        if not tenants:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                pipe.zrangebyscore(self.keys(tenant).webhook_ready, "-inf", now_ms)
            replies = await pipe.execute()
        return [(t, list(due)) for t, due in zip(tenants, replies, strict=True) if due]

    async def backlog(self, endpoints: Mapping[str, Sequence[str]], now_ms: int) -> Backlog:
        """The delivery backlog of the tenants in `endpoints` (tenant -> endpoint ids), in one
        round trip (two on a Redis without consumer-group lag): what an operator alerts on when
        deliveries stall."""
        tenants = list(endpoints)
        if not tenants:
            return Backlog(0, 0, 0, 0.0)
        async with self._r.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                k = self.keys(tenant)
                pipe.xinfo_groups(k.changes)
                pipe.zrange(k.webhook_ready, 0, 0, withscores=True)
                for endpoint in endpoints[tenant]:
                    pipe.zcard(k.webhook_due(endpoint))
                    pipe.zcount(k.webhook_due(endpoint), "-inf", now_ms)
            replies = iter(await pipe.execute(raise_on_error=False))
        unqueued = waiting = due = 0
        oldest: float | None = None
        uncounted: list[tuple[str, str]] = []  # (feed, last id read) where Redis gave no lag
        for tenant in tenants:
            groups, first = next(replies), next(replies)
            for group in groups if isinstance(groups, list) else ():  # no feed yet: an error
                if group.get("name") != GROUP:
                    continue
                unqueued += int(group.get("pending") or 0)
                if isinstance(group.get("lag"), int):
                    unqueued += group["lag"]
                else:  # Redis before 7 (the embedded server), or a lag it cannot tell
                    uncounted.append((self.keys(tenant).changes, group["last-delivered-id"]))
            if first and first[0][1] <= now_ms:
                oldest = first[0][1] if oldest is None else min(oldest, first[0][1])
            for _ in endpoints[tenant]:
                waiting += int(next(replies))
                due += int(next(replies))
        if uncounted:
            calls = [([feed], [f"({last}", UNREAD_COUNTED]) for feed, last in uncounted]
            unqueued += sum(int(n) for n in await self._pipe.run_scripts(self._unread, calls))
        lag = (now_ms - oldest) / 1000 if oldest is not None else 0.0
        return Backlog(unqueued, waiting, due, lag)

    async def claim(
        self,
        tenant: str,
        rooms: Mapping[str, int],
        now_ms: int,
        lease_ms: int,
        paces: Mapping[str, Pace] | None = None,
    ) -> list[Claimed]:
        """Due lanes of `tenant`, at most `rooms[endpoint]` of each endpoint there and as many
        as its pace (`paces[endpoint]`, default unlimited) lets start now, leased to the caller
        until `now_ms + lease_ms`, each with its head."""
        asked = [(endpoint, room) for endpoint, room in rooms.items() if room > 0]
        if not asked:
            return []
        paces = paces or {}
        k = self.keys(tenant)
        keys = [k.webhook_ready, k.webhook_heads, k.changes, k.webhook_holds]
        args: list[Any] = [now_ms, now_ms + lease_ms, k.webhook_lane_prefix]
        for endpoint, room in asked:
            keys.append(k.webhook_due(endpoint))
            args += [endpoint, room, *paces.get(endpoint, UNLIMITED).args()]
        reply = cast(list[list[Any]], await self._run(self._claim, keys, args))
        return [_claimed(member, msg, state, flat) for member, msg, state, flat in reply]

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """One run of `script`, in the loop turn's pipeline."""
        return (await self._pipe.run_scripts(script, [(keys, args)]))[0]

    async def finish(
        self,
        tenant: str,
        member: str,
        head: Head,
        outcome: Literal["delivered", "retry", "failed"],
        *,
        now_ms: int,
        next_ms: int,
        entry: Json,
        order: tuple[str, str] | None,
        keep_until_ms: int | None = None,
        pace: Pace = UNLIMITED,
        hold_until_ms: int | None = None,
    ) -> Finished:
        """Record an attempt and move the lane on.

        With `keep_until_ms`, the endpoint's next message (the lane's next one, else the head of
        its next due lane) is leased to the caller until then and comes back as `next`, to be
        sent at once without a claim of its own, when the endpoint's `pace` lets it start now.
        `hold_until_ms` (the receiver asked to wait) holds every attempt of the endpoint until
        then."""
        k = self.keys(tenant)
        endpoint, _ = split_lane(member)
        log = k.webhook_log(endpoint)
        order_log, order_stream = k.order_logs(order, log)
        keys = [
            k.webhook_due(endpoint),
            k.webhook_lane(member),
            k.webhook_heads,
            k.webhook_failing,
            log,
            order_log,
            k.changes,
            k.webhook_ready,
            k.webhook_holds,
            k.webhook_warned,
            k.webhooks,
            order_stream,
        ]
        state = {"msg": head.msg, "attempts": head.attempts + 1, "first_ms": head.first_ms}
        args: list[str | int] = [
            member,
            head.msg,
            outcome,
            next_ms,
            now_ms,
            orjson.dumps(state).decode(),
            orjson.dumps(entry).decode(),
            self.keep_from(now_ms),
            endpoint,
            int(self.history_ms / 1000),
            keep_until_ms if keep_until_ms is not None else "",
            k.webhook_lane_prefix,
            *pace.args(),
            hold_until_ms if hold_until_ms is not None else "",
            iso_ms(now_ms),
        ]
        reply = cast(list[Any], await self._run(self._finish, keys, args))
        if reply[0] == "stale":
            return Finished(still=False)
        failing = int(reply[1]) if reply[1] else None
        if reply[0] == "more":
            return Finished(True, failing, _claimed(reply[2], reply[3], reply[4], reply[5]))
        return Finished(True, failing)

    async def drop_lane(self, tenant: str, member: str) -> None:
        """Forget a lane and what waits in it (its endpoint is gone or disabled)."""
        k = self.keys(tenant)
        endpoint, _ = split_lane(member)
        keys = [
            k.webhook_lane(member),
            k.webhook_heads,
            k.webhook_due(endpoint),
            k.webhook_ready,
            k.webhook_holds,
        ]
        await self._drop(keys=keys, args=[member, endpoint])

    async def drop_endpoint(self, tenant: str, endpoint: str) -> int:
        """Forget every lane of an endpoint; returns how many there were."""
        members = await self._lanes(tenant, endpoint)
        for member in members:
            await self.drop_lane(tenant, member)
        return len(members)

    async def pending(self, tenant: str, endpoint: str) -> int:
        """How many messages wait for the endpoint, over all its lanes."""
        return (await self.pending_many(tenant, [endpoint]))[endpoint]

    async def pending_many(self, tenant: str, endpoints: Sequence[str]) -> dict[str, int]:
        """How many messages wait for each endpoint, in two round trips: on its lanes, and held
        by workers to send straight from the feed (as they last reported, `report_held`)."""
        k = self.keys(tenant)
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.webhook_held)
            for endpoint in endpoints:
                pipe.zrange(k.webhook_due(endpoint), 0, -1)
            reports, *found = await pipe.execute()
        lanes = cast(list[list[str]], found)
        async with self._r.pipeline(transaction=False) as pipe:
            for members in lanes:
                for member in members:
                    pipe.llen(k.webhook_lane(member))
            counts = iter(cast(list[int], await pipe.execute()))
        held = held_counts(cast(dict[str, str], reports), int(time.time() * 1000))
        waiting = zip(endpoints, lanes, strict=True)
        return {
            endpoint: held.get(endpoint, 0) + sum(next(counts) for _ in members)
            for endpoint, members in waiting
        }

    async def report_held(
        self, worker: str, held: Mapping[str, Mapping[str, int]], now_ms: int, until_ms: int
    ) -> None:
        """Store what `worker` holds, per tenant and endpoint (0: nothing any more), until
        `until_ms`; reports past their expiry go on the way."""
        calls = [
            (
                [self.keys(tenant).webhook_held],
                [
                    now_ms,
                    until_ms,
                    *(x for e, n in counts.items() for x in (f"{e}{SEP}{worker}", n)),
                ],
            )
            for tenant, counts in held.items()
        ]
        await self._pipe.run_scripts(self._held, calls)

    async def failing_since(self, tenant: str, endpoints: Sequence[str]) -> list[int | None]:
        """For each endpoint, the ms of its first failure since its last success (None: its
        latest attempt succeeded, or it has had none)."""
        if not endpoints:
            return []
        found = cast(
            list[str | None], await self._r.hmget(self.keys(tenant).webhook_failing, endpoints)
        )
        return [int(f) if f is not None else None for f in found]

    async def held_until(
        self, tenant: str, endpoints: Sequence[str], now_ms: int
    ) -> list[int | None]:
        """For each endpoint, the ms before which no attempt of it starts, None when one may
        start now."""
        if not endpoints:
            return []
        found = cast(
            list[str | None], await self._r.hmget(self.keys(tenant).webhook_holds, endpoints)
        )
        return [int(float(f)) if f is not None and float(f) > now_ms else None for f in found]

    async def _lanes(self, tenant: str, endpoint: str) -> list[str]:
        return cast(list[str], await self._r.zrange(self.keys(tenant).webhook_due(endpoint), 0, -1))

    async def log_only(self, tenant: str, endpoint: str, entry: Json) -> None:
        """Log an attempt that belongs to no lane (a test send)."""
        now_ms = int(time.time() * 1000)
        await self._r.xadd(
            self.keys(tenant).webhook_log(endpoint),
            {"doc": orjson.dumps(entry).decode()},
            minid=self.keep_from(now_ms),
            approximate=True,
        )

    def keep_from(self, now_ms: int) -> str:
        return f"{max(0, now_ms - self.history_ms)}-0"
