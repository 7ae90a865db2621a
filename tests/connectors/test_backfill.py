"""Backfill: a connector's history since a day, page by page, saved after every page, resumed
after an interruption (API in the background, and the `gateway backfill` command)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.cli import main
from gateway.settings import Settings
from tests.connectors.cloudcart_server import CloudcartServer, cloudcart_api
from tests.connectors.conftest import KEY, put_connector
from tests.connectors.cscart_server import CscartServer, cscart_api
from tests.connectors.measoft_server import MeasoftServer, measoft_api
from tests.connectors.test_cloudcart import TRIPLES
from tests.factories import Tenant, assert_problem, changes

Json = dict[str, Any]
SINCE = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()


@pytest.fixture
def shop() -> Iterator[CscartServer]:
    with cscart_api() as server:
        yield server


@pytest.fixture
def cloud() -> Iterator[CloudcartServer]:
    with cloudcart_api() as server:
        yield server


@pytest.fixture
def courier() -> Iterator[MeasoftServer]:
    with measoft_api() as server:
        yield server


def connect_cscart(client: TestClient, tenant: Tenant, shop: CscartServer) -> None:
    body = {"store_url": shop.url, "email": shop.email, "api_key": shop.api_key}
    response = client.put("/v1/connectors/cscart", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text


def connect_measoft(client: TestClient, tenant: Tenant, courier: MeasoftServer) -> None:
    body = {
        "login": courier.login,
        "password": courier.password,
        "extra": courier.extra,
        "api_url": courier.url,
    }
    response = client.put("/v1/connectors/measoft", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text


def start(client: TestClient, tenant: Tenant, platform: str, since: str = SINCE) -> Json:
    response = client.post(
        f"/v1/connectors/{platform}/backfill", json={"since": since}, headers=tenant.headers
    )
    assert response.status_code == 202, response.text
    job: Json = response.json()
    return job


def wait(client: TestClient, tenant: Tenant, platform: str) -> Json:
    deadline = time.monotonic() + 20
    while True:
        response = client.get(f"/v1/connectors/{platform}/backfill", headers=tenant.headers)
        assert response.status_code == 200, response.text
        job: Json = response.json()
        if not job["running"] or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def current(client: TestClient, tenant: Tenant, platform: str, order_id: str) -> str:
    response = client.get(f"/v1/orders/{platform}/{order_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    code: str = response.json()["current"]["code"]
    return code


def order_pages(shop: CscartServer) -> list[str]:
    return shop.pages()


def fill(shop: CscartServer, count: int = 250) -> None:
    letters = "OPCIDFBY"
    for n in range(1, count + 1):
        shop.set(str(n), letters[n % len(letters)])
    shop.set("9999", "C", updated=0)  # changed long before `since`: not imported


def test_cscart_backfill_records_every_order_of_every_page(
    keyed: TestClient, tenant: Tenant, shop: CscartServer
) -> None:
    fill(shop)
    connect_cscart(keyed, tenant, shop)
    job = start(keyed, tenant, "cscart")
    assert job["since"] == SINCE
    job = wait(keyed, tenant, "cscart")
    assert job["error"] is None
    assert job["finished_at"] is not None
    assert (job["pages"], job["orders"], job["events"], job["total"]) == (3, 250, 250, 250)
    assert order_pages(shop) == ["1", "2", "3"]
    assert shop.probes() == 1  # is updated_at_from supported: asked before the first page
    queries = shop.listings()
    since_ts = int(datetime.fromisoformat(SINCE).replace(tzinfo=UTC).timestamp())
    assert all(q["updated_at_from"] == str(since_ts) for q in queries)
    assert current(keyed, tenant, "cscart", "1") == "confirmed"  # P
    assert current(keyed, tenant, "cscart", "250") == "completed"  # C
    missing = keyed.get("/v1/orders/cscart/9999", headers=tenant.headers)
    assert missing.status_code == 404


def test_an_interrupted_backfill_resumes_from_the_page_it_stopped_at(
    keyed: TestClient, tenant: Tenant, shop: CscartServer
) -> None:
    fill(shop)
    connect_cscart(keyed, tenant, shop)
    shop.fail_pages[3] = 1
    start(keyed, tenant, "cscart")
    job = wait(keyed, tenant, "cscart")
    assert job["finished_at"] is None
    assert job["error"]["class"] == "ConnectorUnavailable"
    assert "500" in job["error"]["message"]
    assert (job["pages"], job["orders"]) == (2, 200)
    assert job["state"] == {"page": 3, "mode": "updated_at_from"}

    shop.requests.clear()
    resumed = start(keyed, tenant, "cscart")
    assert resumed["error"] is None
    assert resumed["started_at"] == job["started_at"]
    job = wait(keyed, tenant, "cscart")
    assert job["error"] is None
    assert job["finished_at"] is not None
    assert (job["pages"], job["orders"], job["events"]) == (3, 250, 250)
    assert order_pages(shop) == ["3"]  # pages 1 and 2 are not fetched again
    assert current(keyed, tenant, "cscart", "250") == "completed"

    # a finished job is not resumed: the same date starts over, recording nothing twice
    shop.requests.clear()
    start(keyed, tenant, "cscart")
    again = wait(keyed, tenant, "cscart")
    assert again["finished_at"] is not None
    assert order_pages(shop) == ["1", "2", "3"]
    timeline = keyed.get("/v1/orders/cscart/1", headers=tenant.headers).json()["timeline"]
    assert len(timeline) == 1


def test_cscart_backfill_of_a_store_without_updated_at_from_reads_by_date(
    keyed: TestClient, tenant: Tenant, shop: CscartServer
) -> None:
    shop.ignores_updated_at_from = True
    now = int(time.time())
    for n in range(1, 251):  # one every 4 hours, over 41 days
        at = now - n * 4 * 3600
        shop.set(str(n), "OPCIDFBY"[n % 8], updated=at, placed=at)
    since_ts = int(datetime.fromisoformat(SINCE).replace(tzinfo=UTC).timestamp())
    expected = [str(n) for n in range(1, 251) if now - n * 4 * 3600 >= since_ts]
    connect_cscart(keyed, tenant, shop)
    shop.fail_pages[2] = 1
    start(keyed, tenant, "cscart")
    job = wait(keyed, tenant, "cscart")
    assert job["error"]["class"] == "ConnectorUnavailable"
    assert (job["pages"], job["orders"], job["total"]) == (1, 100, None)
    assert (job["state"]["page"], job["state"]["mode"]) == (2, "by_date")

    shop.requests.clear()
    start(keyed, tenant, "cscart")
    job = wait(keyed, tenant, "cscart")
    assert job["error"] is None
    assert job["finished_at"] is not None
    # page 2 reaches the orders placed before `since`: the last one read, and none of those
    assert (job["pages"], job["orders"], job["events"]) == (2, len(expected), len(expected))
    assert (order_pages(shop), shop.probes()) == (["2"], 0)  # the mode is in the job's state
    assert all((q["sort_by"], q["sort_order"]) == ("date", "desc") for q in shop.listings())
    assert current(keyed, tenant, "cscart", expected[-1])
    older = keyed.get(f"/v1/orders/cscart/{len(expected) + 1}", headers=tenant.headers)
    assert older.status_code == 404


@pytest.mark.parametrize("failing", [2, 3], ids=["after-one-page", "after-two-pages"])
def test_an_interrupted_cloudcart_backfill_resumes_and_imports_every_order_once(
    keyed: TestClient, tenant: Tenant, cloud: CloudcartServer, settings: Settings, failing: int
) -> None:
    now = int(time.time())
    for n in range(1, 251):
        (status, payment, fulfillment), _ = TRIPLES[n % len(TRIPLES)]
        cloud.set(str(n), status, payment, fulfillment, updated=now - n * 600)
    cloud.set("9999", "paid", "completed", updated=0)  # changed long before `since`
    put_connector(keyed, tenant, "cloudcart", {"store_url": cloud.url, "api_key": cloud.api_key})
    cloud.fail_pages[failing] = 1
    first = start(keyed, tenant, "cloudcart")
    job = wait(keyed, tenant, "cloudcart")
    assert job["finished_at"] is None
    assert job["error"]["class"] == "ConnectorUnavailable"
    assert "500" in job["error"]["message"]
    done = failing - 1
    assert (job["pages"], job["orders"], job["state"]) == (done, 100 * done, {"page": failing})

    cloud.requests.clear()
    resumed = start(keyed, tenant, "cloudcart")
    assert resumed["started_at"] == first["started_at"]
    job = wait(keyed, tenant, "cloudcart")
    assert job["error"] is None
    assert job["finished_at"] is not None
    assert (job["pages"], job["orders"], job["events"]) == (3, 250, 250)
    assert cloud.pages() == [str(p) for p in range(failing, 4)]  # none read twice
    assert all(q["sort"] == "-updated_at" for q in cloud.requests)
    for n in (1, 100, 101, 200, 201, 250):
        assert current(keyed, tenant, "cloudcart", str(n)) == TRIPLES[n % len(TRIPLES)][1]
    missing = keyed.get("/v1/orders/cloudcart/9999", headers=tenant.headers)
    assert missing.status_code == 404
    fed = Counter(c["order_id"] for c in changes(settings, tenant))
    assert fed == dict.fromkeys((str(n) for n in range(1, 251)), 1)  # each order exactly once


def test_a_second_backfill_while_one_runs_is_refused(
    keyed: TestClient, tenant: Tenant, shop: CscartServer
) -> None:
    assert_problem(keyed.get("/v1/connectors/cscart/backfill", headers=tenant.headers), 404)
    fill(shop, 150)
    connect_cscart(keyed, tenant, shop)
    shop.delay_s = 0.3
    job = start(keyed, tenant, "cscart")
    assert job["running"] is True
    assert (job["pages"], job["finished_at"]) == (0, None)
    response = keyed.post(
        "/v1/connectors/cscart/backfill", json={"since": SINCE}, headers=tenant.headers
    )
    assert_problem(response, 409)
    shown = keyed.get("/v1/connectors/cscart/backfill", headers=tenant.headers).json()
    assert shown["running"] is True
    job = wait(keyed, tenant, "cscart")
    assert (job["running"], job["pages"], job["orders"]) == (False, 2, 150)
    assert job["finished_at"] is not None
    bad = keyed.post(
        "/v1/connectors/cscart/backfill", json={"since": "soon"}, headers=tenant.headers
    )
    assert_problem(bad, 422)


def test_measoft_backfill_asks_for_a_date_range_and_never_commits(
    keyed: TestClient, tenant: Tenant, courier: MeasoftServer
) -> None:
    courier.add("A-1", "NEW", "2026-01-10 09:00:00")
    courier.add("A-1", "DELIVERY", "2026-01-11 09:00:00")
    courier.add("A-2", "NEW", "2026-01-12 09:00:00")
    connect_measoft(keyed, tenant, courier)
    start(keyed, tenant, "measoft", "2026-01-01")
    job = wait(keyed, tenant, "measoft")
    assert job["error"] is None, job
    assert job["finished_at"] is not None
    assert (job["pages"], job["orders"], job["events"]) == (1, 2, 3)
    assert courier.requests == ["statusreq"]  # no commitlaststatus
    sent = courier.bodies[0].decode()
    assert "<datefrom>2026-01-01</datefrom>" in sent
    assert "<dateto>" in sent
    assert "<changes>" not in sent
    assert courier.changed == {"A-1", "A-2"}  # the change feed is left for the worker


def test_a_backfill_sets_an_unreadable_order_aside_and_imports_the_others(
    keyed: TestClient, tenant: Tenant, courier: MeasoftServer, settings: Settings
) -> None:
    courier.add("A-1", "NEW", "2026-01-10 09:00:00")
    courier.add("A-2", "NEW", "11.01.2026 09:00")  # not MeaSoft's time format
    courier.add("A-3", "NEW", "2026-01-12 09:00:00")
    connect_measoft(keyed, tenant, courier)
    start(keyed, tenant, "measoft", "2026-01-01")
    job = wait(keyed, tenant, "measoft")
    assert job["error"] is None, job
    assert (job["orders"], job["events"]) == (2, 2)
    assert current(keyed, tenant, "measoft", "A-3") == "packed"
    shown = keyed.get("/v1/connectors/measoft", headers=tenant.headers).json()
    [entry] = shown["rejected"]
    assert (entry["order_id"], entry["times"]) == ("A-2", 1)
    assert "'11.01.2026 09:00'" in entry["detail"]
    types = [c["type"] for c in changes(settings, tenant)]
    assert types.count("connector.item_rejected") == 1


def test_the_cli_prints_progress_stops_on_ctrl_c_and_resumes(
    keyed: TestClient,
    tenant: Tenant,
    shop: CscartServer,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill(shop)
    connect_cscart(keyed, tenant, shop)
    monkeypatch.setenv("GATEWAY_REDIS_URL", settings.redis_url or "")
    monkeypatch.setenv("GATEWAY_REDIS_PREFIX", settings.redis_prefix)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", KEY.get_secret_value())
    monkeypatch.setenv("GATEWAY_ALLOW_PRIVATE_WEBHOOKS", "true")

    def interrupt(page: int) -> None:
        if page == 2:  # Ctrl-C while page 2 is read: it is finished, then the command stops
            os.kill(os.getpid(), signal.SIGINT)

    shop.on_orders = interrupt
    args = ["backfill", "cscart", "--tenant", tenant.tenant, "--since", SINCE]
    assert main(args) == 130
    out, err = capsys.readouterr()
    job = json.loads(out)
    assert (job["pages"], job["orders"], job["finished_at"]) == (2, 200, None)
    lines = [line for line in err.splitlines() if "backfill:" in line]
    assert len(lines) == 2
    assert "page 1, 100 orders, 100 events" in lines[0]
    assert "orders/s" in lines[0]
    assert "100/250, ETA" in lines[0]
    assert "resume" in err

    shop.on_orders = None
    shop.requests.clear()
    assert main(args) == 0
    out, err = capsys.readouterr()
    job = json.loads(out)
    assert (job["pages"], job["orders"], job["events"]) == (3, 250, 250)
    assert job["finished_at"] is not None
    assert order_pages(shop) == ["3"]
    assert "page 3, 250 orders, 250 events" in err
    assert current(keyed, tenant, "cscart", "250") == "completed"

    shop.fail_pages[1] = 1
    assert main([*args[:-1], "2026-01-01"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["class"] == "ConnectorUnavailable"
