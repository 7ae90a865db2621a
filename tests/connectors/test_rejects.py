"""One unreadable order never stops a connector: it is set aside, listed and announced once, the
poll records the others, and it leaves the list once a poll records it (or the list is cleared).

Each platform's API on 127.0.0.1 answers one bad order among good ones: a MeaSoft status time
that is not a time, a CS-Cart status that is not a letter, a CloudCart order without a status.
The rules themselves (`gateway.connectors.rejects.update`) are tested as a pure function below.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.connectors import rejects
from gateway.connectors.rejects import Rejected, Tally, update
from gateway.errors import InvalidInput, StorageUnavailable
from gateway.ingest import NativeEvent
from gateway.settings import Settings
from tests.connectors.cloudcart_server import CloudcartServer, cloudcart_api
from tests.connectors.conftest import order, poll, put_connector
from tests.connectors.cscart_server import CscartServer, cscart_api
from tests.connectors.measoft_server import MeasoftServer, measoft_api
from tests.factories import Tenant, assert_problem, changes

Json = dict[str, Any]
Server = Any


@dataclass(frozen=True)
class Platform:
    """How to run one platform's API with good orders and one bad one, and how to fix it."""

    name: str
    serve: Callable[[], AbstractContextManager[Server]]
    body: Callable[[Server], Json]
    good: Callable[[Server], None]
    bad: Callable[[Server], None]
    fix: Callable[[Server], None] | None  # None: the platform never lists it again (a feed)
    detail: str  # words of the bad order's detail
    fixed: str  # the bad order's canonical status once fixed


def _measoft_good(api: MeasoftServer) -> None:
    api.add("M-1", "NEW", "2024-05-13 07:15:02")
    api.add("M-3", "NEW", "2024-05-13 07:16:00")


def _cscart_good(api: CscartServer) -> None:
    api.set("1", "O")
    api.set("3", "P")


def _cloudcart_good(api: CloudcartServer) -> None:
    api.set("1", "pending", "requested")
    api.set("3", "paid", "completed")


PLATFORMS = [
    Platform(
        "measoft",
        measoft_api,
        lambda api: {
            "login": api.login,
            "password": api.password,
            "extra": api.extra,
            "api_url": api.url,
        },
        _measoft_good,
        lambda api: api.add("M-2", "DELIVERY", "14.05.2024 06:40"),
        None,
        "createtimegmt",
        "",
    ),
    Platform(
        "cscart",
        cscart_api,
        lambda api: {"store_url": api.url, "email": api.email, "api_key": api.api_key},
        _cscart_good,
        lambda api: api.set("2", "?"),
        lambda api: api.set("2", "C"),
        "not a status letter",
        "completed",
    ),
    Platform(
        "cloudcart",
        cloudcart_api,
        lambda api: {"store_url": api.url, "api_key": api.api_key},
        _cloudcart_good,
        lambda api: api.set("2", "", "requested"),
        lambda api: api.set("2", "cancelled", None),
        "not a status code",
        "canceled",
    ),
]
BAD_ID = {"measoft": "M-2", "cscart": "2", "cloudcart": "2"}


@pytest.fixture(params=PLATFORMS, ids=lambda p: p.name)
def platform(request: pytest.FixtureRequest) -> Platform:
    found: Platform = request.param
    return found


@pytest.fixture
def api(platform: Platform) -> Iterator[Server]:
    with platform.serve() as server:
        yield server


def shown(client: TestClient, tenant: Tenant, platform: str) -> Json:
    response = client.get(f"/v1/connectors/{platform}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: Json = response.json()
    return found


def announced(settings: Settings, tenant: Tenant) -> list[Json]:
    return [
        orjson.loads(c["data"])
        for c in changes(settings, tenant)
        if c["type"] == "connector.item_rejected"
    ]


def connect_with_a_bad_order(
    client: TestClient, tenant: Tenant, platform: Platform, api: Server
) -> None:
    platform.good(api)
    platform.bad(api)
    put_connector(client, tenant, platform.name, platform.body(api))


def test_a_bad_order_is_set_aside_and_the_others_are_recorded(
    keyed: TestClient, tenant: Tenant, settings: Settings, platform: Platform, api: Server
) -> None:
    connect_with_a_bad_order(keyed, tenant, platform, api)
    health = poll(keyed, tenant, platform.name)
    assert health["last_error"] is None
    assert health["failures_in_row"] == 0
    for good in ("M-1", "M-3") if platform.name == "measoft" else ("1", "3"):
        assert order(keyed, tenant, platform.name, good)["current"]["code"] != "unknown"
    bad = BAD_ID[platform.name]
    missing = keyed.get(f"/v1/orders/{platform.name}/{bad}", headers=tenant.headers)
    assert_problem(missing, 404)

    [entry] = shown(keyed, tenant, platform.name)["rejected"]
    assert entry["order_id"] == bad
    assert platform.detail in entry["detail"]
    assert entry["where"]
    assert entry["times"] == 1
    assert entry["first_seen_at"] == entry["last_seen_at"]
    if platform.name == "measoft":  # confirmed with the others: the feed moves on
        assert api.requests == ["statusreq", "commitlaststatus"]
        assert api.changed == set()
    metrics = keyed.get("/metrics").text
    assert f'gateway_connector_rejected_total{{platform="{platform.name}"}} 1.0' in metrics
    [event] = announced(settings, tenant)
    assert event == {
        "platform": platform.name,
        "order_id": bad,
        "where": entry["where"],
        "detail": entry["detail"],
        "first_seen_at": entry["first_seen_at"],
    }


def test_a_bad_order_is_announced_once_and_leaves_the_list_when_recorded(
    keyed: TestClient, tenant: Tenant, settings: Settings, platform: Platform, api: Server
) -> None:
    connect_with_a_bad_order(keyed, tenant, platform, api)
    poll(keyed, tenant, platform.name)
    poll(keyed, tenant, platform.name)
    [entry] = shown(keyed, tenant, platform.name)["rejected"]
    # a listing platform lists it on every poll; MeaSoft's confirmed feed does not send it again
    assert entry["times"] == (1 if platform.fix is None else 2)
    assert len(announced(settings, tenant)) == 1

    if platform.fix is None:  # dealt with at the source: the tenant clears the list
        cleared = keyed.delete(f"/v1/connectors/{platform.name}/rejected", headers=tenant.headers)
        assert cleared.status_code == 204
    else:
        platform.fix(api)
        poll(keyed, tenant, platform.name)
        bad = BAD_ID[platform.name]
        assert order(keyed, tenant, platform.name, bad)["current"]["code"] == platform.fixed
    assert shown(keyed, tenant, platform.name)["rejected"] == []
    assert len(announced(settings, tenant)) == 1


def test_storing_the_connector_for_another_account_forgets_the_list(
    keyed: TestClient, tenant: Tenant, platform: Platform, api: Server
) -> None:
    connect_with_a_bad_order(keyed, tenant, platform, api)
    poll(keyed, tenant, platform.name)
    assert shown(keyed, tenant, platform.name)["rejected"]
    body = platform.body(api)
    other = {"extra": "999"} if platform.name == "measoft" else {"store_url": f"{api.url}/b"}
    put_connector(keyed, tenant, platform.name, {**body, **other})
    assert shown(keyed, tenant, platform.name)["rejected"] == []
    put_connector(keyed, tenant, platform.name, body)
    platform.bad(api)  # MeaSoft sends a confirmed change only once: it changes again
    poll(keyed, tenant, platform.name)
    assert shown(keyed, tenant, platform.name)["rejected"]
    keyed.delete(f"/v1/connectors/{platform.name}", headers=tenant.headers)
    put_connector(keyed, tenant, platform.name, body)
    assert shown(keyed, tenant, platform.name)["rejected"] == []


@pytest.mark.parametrize("name", ["measoft", "cscart", "cloudcart"])
def test_clearing_the_list_of_a_connector_not_configured_is_a_404(
    keyed: TestClient, tenant: Tenant, name: str
) -> None:
    response = keyed.delete(f"/v1/connectors/{name}/rejected", headers=tenant.headers)
    assert assert_problem(response, 404)["detail"] == f"no {name} connector is configured"


def test_an_unknown_platform_is_a_404(keyed: TestClient, tenant: Tenant) -> None:
    response = keyed.delete("/v1/connectors/ozon/rejected", headers=tenant.headers)
    assert_problem(response, 404)


# ------------------------------------------------------------------ the rules, as a pure function

NOW, LATER, OLDEST = (
    "2026-11-24T10:00:00.000Z",
    "2026-11-24T11:00:00.000Z",
    "2026-10-25T00:00:00.000Z",
)


def entry(order_id: str | None, detail: str = "bad", seen: str = NOW, times: int = 1) -> Json:
    return {
        "where": "#/x",
        "order_id": order_id,
        "detail": detail,
        "first_seen_at": seen,
        "last_seen_at": seen,
        "times": times,
    }


def key(order_id: str | None, detail: str = "bad") -> str:
    return Rejected("#/x", detail, order_id).key


def test_a_new_item_is_written_and_announced() -> None:
    change = update({}, [Rejected("#/x", "bad", "7")], set(), NOW, OLDEST)
    assert change.write == {"order:7": entry("7")}
    assert change.new == [entry("7")]
    assert change.drop == []


def test_an_item_seen_again_counts_and_keeps_its_first_time_without_a_new_announcement() -> None:
    change = update({"order:7": entry("7")}, [Rejected("#/y", "worse", "7")], set(), LATER, OLDEST)
    assert change.write == {
        "order:7": {
            "where": "#/y",
            "order_id": "7",
            "detail": "worse",
            "first_seen_at": NOW,
            "last_seen_at": LATER,
            "times": 2,
        }
    }
    assert change.new == []


def test_one_order_with_two_faults_in_one_poll_is_one_entry() -> None:
    found = [Rejected("#/a", "first", "7"), Rejected("#/b", "second", "7")]
    change = update({}, found, set(), NOW, OLDEST)
    assert [e["detail"] for e in change.write.values()] == ["second"]
    assert len(change.new) == 1


@pytest.mark.parametrize(
    ("taken", "found", "left"),
    [
        ({"7"}, [], []),  # recorded: it leaves
        ({"7"}, [Rejected("#/x", "bad", "7")], ["order:7"]),  # recorded in part, refused again
        ({"8"}, [], ["order:7"]),  # another order recorded
        (set(), [], ["order:7"]),
    ],
)
def test_an_order_a_poll_records_leaves_the_list(
    taken: set[str], found: list[Rejected], left: list[str]
) -> None:
    change = update({"order:7": entry("7")}, found, taken, LATER, OLDEST)
    kept = [k for k in ["order:7"] if k not in change.drop]
    assert kept == left


def test_items_unseen_for_the_history_leave_and_the_newest_are_kept() -> None:
    stored = {
        key("old"): entry("old", seen="2026-10-01T00:00:00.000Z"),
        key("a"): entry("a", seen="2026-11-20T00:00:00.000Z"),
        key("b"): entry("b", seen="2026-11-21T00:00:00.000Z"),
    }
    change = update(stored, [Rejected("#/x", "bad", "c")], set(), NOW, OLDEST, keep=2)
    assert sorted(change.drop) == [key("a"), key("old")]
    assert list(change.write) == [key("c")]


def test_an_item_without_an_order_id_is_known_by_its_fault() -> None:
    assert key(None, "no order_id") == "item:no order_id"
    stored = {key(None, "no order_id"): entry(None, "no order_id")}
    change = update(stored, [Rejected("#/z", "no order_id")], {"7"}, LATER, OLDEST)
    assert change.new == []
    assert change.write[key(None, "no order_id")]["times"] == 2


def test_listed_shows_the_last_seen_first() -> None:
    stored = {"order:1": entry("1", seen=NOW), "order:2": entry("2", seen=LATER)}
    assert [e["order_id"] for e in rejects.listed(stored)] == ["2", "1"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, "42"),
        (" 42 ", "42"),
        ("", None),
        ("  ", None),
        (None, None),
        (True, None),
        ("x" * 201, None),
        ([1], None),
    ],
)
def test_an_order_id_is_named_only_when_readable(value: object, expected: str | None) -> None:
    assert rejects.order_id_of(value) == expected


def test_a_tally_notes_refusals_and_taken_orders_and_drains() -> None:
    events = [NativeEvent(o, "P", None, None, f"#/{o}") for o in ("1", "2", "3")]
    answers: list[object] = [
        object(),
        InvalidInput("dated ahead of the clock", where="#/2/time"),
        StorageUnavailable("down"),
    ]

    async def record(batch: Any) -> list[object]:
        return answers[: len(batch)]

    tally = Tally(record)
    assert asyncio.run(tally(events)) == answers
    refused, taken = tally.drain()
    assert refused == [Rejected("#/2/time", "dated ahead of the clock", "2")]
    assert taken == {"1"}  # a storage failure is neither taken nor refused: the poll fails
    assert tally.drain() == ([], set())
