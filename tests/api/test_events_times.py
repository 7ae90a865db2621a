"""Event times the tracking rules cannot take, over every way an event comes in.

A time outside the years a datetime holds once it is in UTC (0001-01-01T00:00:00+14:00) is a
422 problem pointing at the field, never a 500. A time later than the gateway's clock plus
`future_tolerance_s` (300 s here) would win over every real event after it and freeze the order:
it is refused, per event, and nothing of it is stored. Old times stay accepted (they are late).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.factories import Tenant, assert_problem, at, event, make_tenant, pointers

Json = dict[str, Any]
XML = {"content-type": "application/xml"}
JSON = {"content-type": "application/json"}

# Out of range once in UTC: year 0 and year 10000.
OUT_OF_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
FAR_FUTURE = "9999-12-31T23:59:59Z"


def hour_ahead() -> str:
    """An hour later than the gateway's clock: well past the 300 s tolerance."""
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def order_status(client: TestClient, tenant: Tenant, platform: str, order_id: str) -> int:
    return client.get(f"/v1/orders/{platform}/{order_id}", headers=tenant.headers).status_code


def measoft_time(value: str) -> tuple[str, str]:
    """An ISO time as MeaSoft writes a UTC time (createtimegmt)."""
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S"), "createtimegmt"


@dataclass(frozen=True)
class Ingest:
    """A native payload of one event, and where its time is."""

    platform: str
    order_id: str
    body: Callable[[str, str], bytes]  # (order id, ISO time) -> payload
    pointer: str  # of the time, for the first event of a payload
    many: Callable[[list[tuple[str, str]]], bytes]  # several (order id, time) in one payload
    pointer_of: Callable[[int], str]  # of the time of the i-th event of `many`
    xml: bool = False


def _kak2c(order_id: str, when: str) -> Json:
    return {"order_id": order_id, "status": "PACKED", "updated_at": when}


def _cloudcart(order_id: str, when: str) -> Json:
    return {"id": order_id, "status": "paid", "updated_at": when}


def _cscart(order_id: str, when: str) -> Json:
    seconds = int(datetime.fromisoformat(when).timestamp())
    return {"order_id": order_id, "status": "P", "updated_at": str(seconds)}


def _measoft(order_id: str, when: str) -> str:
    text, attribute = measoft_time(when)
    return f'<order orderno="{order_id}"><status {attribute}="{text}">NEW</status></order>'


INGESTS = {
    "kak2c": Ingest(
        "kak2c",
        "K-1",
        lambda o, t: orjson.dumps(_kak2c(o, t)),
        "#/updated_at",
        lambda items: orjson.dumps([_kak2c(o, t) for o, t in items]),
        lambda i: f"#/{i}/updated_at",
    ),
    "cloudcart": Ingest(
        "cloudcart",
        "1042",
        lambda o, t: orjson.dumps([_cloudcart(o, t)]),
        "#/0/updated_at",
        lambda items: orjson.dumps([_cloudcart(o, t) for o, t in items]),
        lambda i: f"#/{i}/updated_at",
    ),
    "cscart": Ingest(
        "cscart",
        "1207",
        lambda o, t: orjson.dumps(_cscart(o, t)),
        "#/updated_at",
        lambda items: orjson.dumps([_cscart(o, t) for o, t in items]),
        lambda i: f"#/{i}/updated_at",
    ),
    "measoft": Ingest(
        "measoft",
        "SHOP-1",
        lambda o, t: _measoft(o, t).encode(),
        "#/order/status/@createtimegmt",
        lambda items: (
            f'<statusreq count="{len(items)}">'
            + "".join(_measoft(o, t) for o, t in items)
            + "</statusreq>"
        ).encode(),
        lambda i: f"#/statusreq/order/{i}/status/@createtimegmt",
        xml=True,
    ),
}


def ingest(client: TestClient, tenant: Tenant, ingest: Ingest, body: bytes) -> Any:
    headers = {**tenant.headers, **(XML if ingest.xml else JSON)}
    return client.post(f"/v1/ingest/{ingest.platform}", content=body, headers=headers)


def assert_nothing_stored(client: TestClient, tenant: Tenant) -> None:
    assert client.get("/v1/orders", headers=tenant.headers).json()["orders"] == []
    assert client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"] == []


# ---- out of range once converted to UTC: 422, never 500 ----


@pytest.mark.parametrize("when", OUT_OF_RANGE)
def test_an_event_time_out_of_range_in_utc_is_a_422_problem(
    client: TestClient, tenant: Tenant, when: str
) -> None:
    response = client.post("/v1/events", json=event("o1", "P", when), headers=tenant.headers)
    problem = assert_problem(response, 422)
    assert pointers(problem) == ["#/occurred_at"]
    assert when in problem["detail"]
    assert order_status(client, tenant, "cscart", "o1") == 404
    assert_nothing_stored(client, tenant)


@pytest.mark.parametrize("when", OUT_OF_RANGE)
def test_an_event_time_out_of_range_fails_only_its_item_of_a_batch(
    client: TestClient, tenant: Tenant, when: str
) -> None:
    events = [event("good-1", "P", at(0)), event("bad", "P", when), event("good-2", "C", at(0))]
    response = client.post("/v1/events/batch", json={"events": events}, headers=tenant.headers)
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert set(results[1]) == {"error"}
    problem = results[1]["error"]
    assert (problem["status"], problem["instance"]) == (422, "/v1/events/batch")
    assert pointers(problem) == ["#/events/1/occurred_at"]
    assert [results[i]["result"] for i in (0, 2)] == ["changed", "changed"]
    assert order_status(client, tenant, "cscart", "bad") == 404
    assert order_status(client, tenant, "cscart", "good-1") == 200
    assert order_status(client, tenant, "cscart", "good-2") == 200


@pytest.mark.parametrize("when", OUT_OF_RANGE)
@pytest.mark.parametrize("alone", [True, False], ids=["alone", "second-of-two"])
@pytest.mark.parametrize("platform", ["kak2c", "cloudcart"])
def test_a_native_payload_with_a_time_out_of_range_is_refused_whole(
    client: TestClient, tenant: Tenant, platform: str, alone: bool, when: str
) -> None:
    native = INGESTS[platform]
    if alone:
        body, pointer = native.body("101", when), native.pointer
    else:
        body, pointer = native.many([("101", at(0)), ("102", when)]), native.pointer_of(1)
    problem = assert_problem(ingest(client, tenant, native, body), 422)
    assert problem["type"] == "/problems/invalid-payload"
    assert pointers(problem) == [pointer]
    assert_nothing_stored(client, tenant)


@pytest.mark.parametrize(
    ("xml", "pointer"),
    [
        (
            '<order orderno="SHOP-1"><status eventtime="0001-01-01 00:00:00">NEW</status></order>',
            "#/order/status/@eventtime",
        ),
        (
            '<order orderno="SHOP-1"><statushistory><status eventtime="2024-05-14 10:00:00">NEW'
            '</status><status eventtime="0001-01-01 00:00:00">DELIVERY</status></statushistory>'
            "</order>",
            "#/order/statushistory/status/1/@eventtime",
        ),
        (
            '<order orderno="SHOP-1"><webhook_status_code>NEW</webhook_status_code>'
            "<webhook_status_time>0001-01-01 00:00:00</webhook_status_time></order>",
            "#/order/webhook_status_time",
        ),
    ],
)
def test_a_measoft_local_time_out_of_range_in_utc_is_refused_whole(
    client: TestClient, tenant: Tenant, xml: str, pointer: str
) -> None:
    # Moscow was UTC+02:30:17 in year 1: its midnight of 0001-01-01 is in year 0 in UTC.
    response = client.post(
        "/v1/ingest/measoft", content=xml.encode(), headers={**tenant.headers, **XML}
    )
    problem = assert_problem(response, 422)
    assert problem["type"] == "/problems/invalid-payload"
    assert pointers(problem) == [pointer]
    assert_nothing_stored(client, tenant)


# ---- in the future: refused per event, nothing stored, the order still moves on ----


@pytest.mark.parametrize("when", [FAR_FUTURE, "future+1h"])
def test_an_event_dated_in_the_future_is_refused_and_does_not_freeze_the_order(
    client: TestClient, tenant: Tenant, when: str
) -> None:
    when = hour_ahead() if when == "future+1h" else when
    response = client.post("/v1/events", json=event("o1", "P", when), headers=tenant.headers)
    problem = assert_problem(response, 422)
    assert problem["type"] == "/problems/invalid-input"
    assert pointers(problem) == ["#/occurred_at"]
    assert "later than the gateway's clock" in problem["detail"]
    assert order_status(client, tenant, "cscart", "o1") == 404
    assert_nothing_stored(client, tenant)
    # the real events that follow are applied as usual
    for status, seconds in (("P", 0), ("C", 60)):
        response = client.post(
            "/v1/events", json=event("o1", status, at(seconds)), headers=tenant.headers
        )
        assert response.status_code == 202, response.text
        assert response.json()["result"] == "changed"
    found = client.get("/v1/orders/cscart/o1", headers=tenant.headers).json()
    assert found["current"]["code"] == "completed"
    assert [e["native"]["code"] for e in found["timeline"]] == ["P", "C"]


def test_an_event_dated_in_the_future_fails_only_its_item_of_a_batch(
    client: TestClient, tenant: Tenant
) -> None:
    events = [
        event("o1", "P", at(0)),
        event("o1", "C", FAR_FUTURE),
        event("o2", "P", hour_ahead(), platform="cscart"),
        event("o1", "O", at(60)),
    ]
    response = client.post("/v1/events/batch", json={"events": events}, headers=tenant.headers)
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    for i in (1, 2):
        assert set(results[i]) == {"error"}
        assert results[i]["error"]["status"] == 422
        assert pointers(results[i]["error"]) == [f"#/events/{i}/occurred_at"]
    assert [(results[i]["result"], results[i]["sequence"]) for i in (0, 3)] == [
        ("changed", 1),
        ("changed", 2),
    ]
    assert order_status(client, tenant, "cscart", "o2") == 404
    found = client.get("/v1/orders/cscart/o1", headers=tenant.headers).json()
    assert [e["native"]["code"] for e in found["timeline"]] == ["P", "O"]


@pytest.mark.parametrize("platform", sorted(INGESTS))
@pytest.mark.parametrize("when", [FAR_FUTURE, "future+1h"])
def test_a_native_event_dated_in_the_future_is_refused_alone(
    client: TestClient, tenant: Tenant, platform: str, when: str
) -> None:
    native = INGESTS[platform]
    when = hour_ahead() if when == "future+1h" else when
    body = native.many([("101", at(0)), ("102", when), ("103", at(30))])
    response = ingest(client, tenant, native, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["events"], answer["changed"]) == (3, 2)
    results = answer["results"]
    assert [r["order_id"] for r in results] == ["101", "102", "103"]
    assert results[1]["error"]["status"] == 422
    assert results[1]["error"]["type"] == "/problems/invalid-input"
    assert pointers(results[1]["error"]) == [native.pointer_of(1)]
    assert [results[i]["result"] for i in (0, 2)] == ["changed", "changed"]
    assert order_status(client, tenant, platform, "102") == 404
    assert order_status(client, tenant, platform, "101") == 200
    # the order is not frozen: a real event of it is applied
    answer = ingest(client, tenant, native, native.body("102", at(0))).json()
    assert answer["results"][0]["result"] == "changed"


@pytest.mark.parametrize("platform", sorted(INGESTS))
def test_a_native_payload_of_one_future_event_stores_nothing(
    client: TestClient, tenant: Tenant, platform: str
) -> None:
    native = INGESTS[platform]
    response = ingest(client, tenant, native, native.body(native.order_id, FAR_FUTURE))
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["error"]["status"] == 422
    assert pointers(result["error"]) == [native.pointer]
    assert_nothing_stored(client, tenant)


# ---- what stays accepted ----


@pytest.mark.parametrize(
    ("when", "result"),
    [
        ("1969-07-20T20:17:40Z", "late"),  # before 1970
        ("0001-01-01T00:00:00Z", "late"),  # the first instant a datetime holds
        ("0001-01-01T14:00:00+14:00", "late"),  # the same instant, another offset
        ("9999-12-31T09:59:59-14:00", None),  # in range in UTC, but far in the future
        ("now+60s", "changed"),  # clock skew within the tolerance
    ],
)
def test_old_times_are_late_and_a_little_skew_is_accepted(
    client: TestClient, tenant: Tenant, when: str, result: str | None
) -> None:
    first = client.post("/v1/events", json=event("o1", "P", at(0)), headers=tenant.headers)
    assert first.status_code == 202, first.text
    if when == "now+60s":
        when = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()
    response = client.post("/v1/events", json=event("o1", "C", when), headers=tenant.headers)
    if result is None:
        assert pointers(assert_problem(response, 422)) == ["#/occurred_at"]
        return
    assert response.status_code == 202, response.text
    assert response.json()["result"] == result


@pytest.mark.parametrize(("tolerance_s", "status"), [(300, 422), (7200, 202)])
def test_the_tolerance_is_the_setting(
    settings: Settings, runtime: Runtime, tolerance_s: int, status: int
) -> None:
    """GATEWAY_FUTURE_TOLERANCE_S reaches the API's recorder: an hour ahead is refused with the
    default five minutes and taken with two hours."""
    configured = settings.model_copy(update={"future_tolerance_s": tolerance_s})
    tenant = make_tenant(configured)
    with TestClient(create_app(configured, runtime)) as client:
        answer = client.post(
            "/v1/events", json=event("tol1", "O", hour_ahead()), headers=tenant.headers
        )
    assert answer.status_code == status, answer.text
