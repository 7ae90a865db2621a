"""Delivery lanes against the real test Redis: leases, lane order, stale finishes, drops; routing
straight from the feed, settling and shelving (`webhooks.direct`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, cast

import orjson
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.clock import iso_ms
from gateway.settings import Settings
from gateway.storage import client_for
from webhooks.pace import UNLIMITED, Pace
from webhooks.queue import (
    GROUP,
    Backlog,
    Claimed,
    DeliveryQueue,
    Finished,
    Head,
    Routed,
    Settled,
    held_counts,
    order_lane,
)

NOW = 1_800_000_000_000  # ms
Json = dict[str, Any]
Test = Callable[[DeliveryQueue, str], Awaitable[None]]


def run(settings: Settings, test: Test) -> None:
    async def main() -> None:
        client = client_for(settings.redis_url or "")
        try:
            queue = DeliveryQueue(client, settings.redis_prefix, settings.history_days)
            await test(queue, f"q{uuid.uuid4().hex[:10]}")
        finally:
            await client.aclose()

    asyncio.run(main())


LANE = order_lane("cscart", "7")
MEMBER = f"ep_a\x1f{LANE}"
LEASE = 30_000


async def claim(queue: DeliveryQueue, tenant: str, now_ms: int, room: int = 10) -> list[Claimed]:
    """Every due lane of every endpoint with something due (up to `room` each), as a worker
    with room claims them."""
    due = dict(await queue.with_due([tenant], now_ms)).get(tenant, [])
    return await queue.claim(tenant, dict.fromkeys(due, room), now_ms, LEASE)


async def members(queue: DeliveryQueue, tenant: str, now_ms: int) -> list[str]:
    return [c.member for c in await claim(queue, tenant, now_ms)]


async def order_log(queue: DeliveryQueue, tenant: str, order: tuple[str, str]) -> list[str]:
    """The endpoints of the order's log entries, oldest first, once it is checked that each is
    a reference to an entry of its endpoint's log (the order's log holds no copies)."""
    k = queue.keys(tenant)
    found = cast(list[str], await queue._r.zrange(k.order_deliveries(*order), 0, -1))
    refs = [m.split(" ") for m in found]
    for at, endpoint in refs:
        assert await queue._r.xrange(k.webhook_log(endpoint), at, at)
    return [endpoint for _, endpoint in refs]


async def finish(
    queue: DeliveryQueue,
    tenant: str,
    claimed: Claimed,
    now_ms: int = NOW,
    *,
    outcome: Literal["delivered", "retry", "failed"] = "delivered",
    next_ms: int = NOW,
    keep_until_ms: int | None = None,
    pace: Pace = UNLIMITED,
    hold_until_ms: int | None = None,
    order: tuple[str, str] | None = None,
) -> Finished:
    return await queue.finish(
        tenant,
        claimed.member,
        claimed.head,
        outcome,
        now_ms=now_ms,
        next_ms=next_ms,
        entry={},
        order=order,
        keep_until_ms=keep_until_ms,
        pace=pace,
        hold_until_ms=hold_until_ms,
    )


def test_a_claimed_lane_is_not_claimed_again_until_its_lease_ends(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0")], NOW)
        rooms = {"ep_a": 10}
        first, second = await asyncio.gather(
            queue.claim(tenant, rooms, NOW, LEASE), queue.claim(tenant, rooms, NOW, LEASE)
        )
        assert sorted([first, second], key=len) == [[], [Claimed(MEMBER, Head("1-0"), {})]]
        assert await claim(queue, tenant, NOW + LEASE - 1) == []
        # the worker died: after the lease the lane is due again, with the same head (not in
        # the feed: no fields)
        assert await claim(queue, tenant, NOW + LEASE) == [Claimed(MEMBER, Head("1-0"), {})]

    run(settings, test)


def test_a_claim_carries_the_heads_change_feed_entry(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        feed_id = await queue._r.xadd(queue.keys(tenant).changes, {"type": "t", "n": "1"})
        await queue.enqueue(tenant, [("ep_a", LANE, str(feed_id))], NOW)
        [claimed] = await claim(queue, tenant, NOW)
        assert claimed.fields == {"type": "t", "n": "1"}

    run(settings, test)


def test_a_lane_delivers_its_messages_in_order_and_is_forgotten_when_empty(
    settings: Settings,
) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_a", LANE, "2-0")], NOW)
        seen = []
        for step in range(2):
            [claimed] = await claim(queue, tenant, NOW + step)
            seen.append(claimed.head.msg)
            assert (await finish(queue, tenant, claimed, NOW + step)).still
        assert seen == ["1-0", "2-0"]
        assert await claim(queue, tenant, NOW + 10**9) == []
        assert await queue.pending(tenant, "ep_a") == 0
        assert await queue.with_due([tenant], NOW + 10**9) == []  # nothing left in `ready`

    run(settings, test)


def test_a_worker_going_on_gets_the_lanes_next_message_then_the_endpoints_next_lane(
    settings: Settings,
) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        other = order_lane("cscart", "8")
        await queue.enqueue(
            tenant,
            [("ep_a", LANE, "1-0"), ("ep_a", LANE, "2-0"), ("ep_b", LANE, "3-0")],
            NOW,
        )
        await queue.enqueue(tenant, [("ep_a", other, "4-0")], NOW + 1)
        [claimed] = await queue.claim(tenant, {"ep_a": 1}, NOW + 1, LEASE)
        lease_end = NOW + 1 + LEASE
        seen = []
        while True:
            seen.append((claimed.member, claimed.head.msg))
            done = await finish(queue, tenant, claimed, NOW + 1, keep_until_ms=lease_end)
            assert done.still
            if done.next is None:
                break
            claimed = done.next
            # nobody else can claim what this worker goes on with, until the lease's end
            due = queue.keys(tenant).webhook_due("ep_a")
            assert await queue._r.zscore(due, claimed.member) == lease_end
        assert seen == [(MEMBER, "1-0"), (MEMBER, "2-0"), (f"ep_a\x1f{other}", "4-0")]
        assert await queue.pending(tenant, "ep_a") == 0
        assert await queue.pending(tenant, "ep_b") == 1  # never handed to ep_a's worker

    run(settings, test)


def test_a_lane_a_worker_does_not_go_on_with_is_due_again_at_once(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_a", LANE, "2-0")], NOW)
        [claimed] = await claim(queue, tenant, NOW)
        assert (await finish(queue, tenant, claimed)).next is None
        assert await claim(queue, tenant, NOW) == [Claimed(MEMBER, Head("2-0"), {})]

    run(settings, test)


def test_a_finished_attempt_is_logged_once_and_its_order_refers_to_it(
    settings: Settings,
) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        now = int(time.time() * 1000)  # the log keeps what is younger than the history
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_a", LANE, "2-0")], now)
        [claimed] = await claim(queue, tenant, now)
        order = ("cscart", "7")
        await finish(queue, tenant, claimed, now, outcome="retry", next_ms=now, order=order)
        [claimed] = await claim(queue, tenant, now)
        await finish(queue, tenant, claimed, now, order=order)
        assert await queue._r.xlen(queue.keys(tenant).webhook_log("ep_a")) == 2
        assert await order_log(queue, tenant, ("cscart", "7")) == ["ep_a", "ep_a"]

    run(settings, test)


def test_a_retry_keeps_the_head_and_counts_attempts(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_a", LANE, "2-0")], NOW)
        [claimed] = await claim(queue, tenant, NOW)
        first = Claimed(claimed.member, Head("1-0", 0, NOW), {})
        done = await finish(queue, tenant, first, outcome="retry", next_ms=NOW + 5_000)
        assert done.failing_since == NOW
        assert await claim(queue, tenant, NOW + 4_999) == []
        assert await claim(queue, tenant, NOW + 5_000) == [Claimed(MEMBER, Head("1-0", 1, NOW), {})]
        assert await queue.pending(tenant, "ep_a") == 2

    run(settings, test)


def test_an_endpoint_at_its_cap_hides_nothing_of_the_others(settings: Settings) -> None:
    """The worker asks only for endpoints with room: a full endpoint's many due lanes are not
    looked at (nor pushed back), and another endpoint's later lanes are claimed at once."""

    async def test(queue: DeliveryQueue, tenant: str) -> None:
        busy = [("ep_a", order_lane("cscart", str(n)), f"{n}-0") for n in range(50)]
        await queue.enqueue(tenant, busy, NOW)
        await queue.enqueue(tenant, [("ep_b", LANE, "99-0")], NOW + 10)
        assert await queue.with_due([tenant], NOW + 10) == [(tenant, ["ep_a", "ep_b"])]
        got = await queue.claim(tenant, {"ep_a": 3, "ep_b": 10}, NOW + 10, LEASE)
        assert [c.endpoint for c in got] == ["ep_a"] * 3 + ["ep_b"]
        # ep_a's other lanes are still due now, untouched
        assert await queue.with_due([tenant], NOW + 10) == [(tenant, ["ep_a"])]
        assert len(await queue.claim(tenant, {"ep_a": 100}, NOW + 10, LEASE)) == 47

    run(settings, test)


def test_finishing_a_lane_that_was_dropped_meanwhile_changes_nothing(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_b", LANE, "1-0")], NOW)
        assert await queue.drop_endpoint(tenant, "ep_a") == 1
        gone = Claimed(MEMBER, Head("1-0"), {})
        assert not (await finish(queue, tenant, gone, keep_until_ms=NOW + LEASE)).still
        assert await members(queue, tenant, NOW) == [f"ep_b\x1f{LANE}"]

    run(settings, test)


@pytest.mark.parametrize("endpoint", ["ep_*", "ep_[a]", "ep_?"])
def test_dropping_an_endpoint_whose_id_looks_like_a_pattern_drops_only_it(
    settings: Settings, endpoint: str
) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [(endpoint, LANE, "1-0"), ("ep_a", LANE, "1-0")], NOW)
        assert await queue.drop_endpoint(tenant, endpoint) == 1
        assert await queue.pending(tenant, "ep_a") == 1
        assert await queue.with_due([tenant], NOW) == [(tenant, ["ep_a"])]

    run(settings, test)


def test_lanes_queued_by_an_earlier_version_are_moved_to_their_endpoints(
    settings: Settings,
) -> None:
    """Before per-endpoint due sets, one set held every endpoint's lanes: a worker's first look
    at the tenant moves them, with their due times, and they are delivered as before."""

    async def test(queue: DeliveryQueue, tenant: str) -> None:
        k = queue.keys(tenant)
        other = f"ep_b\x1f{LANE}"
        await queue._r.zadd(k.webhook_due_legacy, {MEMBER: NOW + 5, other: NOW + 100})
        await queue._r.rpush(k.webhook_lane(MEMBER), "1-0")
        await queue._r.rpush(k.webhook_lane(other), "2-0")
        assert await queue.migrate([tenant]) == 2
        assert await queue.migrate([tenant]) == 0
        assert not await queue._r.exists(k.webhook_due_legacy)
        assert await members(queue, tenant, NOW + 5) == [MEMBER]
        assert await members(queue, tenant, NOW + 100) == [other]

    run(settings, test)


def test_a_ready_set_out_of_step_with_the_lanes_is_repaired(settings: Settings) -> None:
    """Were a script cut short after moving a lane but before updating the ready set (Redis
    keeps a failed script's earlier writes), the lane would never be claimed; `repair` puts the
    ready set right from the due sets and says how many entries were wrong."""

    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_b", LANE, "2-0")], NOW)
        k = queue.keys(tenant)
        await queue._r.zrem(k.webhook_ready, "ep_a")  # lost: ep_a's lane is invisible
        await queue._r.zadd(k.webhook_ready, {"ep_gone": NOW})  # an endpoint with no lanes
        await queue._r.zadd(k.webhook_ready, {"ep_b": NOW + 10**9})  # wrong time
        assert await queue.with_due([tenant], NOW) == [(tenant, ["ep_gone"])]
        assert await queue.repair({tenant: ["ep_a", "ep_b", "ep_gone"]}) == 3
        assert await queue.repair({tenant: ["ep_a", "ep_b", "ep_gone"]}) == 0
        assert await queue.with_due([tenant], NOW) == [(tenant, ["ep_a", "ep_b"])]
        assert sorted(await members(queue, tenant, NOW)) == [MEMBER, f"ep_b\x1f{LANE}"]

    run(settings, test)


def test_the_backlog_counts_unqueued_entries_waiting_and_due_lanes_and_the_oldest_due(
    settings: Settings,
) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        empty = await queue.backlog({tenant: ["ep_a", "ep_b"]}, NOW)
        assert empty == Backlog(0, 0, 0, 0.0)  # no feed, no lanes
        changes = queue.keys(tenant).changes
        await queue._r.xgroup_create(changes, GROUP, id="0", mkstream=True)
        ids = [str(await queue._r.xadd(changes, {"type": "t", "n": str(n)})) for n in range(5)]
        await queue._r.xreadgroup(GROUP, "w", {changes: ">"}, count=2)  # read, not queued yet
        assert (await queue.backlog({tenant: []}, NOW)).unqueued == 5
        await queue.enqueue(tenant, [("ep_a", LANE, ids[0])], NOW - 4_000, acknowledge=ids[:1])
        await queue.enqueue(tenant, [("ep_b", LANE, ids[1])], NOW - 1_000, acknowledge=ids[1:2])
        other = order_lane("cscart", "8")
        await queue.enqueue(tenant, [("ep_b", other, ids[1])], NOW + 60_000)
        backlog = await queue.backlog({tenant: ["ep_a", "ep_b"]}, NOW)
        assert backlog == Backlog(unqueued=3, waiting_lanes=3, due_lanes=2, oldest_due_s=4.0)
        await claim(queue, tenant, NOW)  # started: leased into the future, no longer due
        after = await queue.backlog({tenant: ["ep_a", "ep_b"]}, NOW)
        assert (after.waiting_lanes, after.due_lanes, after.oldest_due_s) == (3, 0, 0.0)

    run(settings, test)


async def feed_with_group(queue: DeliveryQueue, tenant: str, n: int) -> list[str]:
    """`n` feed entries, read by a worker of the delivery group (pending, not acknowledged)."""
    changes = queue.keys(tenant).changes
    await queue._r.xgroup_create(changes, GROUP, id="0", mkstream=True)
    ids = [str(await queue._r.xadd(changes, {"type": "t", "n": str(i)})) for i in range(n)]
    await queue._r.xreadgroup(GROUP, "w", {changes: ">"})
    return ids


async def pending_ids(queue: DeliveryQueue, tenant: str) -> list[str]:
    found = await queue._r.xpending_range(queue.keys(tenant).changes, GROUP, "-", "+", 100)
    return [str(p["message_id"]) for p in found]


def test_routing_leaves_to_the_caller_only_what_nothing_waits_before(settings: Settings) -> None:
    """A delivery offered for direct sending goes to the caller unless its order's lane already
    waits (then it joins the lane, behind), its endpoint is failing, or a Retry-After holds it;
    an entry is acknowledged when none of its deliveries was left to the caller."""

    async def test(queue: DeliveryQueue, tenant: str) -> None:
        ids = await feed_with_group(queue, tenant, 4)
        k = queue.keys(tenant)
        await queue.enqueue(tenant, [("ep_a", order_lane("cscart", "9"), "0-1")], NOW)
        await queue._r.hset(k.webhook_failing, "ep_f", NOW)
        await queue._r.hset(k.webhook_holds, "ep_h", NOW + 5_000)
        routed = [
            Routed(1, "ep_a", LANE, ids[0], direct=True),  # nothing waits: the caller's
            Routed(1, "ep_b", LANE, ids[0], direct=False),  # not offered: queued
            Routed(2, "ep_a", order_lane("cscart", "9"), ids[1], direct=True),  # lane waits
            Routed(3, "ep_f", LANE, ids[2], direct=True),  # failing
            Routed(4, "ep_h", LANE, ids[3], direct=True),  # held
        ]
        assert await queue.route(tenant, routed, NOW, ids) == [0]
        assert await pending_ids(queue, tenant) == [ids[0]]  # the rest acknowledged
        lane_9 = f"ep_a\x1f{order_lane('cscart', '9')}"
        assert await queue._r.lrange(k.webhook_lane(lane_9), 0, -1) == ["0-1", ids[1]]
        assert await queue._r.llen(k.webhook_lane(MEMBER)) == 0
        assert await queue.pending(tenant, "ep_b") == 1
        assert await queue.pending(tenant, "ep_f") == 1
        assert await queue.pending(tenant, "ep_h") == 1

    run(settings, test)


def test_settling_logs_the_deliveries_clears_failing_and_acknowledges(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        ids = await feed_with_group(queue, tenant, 2)
        k = queue.keys(tenant)
        await queue._r.hset(k.webhook_failing, "ep_a", NOW)
        entry = {"msg_id": f"msg_{ids[0]}", "result": "delivered"}
        delivered = Settled("ep_a", entry, ("cscart", "7"))
        await asyncio.gather(
            queue.settled(tenant, delivered, ids[0]), queue.settled(tenant, delivered, None)
        )
        assert await pending_ids(queue, tenant) == [ids[1]]
        assert await queue._r.xlen(k.webhook_log("ep_a")) == 2
        assert await order_log(queue, tenant, ("cscart", "7")) == ["ep_a", "ep_a"]
        assert await queue._r.ttl(k.order_deliveries("cscart", "7")) > 0
        assert not await queue._r.hexists(k.webhook_failing, "ep_a")

    run(settings, test)


def test_a_caller_that_leaves_does_not_stop_the_others_settling(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        ids = await feed_with_group(queue, tenant, 2)
        k = queue.keys(tenant)
        entry = {"result": "delivered"}
        leaving = asyncio.ensure_future(
            queue.settled(tenant, Settled("ep_a", entry, ("cscart", "7")), ids[0])
        )
        staying = asyncio.ensure_future(
            queue.settled(tenant, Settled("ep_a", entry, ("cscart", "8")), ids[1])
        )
        await asyncio.sleep(0)  # both joined this turn's write
        leaving.cancel()
        await staying
        assert leaving.cancelled()
        assert await queue._r.xlen(k.webhook_log("ep_a")) == 2  # the write went on for both
        assert await pending_ids(queue, tenant) == []

    run(settings, test)


def test_a_failed_settling_write_is_raised_to_every_caller() -> None:
    async def main() -> None:
        client = client_for("redis://127.0.0.1:1/0")  # nothing listens there
        try:
            queue = DeliveryQueue(client, "nowhere", 30)
            entry = {"result": "delivered"}
            results = await asyncio.gather(
                queue.settled("t", Settled("ep_a", entry, ("cscart", "7")), "1-0"),
                queue.settled("t", Settled("ep_b", entry, None), None),
                return_exceptions=True,
            )
            assert [type(r) for r in results] == [RedisConnectionError, RedisConnectionError]
        finally:
            await client.aclose()

    asyncio.run(main())


def test_one_settling_clears_every_endpoint_it_delivered_to_and_no_other(
    settings: Settings,
) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        ids = await feed_with_group(queue, tenant, 3)
        k = queue.keys(tenant)
        await queue._r.hset(k.webhook_failing, mapping={"ep_a": NOW, "ep_b": NOW, "ep_c": NOW})
        entry = {"result": "delivered"}
        await queue.settle(
            tenant,
            [
                Settled("ep_a", entry, ("cscart", "7")),
                Settled("ep_b", entry, ("cscart", "7")),
                Settled("ep_a", entry, ("cscart", "8")),
            ],
            ids,
        )
        assert await queue._r.hkeys(k.webhook_failing) == ["ep_c"]
        assert await queue._r.xlen(k.webhook_log("ep_a")) == 2
        assert await order_log(queue, tenant, ("cscart", "7")) == ["ep_a", "ep_b"]
        assert await pending_ids(queue, tenant) == []

    run(settings, test)


def test_a_shelved_chain_goes_in_front_of_its_lane_due_at_the_retry(settings: Settings) -> None:
    """A chain whose head failed becomes its lane's head (attempt 1 counted), with the changes
    it held behind it and in front of what was queued there meanwhile (a replay); the lane is
    due at the retry time; the endpoint counts as failing; a Retry-After holds it."""

    async def test(queue: DeliveryQueue, tenant: str) -> None:
        now = int(time.time() * 1000)  # the log keeps what is younger than the history
        ids = await feed_with_group(queue, tenant, 3)
        k = queue.keys(tenant)
        await queue.enqueue(tenant, [("ep_a", LANE, "0-9")], now)  # a replay, queued meanwhile
        entry = {"msg_id": f"msg_{ids[0]}", "result": "retrying"}
        await queue.shelve(
            tenant,
            MEMBER,
            Head(ids[0], 1, now),
            ids[:2],
            ids[1:2],
            now_ms=now,
            next_ms=now + 5_000,
            entry=entry,
            order=("cscart", "7"),
            hold_until_ms=now + 60_000,
        )
        lane_ids = await queue._r.lrange(k.webhook_lane(MEMBER), 0, -1)
        assert lane_ids == [ids[0], ids[1], "0-9"]
        assert await pending_ids(queue, tenant) == [ids[0], ids[2]]
        assert await queue._r.hget(k.webhook_failing, "ep_a") == str(now)
        assert await queue.held_until(tenant, ["ep_a"], now) == [now + 60_000]
        assert await claim(queue, tenant, now + 59_999) == []  # held
        [claimed] = await claim(queue, tenant, now + 60_000)
        assert claimed.head == Head(ids[0], 1, now)
        assert await queue._r.xlen(k.webhook_log("ep_a")) == 1
        assert await order_log(queue, tenant, ("cscart", "7")) == ["ep_a"]

    run(settings, test)


def test_pending_adds_what_workers_report_holding_until_their_reports_expire(
    settings: Settings,
) -> None:
    """Two workers report what they hold straight from the feed; `pending` adds it to the
    lanes' messages. A worker's 0 drops its field; a report past its expiry stops counting and
    the next report of any worker removes it."""

    async def test(queue: DeliveryQueue, tenant: str) -> None:
        now = int(time.time() * 1000)
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_a", LANE, "2-0")], now)
        await queue.report_held("w1", {tenant: {"ep_a": 3, "ep_b": 1}}, now, now + 5_000)
        await queue.report_held("w2", {tenant: {"ep_a": 4}}, now, now + 5_000)
        assert await queue.pending_many(tenant, ["ep_a", "ep_b", "ep_c"]) == {
            "ep_a": 2 + 3 + 4,
            "ep_b": 1,
            "ep_c": 0,
        }
        await queue.report_held("w1", {tenant: {"ep_a": 0, "ep_b": 2}}, now, now + 5_000)
        assert await queue.pending_many(tenant, ["ep_a", "ep_b"]) == {"ep_a": 2 + 4, "ep_b": 2}
        # w2 dies: its report counts until it expires, then the next report drops it
        await queue.report_held("w2", {tenant: {"ep_a": 4}}, now, now + 1)
        time.sleep(0.01)
        assert await queue.pending(tenant, "ep_a") == 2
        await queue.report_held("w1", {tenant: {"ep_b": 2}}, now + 10, now + 5_000)
        client = client_for(settings.redis_url or "")
        try:
            fields = await client.hkeys(queue.keys(tenant).webhook_held)
        finally:
            await client.aclose()
        assert fields == ["ep_b\x1fw1"]

    run(settings, test)


@pytest.mark.parametrize(
    ("reports", "held"),
    [
        ({}, {}),
        ({"a\x1fw1": "3 200", "a\x1fw2": "4 200", "b\x1fw1": "1 200"}, {"a": 7, "b": 1}),
        ({"a\x1fw1": "3 100", "a\x1fw2": "4 200"}, {"a": 4}),  # w1's report has expired
        ({"a\x1fw1": "3"}, {}),  # no expiry: not a report this version wrote
    ],
)
def test_held_counts_add_up_the_live_reports(reports: dict[str, str], held: dict[str, int]) -> None:
    assert held_counts(reports, now_ms=100) == held


async def operational(queue: DeliveryQueue, tenant: str) -> list[tuple[str, Json]]:
    """(type, data) of the feed's operational events, in order."""
    entries = cast(
        list[tuple[str, dict[str, str]]], await queue._r.xrange(queue.keys(tenant).changes)
    )
    return [
        (fields["type"], orjson.loads(fields["data"]))
        for _, fields in entries
        if fields["type"].startswith("endpoint.")
    ]


def test_a_failure_streak_is_announced_once_while_it_lasts(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        k = queue.keys(tenant)
        now = int(time.time() * 1000)  # the feed keeps what is younger than the history
        data = {"endpoint_id": "ep_a", "status_code": 500}
        # no streak (or another one) going on: nothing to announce
        assert not await queue.warn_failing(tenant, "ep_a", NOW, now, data)
        await queue._r.hset(k.webhook_failing, "ep_a", NOW)
        assert await queue.warn_failing(tenant, "ep_a", NOW, now, data)
        assert not await queue.warn_failing(tenant, "ep_a", NOW, now, data)
        assert await queue._r.hget(k.webhook_warned, "ep_a") == iso_ms(NOW)
        # a later streak is announced again
        await queue._r.hset(k.webhook_failing, "ep_a", NOW + 1_000)
        assert await queue.warn_failing(tenant, "ep_a", NOW + 1_000, now, data)
        events = await operational(queue, tenant)
        assert events == [("endpoint.failing", data), ("endpoint.failing", data)]

    run(settings, test)


@pytest.mark.parametrize("path", ["settle", "finish"])
def test_the_first_success_after_an_announced_streak_is_announced(
    settings: Settings, path: str
) -> None:
    """Straight from the feed (`settle`) or from a lane (`finish`)."""

    async def test(queue: DeliveryQueue, tenant: str) -> None:
        k = queue.keys(tenant)
        now = int(time.time() * 1000)
        await queue._r.hset(k.webhooks, "ep_a", orjson.dumps({"url": "https://shop.example/h"}))
        await queue._r.hset(k.webhook_failing, mapping={"ep_a": NOW, "ep_b": NOW})
        await queue.warn_failing(tenant, "ep_a", NOW, now, {"endpoint_id": "ep_a"})
        ids = await feed_with_group(queue, tenant, 2)
        for i in range(2):  # the second success has nothing left to announce
            if path == "settle":
                await queue.settle(tenant, [Settled("ep_a", {}, None)], ids[i : i + 1])
            else:
                await queue.enqueue(tenant, [("ep_a", LANE, "1-0")], now)
                [claimed] = await claim(queue, tenant, now)
                await finish(queue, tenant, claimed, now)
        events = await operational(queue, tenant)
        assert [t for t, _ in events] == ["endpoint.failing", "endpoint.recovered"]
        recovered = events[1][1]
        assert recovered.pop("recovered_at").endswith("Z")
        assert recovered == {
            "endpoint_id": "ep_a",
            "url": "https://shop.example/h",
            "failing_since": iso_ms(NOW),
        }
        assert not await queue._r.hexists(k.webhook_warned, "ep_a")
        assert await queue._r.hkeys(k.webhook_failing) == ["ep_b"]  # not announced, not ended

    run(settings, test)


def test_a_410_neither_ends_the_streak_nor_announces_a_recovery(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        k = queue.keys(tenant)
        await queue._r.hset(k.webhook_failing, "ep_a", NOW)
        now = int(time.time() * 1000)
        await queue.warn_failing(tenant, "ep_a", NOW, now, {"endpoint_id": "ep_a"})
        ids = await feed_with_group(queue, tenant, 1)
        await queue.settle(tenant, [Settled("ep_a", {"result": "gone"}, None)], ids, reached=False)
        assert [t for t, _ in await operational(queue, tenant)] == ["endpoint.failing"]
        assert await queue._r.hget(k.webhook_failing, "ep_a") == str(NOW)
        assert await queue._r.xlen(k.webhook_log("ep_a")) == 1  # the attempt is logged
        assert ids[0] not in await pending_ids(queue, tenant)  # acknowledged

    run(settings, test)
