"""The worker's own bookkeeping: the backlog gauges it samples, the tenants it leaves to others
(delivery itself is tested end to end in test_delivery and test_reliability)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from pydantic import SecretStr

from gateway.app import create_app
from gateway.observability import Metrics
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.keys import TenantKeys, tenants
from tests.factories import make_tenant
from webhooks import worker as worker_module
from webhooks.queue import Backlog, order_lane
from webhooks.worker import READ_COUNT, Worker


def test_the_backlog_gauges_show_what_waits_and_for_how_long(
    settings: Settings, runtime: Runtime
) -> None:
    """A prefix of its own, so the gauges (over every tenant) count this test's data alone."""
    own = settings.model_copy(update={"redis_prefix": f"bk{uuid.uuid4().hex[:8]}"})
    keys = TenantKeys(own.redis_prefix, "shop")

    async def scenario() -> tuple[Backlog, Backlog, str]:
        client = client_for(own.redis_url or "")
        metrics = Metrics()
        try:
            await client.sadd(tenants(own.redis_prefix), "shop")
            worker = Worker(client, own, runtime.renderer, metrics)
            await worker.fan_out_once()  # the tenant is known, its consumer group made
            feed = [str(await client.xadd(keys.changes, {"type": "t"})) for _ in range(3)]
            before = await worker.sample_backlog()
            # Two endpoints' lanes, queued (and the entries acknowledged) 3 s ago, not started.
            await client.hset(keys.webhooks, mapping={"ep_a": "{}", "ep_b": "{}"})
            await client.xreadgroup("delivery", "w", {keys.changes: ">"})
            queued_ms = int(time.time() * 1000) - 3_000
            lanes = [("ep_a", order_lane("cscart", "1"), feed[0])]
            lanes += [("ep_b", order_lane("cscart", "2"), feed[1])]
            await worker.queue.enqueue("shop", lanes, queued_ms, acknowledge=feed)
            after = await worker.sample_backlog()
            return before, after, generate_latest(metrics.registry).decode()
        finally:
            await client.aclose()

    before, after, exposed = asyncio.run(scenario())
    assert before == Backlog(unqueued=3, waiting_lanes=0, due_lanes=0, oldest_due_s=0.0)
    assert (after.unqueued, after.waiting_lanes, after.due_lanes) == (0, 2, 2)
    assert 3.0 <= after.oldest_due_s < 13.0
    assert "gateway_webhook_unqueued_events 0.0" in exposed
    assert "gateway_webhook_waiting_lanes 2.0" in exposed
    assert "gateway_webhook_due_lanes 2.0" in exposed
    assert f"gateway_webhook_oldest_due_seconds {after.oldest_due_s}" in exposed


def test_the_held_gauge_counts_what_the_worker_holds_to_send_straight_from_the_feed(
    settings: Settings, runtime: Runtime
) -> None:
    async def scenario() -> tuple[str, str]:
        client = client_for(settings.redis_url or "")
        metrics = Metrics()
        try:
            worker = Worker(client, settings, runtime.renderer, metrics)
            fields = {"type": "order.status_changed"}
            worker.direct.add("shop", "ep_a", order_lane("cscart", "1"), "1-0", fields)
            worker.direct.add("shop", "ep_b", order_lane("cscart", "1"), "1-0", fields)
            held = generate_latest(metrics.registry).decode()
            chain = worker.direct.next_waiting(("shop", "ep_a"))
            assert chain is not None
            worker.direct.settle(chain)
            return held, generate_latest(metrics.registry).decode()
        finally:
            await client.aclose()

    held, after = asyncio.run(scenario())
    assert "gateway_webhook_held_deliveries 2.0" in held
    assert "gateway_webhook_held_deliveries 1.0" in after


def test_a_worker_that_cannot_open_a_tenants_secrets_leases_none_of_its_lanes(
    settings: Settings, runtime: Runtime
) -> None:
    """An endpoint stored sealed (GATEWAY_SECRET_KEY set) with a lane due; a worker without the
    key claims nothing of it (the lane stays due for a worker with the key), counts the tenant,
    and does not stop over it."""
    own = settings.model_copy(update={"redis_prefix": f"sealed{uuid.uuid4().hex[:8]}"})
    keyed = own.model_copy(update={"secret_key": SecretStr("passphrase for this test")})
    tenant = make_tenant(own)
    with TestClient(create_app(keyed, runtime)) as api:  # no worker
        created = api.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=tenant.headers
        )
    endpoint = created.json()["id"]

    async def scenario() -> tuple[int, list[tuple[str, list[str]]], str]:
        client = client_for(own.redis_url or "")
        metrics = Metrics()
        try:
            worker = Worker(client, own, runtime.renderer, metrics)
            await worker.fan_out_once()  # the tenant is known
            now_ms = int(time.time() * 1000)
            lane = order_lane("cscart", "1")
            await worker.queue.enqueue(tenant.tenant, [(endpoint, lane, "1-0")], now_ms)
            started = await worker.claim_once()
            due = await worker.queue.with_due([tenant.tenant], now_ms)
            return started, due, generate_latest(metrics.registry).decode()
        finally:
            await client.aclose()

    started, due, exposed = asyncio.run(scenario())
    assert started == 0
    assert due == [(tenant.tenant, [endpoint])]
    assert "gateway_webhook_unopened_tenants 1.0" in exposed


def _feed_reads(client: redis.Redis) -> int:
    """How many times Redis was asked for a feed's entries (a new owner first takes over what is
    pending: XAUTOCLAIM; then XREADGROUP)."""
    stats = client.info("commandstats")
    return sum(
        int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("xreadgroup", "xautoclaim")
    )


def test_between_sweeps_a_worker_reads_only_the_feeds_with_news(
    settings: Settings, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 idle tenants: the first turns read them all (the sweep); the next ones read only a
    feed that news named, or one whose last read was full, and none when there is none (the
    idle cost of a tenant is its sweep, once a SWEEP_S)."""
    monkeypatch.setattr(worker_module, "SWEEP_S", 3600.0)  # no second sweep in this test
    own = settings.model_copy(update={"redis_prefix": f"nw{uuid.uuid4().hex[:8]}"})
    names = [f"t{i:03d}" for i in range(200)]
    sync = redis.Redis.from_url(own.redis_url or "")

    async def scenario() -> list[tuple[list[str] | None, int]]:
        client = client_for(own.redis_url or "")
        try:
            await client.sadd(tenants(own.redis_prefix), *names)
            worker = Worker(client, own, runtime.renderer, Metrics())
            turns: list[tuple[list[str] | None, int]] = []

            async def turn() -> None:
                before = _feed_reads(sync)
                chosen = worker._to_read()
                await worker.fan_out_once(chosen)
                turns.append((chosen, _feed_reads(sync) - before))

            await turn()  # the sweep: a new owner takes over what each feed has pending
            await turn()  # then reads what is new in each
            await turn()  # nothing new
            worker._news.add("t007")
            await turn()
            keys = TenantKeys(own.redis_prefix, "t042")
            for _ in range(READ_COUNT + 1):  # more than one read takes (and no endpoint)
                await client.xadd(keys.changes, {"type": "t"})
            worker._news.add("t042")
            await turn()
            await turn()  # the rest of t042's feed
            await turn()
            return turns
        finally:
            await client.aclose()

    try:
        turns = asyncio.run(scenario())
    finally:
        sync.close()
    expected = [None, names, [], ["t007"], ["t042"], ["t042"], []]
    assert [chosen for chosen, _ in turns] == expected
    assert [reads for _, reads in turns] == [200, 200, 0, 1, 1, 1, 0]


def test_due_lanes_are_asked_for_each_turn_only_while_some_are_due(
    settings: Settings, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis is asked for due lanes when some may have become due, and at each turn while its
    last answer had lanes due (more than there were slots for); once it has none, only once a
    DUE_EVERY_S (an hour here) until lanes are queued or one ends."""
    monkeypatch.setattr(worker_module, "DUE_EVERY_S", 3600.0)
    monkeypatch.setattr(worker_module, "POLL_S", 0.0)
    own = settings.model_copy(update={"redis_prefix": f"du{uuid.uuid4().hex[:8]}"})
    answers: list[list[tuple[str, list[str]]]] = [[("shop", ["ep_gone"])], [], []]
    asked: list[int] = []

    async def with_due(tenants: list[str], now_ms: int) -> list[tuple[str, list[str]]]:
        asked.append(now_ms)
        return answers.pop(0)

    async def scenario() -> list[int]:
        client = client_for(own.redis_url or "")
        try:
            worker = Worker(client, own, runtime.renderer, Metrics())
            worker._tenants = ["shop"]
            monkeypatch.setattr(worker.queue, "with_due", with_due)
            counts = []
            for turn in range(4):
                if turn == 3:
                    worker._lanes_stale = True  # as when a lane's delivery ends
                await worker.claim_once()
                counts.append(len(asked))
            return counts
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == [1, 2, 2, 3]
    assert answers == []
