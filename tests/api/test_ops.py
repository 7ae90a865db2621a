"""Operations: /healthz, /readyz, /metrics (read back with Prometheus' own parser), request ids."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.factories import PAYLOADS, Tenant, assert_problem, at, event, free_port

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
Labels = dict[str, str]


def samples(client: TestClient) -> list[tuple[str, Labels, float]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    ]


def value(found: list[tuple[str, Labels, float]], name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when none)."""
    return sum(
        v for n, ls, v in found if n == name and all(ls.get(k) == w for k, w in labels.items())
    )


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_ready_with_its_checks(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"tables": True, "catalogs": True, "redis": True}
    assert body["mapping_version"] == client.get("/v1/platforms").json()["mapping_version"]


def test_every_event_series_exists_before_any_event(client: TestClient) -> None:
    found = samples(client)
    for result in ("changed", "unchanged", "late", "duplicate", "regression", "violation"):
        assert ("gateway_events_total", {"result": result}, 0.0) in found


def test_event_counters_follow_the_results(client: TestClient, tenant: Tenant) -> None:
    before = samples(client)
    bodies = [
        event("1", "C", at(0)),  # changed
        event("1", "C", at(0)),  # duplicate
        event("1", "C", at(0), event_id="x"),  # duplicate (same code and time)
        event("1", "O", at(60)),  # changed, regression
        event("1", "O", at(90)),  # unchanged
        event("1", "P", at(30)),  # late
        event("2", {"order": "paid", "payment": "completed"}, at(0), platform="cloudcart"),
        event("2", {"order": "pending", "payment": "pending"}, at(60), platform="cloudcart"),
    ]
    for body in bodies:
        assert client.post("/v1/events", json=body, headers=tenant.headers).status_code == 202
    after = samples(client)
    expected = {
        "changed": 3,
        "duplicate": 2,
        "regression": 1,
        "unchanged": 1,
        "late": 1,
        "violation": 1,
    }
    for result, count in expected.items():
        delta = value(after, "gateway_events_total", result=result) - value(
            before, "gateway_events_total", result=result
        )
        assert delta == count, result


def test_unknown_codes_are_counted_per_platform_and_part(
    client: TestClient, tenant: Tenant
) -> None:
    bodies = [
        event("1", "Q", at(0)),
        event("1", "Q", at(0)),  # a duplicate is not counted again
        event("2", "Q", at(0)),
        event("3", {"order": "paid", "payment": "bartered"}, at(0), platform="cloudcart"),
    ]
    for body in bodies:
        assert client.post("/v1/events", json=body, headers=tenant.headers).status_code == 202
    found = samples(client)
    assert value(found, "gateway_unknown_codes_total", platform="cscart") == 2
    assert value(found, "gateway_unknown_codes_total", platform="cloudcart.payment") == 1
    assert value(found, "gateway_unknown_codes_total", platform="cloudcart") == 0


def test_ingest_payloads_are_counted_by_outcome(client: TestClient, tenant: Tenant) -> None:
    xml = {**tenant.headers, "content-type": "application/xml"}
    body = (PAYLOADS / "measoft_statusreq.xml").read_bytes()
    assert client.post("/v1/ingest/courier", content=body, headers=xml).status_code == 200
    assert client.post("/v1/ingest/measoft", content=b"<order", headers=xml).status_code == 400
    found = samples(client)
    name = "gateway_ingest_payloads_total"
    assert value(found, name, platform="measoft", outcome="accepted") == 1
    assert value(found, name, platform="measoft", outcome="rejected") == 1
    assert value(found, "gateway_events_total", result="changed") == 3


def test_request_latency_is_recorded_by_route_template(client: TestClient, tenant: Tenant) -> None:
    for i in range(3):
        client.post("/v1/events", json=event(str(i), "P", at(0)), headers=tenant.headers)
    client.get("/v1/orders/cscart/1", headers=tenant.headers)
    client.get("/v1/orders/cscart/1", headers=tenant.headers)
    client.get("/v1/orders/cscart/404", headers=tenant.headers)
    client.post("/v1/events", json={})
    client.get("/no/such/path")
    found = samples(client)
    histogram = "gateway_http_request_duration_seconds"
    events = {"method": "POST", "route": "/v1/events"}
    assert value(found, f"{histogram}_count", **events, status="202") == 3
    assert value(found, f"{histogram}_count", **events, status="401") == 1
    assert value(found, f"{histogram}_sum", **events, status="202") > 0
    assert value(found, f"{histogram}_bucket", **events, status="202", le="+Inf") == 3
    order = {"method": "GET", "route": "/v1/orders/{platform}/{order_id:path}"}
    assert value(found, f"{histogram}_count", **order, status="200") == 2
    assert value(found, f"{histogram}_count", **order, status="404") == 1
    assert value(found, f"{histogram}_count", route="unmatched", status="404") == 1
    routes = {ls.get("route") for n, ls, _ in found if n == f"{histogram}_count"}
    assert "/v1/orders/cscart/1" not in routes  # literal paths would explode the series


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/healthz", {}, 200),
        ("GET", "/readyz", {}, 200),
        ("GET", "/metrics", {}, 200),
        ("GET", "/v1/translate/cscart/P", {}, 200),
        ("GET", "/v1/translate/cscart/Q", {}, 422),
        ("GET", "/v1/orders", {}, 401),
        ("GET", "/v1/orders", {"auth": True}, 200),
        ("GET", "/v1/orders/cscart/none", {"auth": True}, 404),
        ("POST", "/v1/events", {"auth": True, "json": event("1", "P", at(0))}, 202),
        ("POST", "/v1/events", {"auth": True, "json": {}}, 422),
        ("POST", "/v1/events", {"auth": True, "content": b"{"}, 400),
        ("DELETE", "/v1/events", {"auth": True}, 405),
        ("GET", "/nowhere", {}, 404),
    ],
)
def test_every_answer_carries_a_request_id(
    client: TestClient,
    tenant: Tenant,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    options = dict(kwargs)
    headers = tenant.headers if options.pop("auth", False) else {}
    if "content" in options:
        headers = {**headers, "content-type": "application/json"}
    ids = set()
    for _ in range(2):  # the second GET of a translation is a cache hit
        response = client.request(method, path, headers=headers, **options)
        assert response.status_code == status
        request_id = response.headers["x-request-id"]
        assert REQUEST_ID.match(request_id)
        ids.add(request_id)
    assert len(ids) == 2


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-2024.05.14:abc_1", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("bad id with spaces", False),
        ("inject\u00e9", False),
    ],
)
def test_a_safe_incoming_request_id_is_kept_and_another_is_replaced(
    client: TestClient, sent: str, kept: bool
) -> None:
    response = client.get("/healthz", headers={b"X-Request-Id": sent.encode()})
    echoed = response.headers["x-request-id"]
    assert (echoed == sent) is kept
    assert REQUEST_ID.match(echoed)


def test_a_server_error_answer_carries_the_request_id_too(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom, methods=["GET"])
    caplog.set_level(logging.INFO, logger="gateway")
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-Id": "req-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    logged = [getattr(r, "fields", {}).get("request_id") for r in caplog.records]
    assert "req-500" in logged  # the access line has it...
    assert response.headers.get("x-request-id") == "req-500"  # ...the answer does not


def test_unreachable_redis_is_a_503_problem_and_readyz_says_so(
    settings: Settings, runtime: Runtime, tenant: Tenant
) -> None:
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(down, runtime)) as c:
        answer = c.post(
            "/v1/events",
            headers=tenant.headers,
            json={
                "platform": "cscart",
                "order_id": "1",
                "status": "P",
                "occurred_at": "2026-11-23T10:00:00+03:00",
            },
        )
        body = assert_problem(answer, 503)
        assert body["type"] == "/problems/storage-unavailable"
        assert answer.headers["retry-after"] == "1"
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"] is False
