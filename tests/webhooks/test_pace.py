"""An endpoint's pace: the pure rules (`webhooks.pace`), and the Lua that applies them to claims,
to a worker going on with the endpoint's next message, and to a receiver's Retry-After, against
the real test Redis."""

from __future__ import annotations

import pytest

from gateway.settings import Settings
from tests.webhooks.test_queue import LEASE, NOW, finish, run
from webhooks.pace import MAX_RATE, UNLIMITED, Pace, burst, pause_s
from webhooks.queue import DeliveryQueue, order_lane
from webhooks.schedule import RetryPolicy

POLICY = RetryPolicy(cap_s=600.0)


@pytest.mark.parametrize(
    ("rate", "interval_ms", "burst_of"),
    [(1, 1000.0, 1), (9, 1000 / 9, 1), (10, 100.0, 1), (20, 50.0, 2), (1000, 1.0, 100)],
)
def test_a_rate_limit_spaces_attempts_and_allows_a_tenth_of_a_second_at_once(
    rate: int, interval_ms: float, burst_of: int
) -> None:
    pace = Pace.of(rate)
    assert pace.interval_ms == pytest.approx(interval_ms)
    assert burst(rate) == burst_of
    assert pace.tolerance_ms == pytest.approx((burst_of - 1) * interval_ms)


def test_no_rate_limit_is_no_pace() -> None:
    assert Pace.of(None) == UNLIMITED
    assert UNLIMITED.args() == ("0.0", "0.0")


@pytest.mark.parametrize("rate", [0, -1, MAX_RATE + 1])
def test_a_rate_limit_out_of_range_is_refused(rate: int) -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        Pace.of(rate)


@pytest.mark.parametrize(
    ("status", "retry_after", "paused"),
    [
        (429, 30.0, 30.0),
        (503, 2.5, 2.5),
        (429, 10_000.0, 600.0),  # bounded by the retry cap
        (429, None, None),  # a bare 429 backs off its own message only
        (429, 0.0, None),
        (500, 30.0, None),  # Retry-After means "wait" on 429 and 503 only
        (502, 30.0, None),
        (None, 30.0, None),
        (200, 30.0, None),
    ],
)
def test_only_a_429_or_503_with_retry_after_pauses_the_endpoint(
    status: int | None, retry_after: float | None, paused: float | None
) -> None:
    assert pause_s(POLICY, status, retry_after) == paused


# ------------------------------------------------------------------ in Redis

LANES = [order_lane("cscart", str(n)) for n in range(30)]


async def enqueue_lanes(queue: DeliveryQueue, tenant: str, endpoint: str = "ep_a") -> None:
    await queue.enqueue(
        tenant, [(endpoint, name, f"{n + 1}-0") for n, name in enumerate(LANES)], NOW
    )


@pytest.mark.parametrize(
    ("rate", "steps"),
    [
        # 20/s: 50 ms apart, 2 at once after a quiet spell
        (20, [(0, 2), (0, 0), (49, 0), (50, 1), (99, 0), (100, 1), (1000, 2), (1000, 0)]),
        # 1/s: one, then one a second later, never two at once
        (1, [(0, 1), (999, 0), (1000, 1), (5000, 1), (5000, 0)]),
        # 100/s: 10 at once, then one per 10 ms
        (100, [(0, 10), (5, 0), (10, 1), (30, 2)]),
    ],
)
def test_claims_start_no_more_than_the_pace_allows(
    settings: Settings, rate: int, steps: list[tuple[int, int]]
) -> None:
    """Each step is one claim (any worker's: the pace lives in Redis) at NOW + offset ms, with
    room for every lane: how many lanes it may start."""

    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await enqueue_lanes(queue, tenant)
        pace = {"ep_a": Pace.of(rate)}
        started = []
        for offset, _ in steps:
            claimed = await queue.claim(tenant, {"ep_a": 30}, NOW + offset, LEASE, pace)
            started.append((offset, len(claimed)))
        assert started == steps

    run(settings, test)


def test_a_paced_endpoint_is_not_due_until_it_may_start_again(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await enqueue_lanes(queue, tenant)
        await enqueue_lanes(queue, tenant, "ep_b")
        await queue.claim(tenant, {"ep_a": 30}, NOW, LEASE, {"ep_a": Pace.of(1)})
        # ep_a's other lanes are due, but it may not start one before NOW + 1 s
        assert await queue.with_due([tenant], NOW + 999) == [(tenant, ["ep_b"])]
        due = dict(await queue.with_due([tenant], NOW + 1000))[tenant]
        assert sorted(due) == ["ep_a", "ep_b"]

    run(settings, test)


def test_an_endpoint_without_a_limit_is_not_paced(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await enqueue_lanes(queue, tenant)
        assert len(await queue.claim(tenant, {"ep_a": 30}, NOW, LEASE)) == len(LANES)
        assert await queue.held_until(tenant, ["ep_a"], NOW) == [None]

    run(settings, test)


def test_a_worker_goes_on_with_the_next_message_only_when_the_pace_allows(
    settings: Settings,
) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        lane = LANES[0]
        await queue.enqueue(tenant, [("ep_a", lane, "1-0"), ("ep_a", lane, "2-0")], NOW)
        one_per_s = Pace.of(1)
        [claimed] = await queue.claim(tenant, {"ep_a": 1}, NOW, LEASE, {"ep_a": one_per_s})
        done = await finish(
            queue, tenant, claimed, NOW + 10, keep_until_ms=NOW + 10 + LEASE, pace=one_per_s
        )
        assert done.still
        assert done.next is None  # 1/s: the next one waits its turn
        assert await queue.with_due([tenant], NOW + 999) == []
        [after] = await queue.claim(tenant, {"ep_a": 1}, NOW + 1000, LEASE, {"ep_a": one_per_s})
        assert after.head.msg == "2-0"

    run(settings, test)


def test_a_receivers_retry_after_holds_every_lane_of_the_endpoint(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await enqueue_lanes(queue, tenant)
        await enqueue_lanes(queue, tenant, "ep_b")
        [first] = await queue.claim(tenant, {"ep_a": 1}, NOW, LEASE)
        held = NOW + 5000
        await finish(
            queue, tenant, first, outcome="retry", next_ms=NOW + 60_000, hold_until_ms=held
        )
        assert await queue.held_until(tenant, ["ep_a", "ep_b"], NOW) == [held, None]
        # ep_a's other lanes are due, yet nothing of it starts before the hold ends
        assert await queue.with_due([tenant], held - 1) == [(tenant, ["ep_b"])]
        assert await queue.claim(tenant, {"ep_a": 30}, held - 1, LEASE) == []
        # a new lane of a held endpoint makes it look due for one claim, which starts nothing
        await queue.enqueue(tenant, [("ep_a", order_lane("cscart", "new"), "99-0")], NOW + 1)
        assert await queue.claim(tenant, {"ep_a": 30}, NOW + 2, LEASE) == []
        assert await queue.with_due([tenant], NOW + 3) == [(tenant, ["ep_b"])]
        # once it ends, the other lanes and the new one go (the one that was answered 429 keeps
        # its own retry)
        assert len(await queue.claim(tenant, {"ep_a": 40}, held, LEASE)) == len(LANES) - 1 + 1
        assert await queue.held_until(tenant, ["ep_a"], held) == [None]

    run(settings, test)


def test_a_shorter_retry_after_never_shortens_a_hold(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await enqueue_lanes(queue, tenant)
        claimed = await queue.claim(tenant, {"ep_a": 2}, NOW, LEASE)
        for lane, until in zip(claimed, (NOW + 9000, NOW + 1000), strict=True):
            await finish(
                queue, tenant, lane, outcome="retry", next_ms=NOW + 60_000, hold_until_ms=until
            )
        assert await queue.held_until(tenant, ["ep_a"], NOW) == [NOW + 9000]

    run(settings, test)


def test_a_repaired_ready_set_keeps_a_held_endpoint_waiting(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, tenant: str) -> None:
        await enqueue_lanes(queue, tenant)
        [first] = await queue.claim(tenant, {"ep_a": 1}, NOW, LEASE)
        await finish(queue, tenant, first, outcome="retry", next_ms=NOW + 60_000)
        await queue._r.hset(queue.keys(tenant).webhook_holds, "ep_a", NOW + 5000)
        await queue.repair({tenant: ["ep_a"]})
        assert await queue.with_due([tenant], NOW + 4999) == []
        assert await queue.with_due([tenant], NOW + 5000) == [(tenant, ["ep_a"])]

    run(settings, test)
