"""POST /v1/events and /v1/events/batch: spec §6 and §4 over HTTP, concurrency, the feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.storage import client_for
from gateway.tables import Tables
from tests.factories import (
    Tenant,
    assert_problem,
    at,
    changes,
    event,
    make_tenant,
    pointers,
)

Json = dict[str, Any]
PAID = {"order": "paid", "payment": "completed"}


def post(client: TestClient, tenant: Tenant, body: Json, **kwargs: Any) -> Json:
    response = client.post("/v1/events", json=body, headers=tenant.headers, **kwargs)
    assert response.status_code == 202, response.text
    answer: Json = response.json()
    return answer


def order(client: TestClient, tenant: Tenant, order_id: str, platform: str = "cscart") -> Json:
    response = client.get(f"/v1/orders/{platform}/{order_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: Json = response.json()
    return found


def test_the_first_event_of_an_order_changes_it_to_sequence_one(
    client: TestClient, tenant: Tenant
) -> None:
    response = client.post(
        "/v1/events",
        json=event("1207", "P", at(0), event_id="evt-1"),
        headers=tenant.headers,
    )
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-language"] == "en"
    answer = response.json()
    assert answer["result"] == "changed"
    assert answer["changed"] is True
    assert answer["sequence"] == 1
    assert answer["regression"] is False
    assert answer["violation"] is None
    assert answer["order"] == {"platform": "cscart", "order_id": "1207"}
    assert answer["current"]["code"] == "confirmed"
    assert answer["current"]["label"] == "Confirmed"
    assert (answer["current"]["paid"], answer["current"]["payment"]) == (True, "paid")
    assert answer["native"] == {
        "code": "P",
        "label": "Processed",
        "description": answer["native"]["description"],
    }
    assert answer["mapping_version"]


@pytest.mark.parametrize(
    ("query", "headers", "lang", "label"),
    [
        ("?lang=ru", {}, "ru", "Подтвержден"),
        ("", {"Accept-Language": "fr"}, "fr", "Confirmée"),
        ("", {"Accept-Language": "el-GR,el;q=0.9"}, "el", "Επιβεβαιώθηκε"),
        ("?lang=el", {"Accept-Language": "fr"}, "el", "Επιβεβαιώθηκε"),
    ],
)
def test_the_answer_is_localized_by_lang_or_accept_language(
    client: TestClient, tenant: Tenant, query: str, headers: dict[str, str], lang: str, label: str
) -> None:
    response = client.post(
        f"/v1/events{query}",
        json=event("1", "P", at(0)),
        headers={**tenant.headers, **headers},
    )
    assert response.status_code == 202
    assert response.headers["content-language"] == lang
    assert response.json()["current"]["label"] == label


def test_a_later_event_wins(client: TestClient, tenant: Tenant) -> None:
    post(client, tenant, event("1", "P", at(0)))
    answer = post(client, tenant, event("1", "C", at(60)))
    assert (answer["result"], answer["changed"], answer["sequence"]) == ("changed", True, 2)
    assert answer["current"]["code"] == "completed"
    found = order(client, tenant, "1")
    assert found["sequence"] == 2
    assert found["current"]["code"] == "completed"
    assert [e["sequence"] for e in found["timeline"]] == [1, 2]


def test_equal_event_times_keep_arrival_order(client: TestClient, tenant: Tenant) -> None:
    post(client, tenant, event("1", "C", at(0)))
    answer = post(client, tenant, event("1", "P", at(0)))
    assert (answer["result"], answer["sequence"]) == ("changed", 2)
    assert order(client, tenant, "1")["current"]["code"] == "confirmed"


def test_an_older_event_arriving_late_is_kept_in_the_timeline_only(
    client: TestClient, tenant: Tenant
) -> None:
    post(client, tenant, event("1", "C", at(600)))
    answer = post(client, tenant, event("1", "P", at(0), event_id="old"))
    assert (answer["result"], answer["changed"], answer["sequence"]) == ("late", False, 1)
    assert answer["current"]["code"] == "completed"
    found = order(client, tenant, "1")
    assert found["sequence"] == 1
    assert found["current"]["code"] == "completed"
    late = found["timeline"][1]
    assert (late["n"], late["late"], late["applied"], late["changed"]) == (2, True, False, False)
    assert (late["native"]["code"], late["event_id"], late["sequence"]) == ("P", "old", None)
    assert late["occurred_at"] == "2024-05-14T07:00:00Z"


@pytest.mark.parametrize(
    "repeat",
    [
        event("1", "P", at(0), event_id="evt-1"),
        event("1", "C", at(300), event_id="evt-1"),  # same id, another code and time
        event("1", "P", at(0), event_id="evt-2"),  # same code and time, another id
        event("1", "P", at(0)),  # same code and time, no id
    ],
    ids=["same-event", "same-id-other-time", "same-time-other-id", "same-time-no-id"],
)
def test_a_duplicate_changes_nothing(client: TestClient, tenant: Tenant, repeat: Json) -> None:
    post(client, tenant, event("1", "P", at(0), event_id="evt-1"))
    answer = post(client, tenant, repeat)
    assert (answer["result"], answer["changed"], answer["sequence"]) == ("duplicate", False, 1)
    assert answer["current"]["code"] == "confirmed"
    found = order(client, tenant, "1")
    assert len(found["timeline"]) == 1
    assert found["sequence"] == 1


def test_the_same_code_at_another_time_is_not_a_duplicate(
    client: TestClient, tenant: Tenant
) -> None:
    post(client, tenant, event("1", "P", at(0)))
    answer = post(client, tenant, event("1", "P", at(1)))
    assert (answer["result"], answer["sequence"]) == ("unchanged", 1)
    assert len(order(client, tenant, "1")["timeline"]) == 2


def test_a_backwards_change_is_applied_and_flagged_as_a_regression(
    client: TestClient, tenant: Tenant
) -> None:
    post(client, tenant, event("1", "C", at(0)))
    answer = post(client, tenant, event("1", "O", at(60)))
    assert (answer["result"], answer["regression"], answer["sequence"]) == ("changed", True, 2)
    assert answer["current"]["code"] == "pending"
    entry = order(client, tenant, "1")["timeline"][1]
    assert (entry["regression"], entry["applied"], entry["changed"]) == (True, True, True)


def test_cloudcart_paid_never_goes_back_to_unpaid(client: TestClient, tenant: Tenant) -> None:
    post(client, tenant, event("42", PAID, at(0), platform="cloudcart"))
    unpaid = {"order": "pending", "payment": "pending"}
    answer = post(client, tenant, event("42", unpaid, at(60), platform="cloudcart"))
    assert answer["result"] == "violation"
    assert answer["violation"] == "payment_reverted"
    assert (answer["changed"], answer["sequence"]) == (False, 1)
    assert (answer["current"]["code"], answer["current"]["payment"]) == ("confirmed", "paid")
    found = order(client, tenant, "42", "cloudcart")
    assert found["violations"] == 1
    assert (found["current"]["code"], found["current"]["payment"]) == ("confirmed", "paid")
    refused = found["timeline"][1]
    assert (refused["violation"], refused["applied"], refused["changed"]) == (
        "payment_reverted",
        False,
        False,
    )
    assert refused["native"]["code"] == "pending"
    assert refused["native"]["payment"]["code"] == "pending"


def test_cloudcart_paid_may_go_on_to_refunded(client: TestClient, tenant: Tenant) -> None:
    post(client, tenant, event("42", PAID, at(0), platform="cloudcart"))
    refunded = {"order": "refunded", "payment": "refunded"}
    answer = post(client, tenant, event("42", refunded, at(60), platform="cloudcart"))
    assert (answer["result"], answer["violation"], answer["sequence"]) == ("changed", None, 2)
    assert (answer["current"]["code"], answer["current"]["payment"]) == ("refunded", "refunded")
    assert order(client, tenant, "42", "cloudcart")["violations"] == 0


def test_cloudcart_shipped_may_go_back_to_not_shipped(client: TestClient, tenant: Tenant) -> None:
    shipped = {**PAID, "fulfillment": "fulfilled"}
    first = post(client, tenant, event("42", shipped, at(0), platform="cloudcart"))
    assert first["current"]["fulfillment"] != "not_fulfilled"
    back = {**PAID, "fulfillment": "not_fulfilled"}
    answer = post(client, tenant, event("42", back, at(60), platform="cloudcart"))
    assert (answer["result"], answer["violation"], answer["sequence"]) == ("changed", None, 2)
    assert answer["current"]["fulfillment"] == "not_fulfilled"
    assert answer["current"]["payment"] == "paid"


def test_a_confirmed_measoft_status_supersedes_the_provisional_one(
    client: TestClient, tenant: Tenant
) -> None:
    post(client, tenant, event("SHOP-1", "NEW", at(0), platform="measoft"))
    provisional = post(
        client, tenant, event("SHOP-1", "COURIERDELIVERED", at(60), platform="courier")
    )
    assert provisional["current"]["provisional"] is True
    assert provisional["current"]["terminal"] is False
    final = post(client, tenant, event("SHOP-1", "COMPLETE", at(120), platform="measoft"))
    assert (final["result"], final["sequence"]) == ("changed", 3)
    assert (final["current"]["code"], final["current"]["provisional"]) == ("delivered", False)
    timeline = order(client, tenant, "SHOP-1", "measoft")["timeline"]
    by_code = {e["native"]["code"]: e for e in timeline}
    courier, complete = by_code["COURIERDELIVERED"], by_code["COMPLETE"]
    assert complete["supersedes"] == courier["n"] == 2
    assert courier["superseded_by"] == complete["n"] == 3
    assert courier["supersedes"] is None
    assert complete["superseded_by"] is None
    assert by_code["NEW"]["supersedes"] is by_code["NEW"]["superseded_by"] is None


def test_an_unknown_code_is_recorded_as_unknown_and_counted(
    client: TestClient, tenant: Tenant
) -> None:
    answer = post(client, tenant, event("1", "Q", at(0)))
    assert (answer["result"], answer["current"]["code"]) == ("changed", "unknown")
    assert answer["native"] == {"code": "Q", "label": None, "description": None}
    post(client, tenant, event("1", "Q", at(60)))
    post(client, tenant, event("1", "Q", at(60)))  # a duplicate is not counted again
    post(client, tenant, event("2", "Q", at(0)))
    entry = order(client, tenant, "1")["timeline"][0]
    assert (entry["native"]["code"], entry["canonical"]["code"]) == ("Q", "unknown")
    listed = client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"]
    assert [(u["platform"], u["code"], u["count"], u["mapped"]) for u in listed] == [
        ("cscart", "Q", 3, False)
    ]
    assert listed[0]["order_id"] == "2"
    assert listed[0]["first_seen"] <= listed[0]["last_seen"]


def test_a_known_code_in_another_case_at_the_same_time_is_a_duplicate(
    client: TestClient, tenant: Tenant
) -> None:
    post(client, tenant, event("1", "p", at(0)))
    assert post(client, tenant, event("1", "P", at(0)))["result"] == "duplicate"


def test_an_unknown_code_in_another_case_at_the_same_time_is_a_duplicate(
    client: TestClient, tenant: Tenant
) -> None:
    post(client, tenant, event("1", "q", at(0)))
    assert post(client, tenant, event("1", "Q", at(0)))["result"] == "duplicate"
    assert len(order(client, tenant, "1")["timeline"]) == 1
    listed = client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"]
    assert [(u["code"], u["count"]) for u in listed] == [("Q", 1)]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (event("bad", "P", "2024-05-14T10:00:00"), "#/occurred_at"),
        (event("bad", "P", "yesterday"), "#/occurred_at"),
        ({"platform": "cscart", "order_id": "bad"}, "#/status"),
        ({"platform": "cscart", "order_id": "bad", "status": "P"}, "#/occurred_at"),
        ({"order_id": "bad", "status": "P", "occurred_at": at(0)}, "#/platform"),
        ({**event("bad", "P", at(0)), "status": 5}, "#/status"),
        (event("bad", "P", at(0), extra="1"), "#/extra"),
        (event("", "P", at(0)), "#/order_id"),
        (event("bad", "P", at(0), event_id=""), "#/event_id"),
        (event("bad", {"order": "P", "payment": "paid"}, at(0)), "#/status/payment"),
        ({}, "#/platform"),
        ([], "#"),
    ],
)
def test_bad_input_is_a_422_problem_with_a_pointer_and_stores_nothing(
    client: TestClient, tenant: Tenant, body: Any, pointer: str
) -> None:
    problem = assert_problem(client.post("/v1/events", json=body, headers=tenant.headers), 422)
    assert pointer in pointers(problem), problem
    assert assert_problem(client.get("/v1/orders/cscart/bad", headers=tenant.headers), 404)
    assert client.get("/v1/orders", headers=tenant.headers).json()["orders"] == []


def test_an_unknown_platform_in_the_body_is_422_listing_the_platforms(
    client: TestClient, tenant: Tenant
) -> None:
    response = client.post(
        "/v1/events", json=event("1", "P", at(0), platform="shopify"), headers=tenant.headers
    )
    problem = assert_problem(response, 422)
    assert (problem["type"], problem["pointer"]) == ("/problems/unknown-platform", "#/platform")
    assert problem["valid"] == ["cloudcart", "courier", "cscart", "kak2c", "measoft"]
    assert client.get("/v1/orders", headers=tenant.headers).json()["orders"] == []


@pytest.mark.parametrize(
    ("content", "content_type", "status", "kind"),
    [
        (b"", "application/json", 422, "/problems/validation-error"),
        (b'{"platform": ', "application/json", 400, "/problems/malformed-json"),
        (b"platform=cscart&status=P", "application/x-www-form-urlencoded", 415, None),
        (orjson.dumps(event("bad", "P", at(0))), "text/plain", 415, None),
        (b"", None, 415, "/problems/unsupported-media-type"),
    ],
)
def test_a_body_that_is_not_a_json_event_is_refused(
    client: TestClient,
    tenant: Tenant,
    content: bytes,
    content_type: str | None,
    status: int,
    kind: str | None,
) -> None:
    headers = dict(tenant.headers)
    if content_type:
        headers["content-type"] = content_type
    problem = assert_problem(client.post("/v1/events", content=content, headers=headers), status)
    assert problem["type"] == (kind or "/problems/unsupported-media-type")
    assert client.get("/v1/orders", headers=tenant.headers).json()["orders"] == []


# ---- concurrency: real concurrent requests into one app, inside its lifespan ----


class InFlight:
    """Counts the requests the app is serving at once, to prove they really overlapped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.now = 0
        self.most = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


@asynccontextmanager
async def serving(
    app: FastAPI, tenant: Tenant
) -> AsyncIterator[tuple[httpx.AsyncClient, InFlight]]:
    """An async client on the app (lifespan running) that sends the tenant's key."""
    counter = InFlight(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=counter)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway", headers=tenant.headers
        ) as client:
            yield client, counter


def test_the_same_event_posted_20_times_at_once_changes_the_order_once(
    app: FastAPI, tenant: Tenant, settings: Settings
) -> None:
    body = event("race", "P", at(0), event_id="evt-race")

    async def run() -> tuple[list[httpx.Response], httpx.Response, int]:
        async with serving(app, tenant) as (client, counter):
            answers = await asyncio.gather(
                *(client.post("/v1/events", json=body) for _ in range(20))
            )
            found = await client.get("/v1/orders/cscart/race")
            return list(answers), found, counter.most

    answers, found, most = asyncio.run(run())
    assert most > 1, "the requests did not overlap"
    assert [a.status_code for a in answers] == [202] * 20
    results = sorted(a.json()["result"] for a in answers)
    assert results == ["changed"] + ["duplicate"] * 19
    assert {a.json()["sequence"] for a in answers} == {1}
    assert len(found.json()["timeline"]) == 1
    assert [c["sequence"] for c in changes(settings, tenant)] == ["1"]


def test_30_different_events_at_once_get_gapless_sequence_numbers(
    app: FastAPI, tenant: Tenant, settings: Settings
) -> None:
    codes = ["P", "C"]
    bodies = [event("busy", codes[i % 2], at(i), event_id=f"e{i}") for i in range(30)]

    async def run() -> tuple[list[httpx.Response], httpx.Response, int]:
        async with serving(app, tenant) as (client, counter):
            answers = await asyncio.gather(*(client.post("/v1/events", json=b) for b in bodies))
            found = await client.get("/v1/orders/cscart/busy")
            return list(answers), found, counter.most

    answers, found, most = asyncio.run(run())
    assert most > 1, "the requests did not overlap"
    assert [a.status_code for a in answers] == [202] * 30, [a.text for a in answers]
    results = [a.json()["result"] for a in answers]
    assert set(results) <= {"changed", "unchanged", "late"}
    changed = sorted(a.json()["sequence"] for a in answers if a.json()["result"] == "changed")
    n = len(changed)
    assert changed == list(range(1, n + 1))
    state = found.json()
    assert state["sequence"] == n
    timeline = state["timeline"]
    assert sorted(e["n"] for e in timeline) == list(range(1, 31))
    assert sorted(e["sequence"] for e in timeline if e["changed"]) == list(range(1, n + 1))
    assert sorted(e["event_id"] for e in timeline) == sorted(f"e{i}" for i in range(30))
    # The latest event by time is the current state, whatever order they arrived in.
    assert state["occurred_at"] == "2024-05-14T07:00:29Z"
    assert state["native"]["code"] == "C"
    assert [int(c["sequence"]) for c in changes(settings, tenant)] == list(range(1, n + 1))


def test_30_changes_racing_for_one_order_are_all_applied_one_after_another(
    app: FastAPI, tenant: Tenant, settings: Settings, tables: Tables
) -> None:
    # Equal times keep arrival order, and no two of these codes mean the same canonical status:
    # whatever order they land in, each one changes the order, so all 30 race for its rev.
    codes = sorted(tables.platform("measoft").statuses)[:30]
    bodies = [event("hot", code, at(0), platform="measoft") for code in codes]

    async def run() -> tuple[list[httpx.Response], httpx.Response, int]:
        async with serving(app, tenant) as (client, counter):
            answers = await asyncio.gather(*(client.post("/v1/events", json=b) for b in bodies))
            found = await client.get("/v1/orders/measoft/hot")
            return list(answers), found, counter.most

    answers, found, most = asyncio.run(run())
    assert most > 1, "the requests did not overlap"
    assert [a.status_code for a in answers] == [202] * 30, [a.text for a in answers]
    assert {a.json()["result"] for a in answers} == {"changed"}
    assert sorted(a.json()["sequence"] for a in answers) == list(range(1, 31))
    state = found.json()
    assert state["sequence"] == 30
    timeline = state["timeline"]
    assert [e["n"] for e in timeline] == list(range(1, 31))
    assert [e["sequence"] for e in timeline] == list(range(1, 31))
    # The last to arrive is the current state; each answer saw the state its own change made.
    assert state["native"]["code"] == timeline[-1]["native"]["code"]
    by_code = {a.json()["native"]["code"]: a.json()["sequence"] for a in answers}
    assert by_code == {e["native"]["code"]: e["sequence"] for e in timeline}
    feed = changes(settings, tenant)
    assert [int(c["sequence"]) for c in feed] == list(range(1, 31))
    assert [orjson.loads(c["previous"] or "null") for c in feed[1:]] == [
        orjson.loads(c["current"]) for c in feed[:-1]
    ]


def test_two_gateways_on_one_redis_never_decide_on_a_stale_remembered_state(
    settings: Settings, runtime: Runtime, tenant: Tenant
) -> None:
    # Each app remembers the orders it touched; the other one moves them on meanwhile, so every
    # second commit starts from a stale state and must be decided again on the stored one.
    lifecycle = ["O", "P", "C", "P", "C", "I"]

    async def run() -> list[list[httpx.Response]]:
        async with (
            serving(create_app(settings, runtime), tenant) as (a, _),
            serving(create_app(settings, runtime), tenant) as (b, _),
        ):
            rounds = []
            for step, code in enumerate(lifecycle):
                client = (a, b)[step % 2]
                rounds.append(
                    list(
                        await asyncio.gather(
                            *(
                                client.post("/v1/events", json=event(f"two-{o}", code, at(step)))
                                for o in range(5)
                            )
                        )
                    )
                )
            return rounds

    rounds = asyncio.run(run())
    for step, answers in enumerate(rounds):
        assert [(r.json()["result"], r.json()["sequence"]) for r in answers] == [
            ("changed", step + 1)
        ] * 5, step
    feed = [c for c in changes(settings, tenant) if c["order_id"] == "two-0"]
    assert [int(c["sequence"]) for c in feed] == list(range(1, len(lifecycle) + 1))


def test_events_still_commit_after_redis_lost_its_scripts(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    post(client, tenant, event("flushed", "O", at(0)))

    async def flush() -> None:
        redis = client_for(settings.redis_url or "")
        try:
            await redis.script_flush()
        finally:
            await redis.aclose()

    asyncio.run(flush())  # as after a restart of a server without persistence of scripts
    answer = post(client, tenant, event("flushed", "P", at(1)))
    assert (answer["result"], answer["sequence"]) == ("changed", 2)
    assert [e["n"] for e in order(client, tenant, "flushed")["timeline"]] == [1, 2]


# ---- batch ----


def test_a_batch_answers_each_event_in_order_and_a_bad_one_does_not_fail_the_others(
    client: TestClient, tenant: Tenant
) -> None:
    events: list[Any] = [
        event("1", "P", at(0)),
        {"platform": "cscart", "order_id": "2", "status": "P"},
        event("42", PAID, at(0), platform="cloudcart"),
        event("3", "P", at(0), platform="shopify"),
        event("SHOP-1", "DELIVERY", at(0), platform="courier"),
        "not an event",
        event("4", {"order": "P", "payment": "paid"}, at(0)),
    ]
    response = client.post(
        "/v1/events/batch?lang=fr", json={"events": events}, headers=tenant.headers
    )
    assert response.status_code == 202
    assert response.headers["content-language"] == "fr"
    results = response.json()["results"]
    assert len(results) == len(events)
    good = {0: ("cscart", "1", "Confirmée"), 2: ("cloudcart", "42", "Confirmée")}
    for i, (platform, order_id, label) in good.items():
        assert results[i]["result"] == "changed"
        assert results[i]["order"] == {"platform": platform, "order_id": order_id}
        assert results[i]["current"]["label"] == label
    assert results[4]["order"] == {"platform": "measoft", "order_id": "SHOP-1"}
    assert results[4]["current"]["code"] == "out_for_delivery"
    expected = {
        1: "#/events/1/occurred_at",
        3: "#/events/3/platform",
        5: "#/events/5",
        6: "#/events/6/status/payment",
    }
    for i, pointer in expected.items():
        problem = results[i]["error"]
        assert set(results[i]) == {"error"}
        assert problem["status"] == 422
        assert problem["instance"] == "/v1/events/batch"
        assert pointer in pointers(problem), problem
    assert results[3]["error"]["type"] == "/problems/unknown-platform"
    listed = client.get("/v1/orders", headers=tenant.headers).json()["orders"]
    assert sorted((o["platform"], o["order_id"]) for o in listed) == [
        ("cloudcart", "42"),
        ("cscart", "1"),
        ("measoft", "SHOP-1"),
    ]


def test_events_of_one_order_in_a_batch_are_applied_in_their_order(
    client: TestClient, tenant: Tenant
) -> None:
    events = [
        event("1", "P", at(0)),
        event("1", "C", at(60)),
        event("1", "O", at(30)),  # older than the current one: late
        event("1", "C", at(60)),  # a duplicate of the second
        event("1", "Y", at(120)),
        event("1", "P", at(120)),  # same time as the one before: applied after it
    ]
    response = client.post("/v1/events/batch", json={"events": events}, headers=tenant.headers)
    assert response.status_code == 202
    results = response.json()["results"]
    assert [(r["result"], r["sequence"]) for r in results] == [
        ("changed", 1),
        ("changed", 2),
        ("late", 2),
        ("duplicate", 2),
        ("changed", 3),
        ("changed", 4),
    ]
    found = order(client, tenant, "1")
    assert found["current"]["code"] == "confirmed"
    assert [e["native"]["code"] for e in found["timeline"]] == ["P", "C", "O", "Y", "P"]
    assert [e["sequence"] for e in found["timeline"]] == [1, 2, None, 3, 4]


def test_a_batch_of_more_than_1000_events_is_refused_whole(
    client: TestClient, tenant: Tenant
) -> None:
    events = [event(str(i), "P", at(0)) for i in range(1001)]
    response = client.post("/v1/events/batch", json={"events": events}, headers=tenant.headers)
    problem = assert_problem(response, 422)
    assert "#/events" in pointers(problem)
    assert client.get("/v1/orders", headers=tenant.headers).json()["orders"] == []


def test_a_batch_of_exactly_1000_events_is_accepted(client: TestClient, tenant: Tenant) -> None:
    events = [event(str(i), "P", at(0)) for i in range(1000)]
    response = client.post("/v1/events/batch", json={"events": events}, headers=tenant.headers)
    assert response.status_code == 202
    assert {r["result"] for r in response.json()["results"]} == {"changed"}


@pytest.mark.parametrize(
    ("body", "status", "pointer"),
    [
        ({"events": []}, 422, "#/events"),
        ({"events": "all"}, 422, "#/events"),
        ({}, 422, "#/events"),
        ({"events": [event("1", "P", at(0))], "lang": "fr"}, 422, "#/lang"),
        ([event("1", "P", at(0))], 422, "#"),
    ],
)
def test_a_bad_batch_envelope_is_a_422_problem(
    client: TestClient, tenant: Tenant, body: Any, status: int, pointer: str
) -> None:
    response = client.post("/v1/events/batch", json=body, headers=tenant.headers)
    assert pointer in pointers(assert_problem(response, status))
    assert client.get("/v1/orders", headers=tenant.headers).json()["orders"] == []


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"events": [', "application/json", 400),
        (b'{"events": []}', "text/plain", 415),
        (b"", None, 415),
    ],
)
def test_a_batch_body_that_is_not_json_is_refused(
    client: TestClient, tenant: Tenant, content: bytes, content_type: str | None, status: int
) -> None:
    headers = dict(tenant.headers)
    if content_type:
        headers["content-type"] = content_type
    response = client.post("/v1/events/batch", content=content, headers=headers)
    assert_problem(response, status)


# ---- the change stream (the webhook feed) ----


def test_each_change_and_only_a_change_goes_to_the_change_stream(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    post(client, tenant, event("1", "O", at(0)))
    post(client, tenant, event("1", "P", at(60)))
    post(client, tenant, event("1", "P", at(60)))  # duplicate
    post(client, tenant, event("1", "P", at(90)))  # unchanged
    post(client, tenant, event("1", "C", at(30)))  # late
    post(client, tenant, event("1", "C", at(120)))
    feed = changes(settings, tenant)
    assert [c["sequence"] for c in feed] == ["1", "2", "3"]
    assert {c["type"] for c in feed} == {"order.status_changed"}
    assert {(c["platform"], c["order_id"]) for c in feed} == {("cscart", "1")}
    current = [orjson.loads(c["current"])["code"] for c in feed]
    assert current == ["pending", "confirmed", "completed"]
    assert feed[0]["previous"] == ""
    assert [orjson.loads(c["previous"]) for c in feed[1:]] == [
        orjson.loads(c["current"]) for c in feed[:-1]
    ]
    assert [orjson.loads(c["native"])["code"] for c in feed] == ["O", "P", "C"]
    assert [c["occurred_at"] for c in feed] == [
        "2024-05-14T07:00:00Z",
        "2024-05-14T07:01:00Z",
        "2024-05-14T07:02:00Z",
    ]
    assert [c["regression"] for c in feed] == ["0", "0", "0"]
    assert [c["n"] for c in feed] == ["1", "2", "5"]


def test_another_tenants_events_do_not_reach_this_tenants_stream(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    other = make_tenant(settings)
    post(client, other, event("1", "P", at(0)))
    assert changes(settings, tenant) == []
    assert [c["sequence"] for c in changes(settings, other)] == ["1"]
