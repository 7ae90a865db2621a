"""Delivery lanes against the real test Redis: leases, lane order, stale finishes, drops."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest

from gateway.settings import Settings
from gateway.storage import client_for
from webhooks.queue import DeliveryQueue, Head, order_lane

NOW = 1_800_000_000_000  # ms
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


def test_a_claimed_lane_is_not_claimed_again_until_its_lease_ends(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0")], NOW)
        first, second = await asyncio.gather(
            queue.claim(tenant, NOW, 30_000, 10), queue.claim(tenant, NOW, 30_000, 10)
        )
        assert sorted([first, second], key=len) == [[], [MEMBER]]
        assert await queue.claim(tenant, NOW + 29_999, 30_000, 10) == []
        # the worker died: after the lease the lane is due again, with the same head
        assert await queue.claim(tenant, NOW + 30_000, 30_000, 10) == [MEMBER]
        assert await queue.head(tenant, MEMBER) == (Head("1-0"), {})  # not in the feed: no fields

    run(settings, test)


def test_a_lane_delivers_its_messages_in_order_and_is_forgotten_when_empty(
    settings: Settings,
) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_a", LANE, "2-0")], NOW)
        seen = []
        for step in range(2):
            [member] = await queue.claim(tenant, NOW + step, 30_000, 10)
            found = await queue.head(tenant, member)
            assert found is not None
            head, _ = found
            seen.append(head.msg)
            still, _, _ = await queue.finish(
                tenant,
                member,
                head,
                "delivered",
                now_ms=NOW + step,
                next_ms=NOW,
                entry={},
                order=("cscart", "7"),
            )
            assert still
        assert seen == ["1-0", "2-0"]
        assert await queue.claim(tenant, NOW + 10**9, 30_000, 10) == []
        assert await queue.pending(tenant, "ep_a") == 0

    run(settings, test)


def test_a_worker_going_on_with_a_lane_keeps_it_leased_until_the_lane_is_empty(
    settings: Settings,
) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_a", LANE, "2-0")], NOW)
        [member] = await queue.claim(tenant, NOW, 30_000, 10)
        lease_end = NOW + 30_000
        for msg, more_expected in (("1-0", True), ("2-0", False)):
            found = await queue.head(tenant, member)
            assert found is not None
            assert found[0].msg == msg
            still, _, more = await queue.finish(
                tenant,
                member,
                found[0],
                "delivered",
                now_ms=NOW,
                next_ms=NOW,
                entry={},
                order=None,
                keep_until_ms=lease_end,
            )
            assert still
            assert more is more_expected
            # nobody else can claim the lane while it is this worker's to go on with
            assert await queue.claim(tenant, lease_end - 1, 30_000, 10) == []
        assert await queue.pending(tenant, "ep_a") == 0

    run(settings, test)


def test_a_lane_a_worker_does_not_go_on_with_is_due_again_at_once(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_a", LANE, "2-0")], NOW)
        [member] = await queue.claim(tenant, NOW, 30_000, 10)
        _, _, more = await queue.finish(
            tenant, member, Head("1-0"), "delivered", now_ms=NOW, next_ms=NOW, entry={}, order=None
        )
        assert not more
        assert await queue.claim(tenant, NOW, 30_000, 10) == [member]

    run(settings, test)


def test_a_retry_keeps_the_head_and_counts_attempts(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_a", LANE, "2-0")], NOW)
        [member] = await queue.claim(tenant, NOW, 30_000, 10)
        head = Head("1-0", 0, NOW)
        _, failing, _ = await queue.finish(
            tenant, member, head, "retry", now_ms=NOW, next_ms=NOW + 5_000, entry={}, order=None
        )
        assert failing == NOW
        assert await queue.claim(tenant, NOW + 4_999, 30_000, 10) == []
        assert await queue.claim(tenant, NOW + 5_000, 30_000, 10) == [member]
        assert await queue.head(tenant, member) == (Head("1-0", 1, NOW), {})
        assert await queue.pending(tenant, "ep_a") == 2

    run(settings, test)


def test_finishing_a_lane_that_was_dropped_meanwhile_changes_nothing(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [("ep_a", LANE, "1-0"), ("ep_b", LANE, "1-0")], NOW)
        assert await queue.drop_endpoint(tenant, "ep_a") == 1
        still, _, _ = await queue.finish(
            tenant, MEMBER, Head("1-0"), "delivered", now_ms=NOW, next_ms=NOW, entry={}, order=None
        )
        assert not still
        assert await queue.claim(tenant, NOW, 30_000, 10) == [f"ep_b\x1f{LANE}"]

    run(settings, test)


@pytest.mark.parametrize("endpoint", ["ep_*", "ep_[a]", "ep_?"])
def test_dropping_an_endpoint_whose_id_looks_like_a_pattern_drops_only_it(
    settings: Settings, endpoint: str
) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await queue.enqueue(tenant, [(endpoint, LANE, "1-0"), ("ep_a", LANE, "1-0")], NOW)
        assert await queue.drop_endpoint(tenant, endpoint) == 1
        assert await queue.pending(tenant, "ep_a") == 1

    run(settings, test)
