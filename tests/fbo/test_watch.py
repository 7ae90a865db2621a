"""Tracked FBO shipments against the real test Redis: warnings raised once each (also across a
restart), steps done by Kak2c statuses, and the warnings delivered as localized webhooks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from gateway.app import create_app
from gateway.fbo.timetable import Timetable
from gateway.fbo.watch import note_change, raise_due
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.fbo import ShipmentStore, checks_for
from gateway.storage.keys import TenantKeys
from tests.factories import Tenant, event, make_tenant
from tests.webhooks.receiver import receiving

MOSCOW = ZoneInfo("Europe/Moscow")
SHIPMENT = date(2030, 1, 11)  # a Friday
LEAD = timedelta(hours=3)
Json = dict[str, Any]


def moscow(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 1, day, hour, minute, tzinfo=MOSCOW)


def run(settings: Settings, test: Callable[[ShipmentStore, str], Awaitable[None]]) -> None:
    tenant = make_tenant(settings).tenant

    async def main() -> None:
        client = client_for(settings.redis_url or "")
        try:
            await test(ShipmentStore(client, settings.redis_prefix), tenant)
        finally:
            await client.aclose()

    asyncio.run(main())


async def register(store: ShipmentStore, tenant: str, order_id: str = "K-1") -> str:
    timetable = Timetable.load()
    doc = {
        "id": f"fbo_{order_id.lower()}",
        "order_id": order_id,
        "shipment_date": SHIPMENT.isoformat(),
        "timezone": "Europe/Moscow",
        "mode": "calendar",
        "units": 10,
        "flags": [],
        "created_at": None,
        "lead_s": LEAD.total_seconds(),
        "registered_at": "2030-01-01T00:00:00Z",
    }
    steps = timetable.deadlines(SHIPMENT, MOSCOW)
    await store.create(tenant, doc, {}, checks_for({s.id: s.deadline for s in steps}, LEAD))
    return str(doc["id"])


async def feed(store: ShipmentStore, tenant: str) -> list[tuple[str, Json]]:
    raw = cast(
        list[tuple[str, dict[str, str]]],
        await store._r.xrange(TenantKeys(store._prefix, tenant).changes),
    )
    return [(f["type"], orjson.loads(f["data"])) for _, f in raw]


def test_each_warning_is_raised_once_also_across_a_restart(settings: Settings) -> None:
    async def test(store: ShipmentStore, tenant: str) -> None:
        await register(store, tenant)
        timetable = Timetable.load()
        # Thursday 10:00: `create` (Monday) was missed, `packed` (11:00) is at risk
        assert await raise_due(store, timetable, tenant, moscow(10, 10)) == 2
        assert await raise_due(store, timetable, tenant, moscow(10, 10, 30)) == 0
        restarted = ShipmentStore(store._r, store._prefix)
        # 11:30: `packed` is missed now, `labels` (14:00) at risk
        assert await raise_due(restarted, timetable, tenant, moscow(10, 11, 30)) == 2
        assert await raise_due(restarted, timetable, tenant, moscow(10, 11, 45)) == 0
        raised = [(t, d["step"]) for t, d in await feed(store, tenant)]
        assert raised[:2] == [("fbo.deadline_missed", "create"), ("fbo.deadline_at_risk", "packed")]
        assert sorted(raised[2:]) == [
            ("fbo.deadline_at_risk", "labels"),
            ("fbo.deadline_missed", "packed"),
        ]
        first = (await feed(store, tenant))[1][1]
        assert first["deadline"] == "2030-01-10T11:00:00+03:00"
        assert (first["order_id"], first["platform"], first["actor"]) == (
            "K-1",
            "kak2c",
            "warehouse",
        )

    run(settings, test)


def test_a_step_done_in_time_raises_nothing(settings: Settings) -> None:
    async def test(store: ShipmentStore, tenant: str) -> None:
        shipment_id = await register(store, tenant)
        for step in ("create", "packed", "labels", "pass_info", "pass_ordered"):
            await store.mark_done(tenant, shipment_id, step, moscow(7, 9))
        timetable = Timetable.load()
        assert await raise_due(store, timetable, tenant, moscow(12, 0)) == 0
        assert await feed(store, tenant) == []

    run(settings, test)


def test_kak2c_packed_marks_the_packed_step_done(settings: Settings) -> None:
    async def test(store: ShipmentStore, tenant: str) -> None:
        shipment_id = await register(store, tenant, "K-7")
        change = {
            "type": "order.status_changed",
            "platform": "kak2c",
            "order_id": "K-7",
            "occurred_at": "2030-01-10T07:30:00Z",
            "native": orjson.dumps({"code": "ORDER_INFO_PACKED"}).decode(),
        }
        assert await note_change(store, tenant, change)
        assert not await note_change(store, tenant, change)  # the first report wins
        other = {**change, "order_id": "not-tracked"}
        assert not await note_change(store, tenant, other)
        shipment = await store.get(tenant, shipment_id)
        assert shipment is not None
        assert shipment.done["packed"] == datetime(2030, 1, 10, 7, 30, tzinfo=UTC)

    run(settings, test)


@pytest.fixture
def live(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    fast = settings.model_copy(update={"worker_in_process": True})
    with TestClient(create_app(fast, runtime)) as client:
        yield client


def test_warnings_arrive_as_localized_signed_webhooks(live: TestClient, tenant: Tenant) -> None:
    today = datetime.now(MOSCOW).date()
    shipment = today + timedelta(days=2)
    with receiving() as receiver:
        hook = live.post(
            "/v1/webhooks",
            json={"url": receiver.url, "lang": "ru", "filter": {"types": ["fbo.deadline_at_risk"]}},
            headers=tenant.headers,
        ).json()
        created = live.post(
            "/v1/fbo/shipments",
            json={
                "order_id": "W-1",
                "shipment_date": shipment.isoformat(),
                "created_at": datetime.now(UTC).isoformat(),
                "lead_hours": 72,  # every open step is within 72 h: at risk at once
            },
            headers=tenant.headers,
        ).json()
        live.post(
            "/v1/events",
            json=event("W-1", "ORDER_INFO_PACKED", datetime.now(UTC).isoformat(), platform="kak2c"),
            headers=tenant.headers,
        )
        wanted = {"labels", "pass_info", "pass_ordered"}  # and `packed`, unless noted done first
        got = receiver.wait_for(lambda r: wanted <= {g.json["data"]["step"] for g in r}, 20)
        for _ in range(100):  # the worker notes the PACKED change when it fans it out
            state = live.get(f"/v1/fbo/shipments/{created['id']}", headers=tenant.headers).json()
            if state["steps"][1]["status"] == "done":
                break
            time.sleep(0.05)
    payloads = [Webhook(hook["secret"]).verify(g.body, g.headers) for g in got]
    steps = {p["data"]["step"] for p in payloads}
    assert steps <= {"packed", "labels", "pass_info", "pass_ordered"}
    assert {"labels", "pass_info", "pass_ordered"} <= steps
    labels = next(p for p in payloads if p["data"]["step"] == "labels")
    assert labels["type"] == "fbo.deadline_at_risk"
    assert labels["data"]["message"].startswith("Загрузить маркировку маркетплейса")
    assert "до 14:00" in labels["data"]["message"]
    assert got[0].headers["Content-Language"] == "ru"
    packed = next(s for s in state["steps"] if s["step"] == "packed")
    assert packed["status"] == "done"
