"""Auth, parametrized once: every tenant route refuses a missing or bad key (401) and answers
another tenant's key with 404 or with that tenant's own data only, never the owner's."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from gateway.api.auth import tenant_of_ingest, tenant_of_key
from gateway.settings import Settings
from tests.factories import (
    Tenant,
    another_key,
    assert_problem,
    at,
    event,
    make_tenant,
    revoke,
)

Json = dict[str, Any]
SECRET = "owner-only-7f3a9c"  # appears in the owner's data; must never reach anyone else
LABELS = {"ru": SECRET, "en": SECRET, "fr": SECRET, "el": SECRET}
MAPPING = {"canonical": "on_hold", "labels": LABELS}
THEIRS = {"ru": "r", "en": "e", "fr": "f", "el": "l"}
THEIR_MAPPING = {"canonical": "packing", "labels": THEIRS}
CSCART_ORDER = b'{"order_id": "1207", "status": "C", "updated_at": "1715700000"}'

IN_TWO_WEEKS = (datetime.now(UTC).date() + timedelta(days=14)).isoformat()
# (method, literal path, JSON body or raw bytes, what another tenant's key gets)
ROUTES: list[tuple[str, str, Any, str]] = [
    ("POST", "/v1/events", event("1207", "C", at(600), event_id="late-comer"), "own"),
    ("POST", "/v1/events/batch", {"events": [event("1207", "C", at(600))]}, "own"),
    ("POST", "/v1/ingest/cscart", CSCART_ORDER, "own"),
    ("GET", "/v1/orders/cscart/1207", None, "404"),
    ("GET", "/v1/orders", None, "own"),
    ("PUT", "/v1/mappings/cscart/A", THEIR_MAPPING, "own"),
    ("GET", "/v1/mappings/cscart/A", None, "404"),
    ("DELETE", "/v1/mappings/cscart/A", None, "404"),
    ("GET", "/v1/mappings", None, "own"),
    ("PUT", "/v1/mappings/cloudcart.payment/x", {"payment": "paid", "labels": THEIRS}, "own"),
    (
        "PUT",
        "/v1/mappings/cloudcart.fulfillment/x",
        {"fulfillment": "shipped", "labels": THEIRS},
        "own",
    ),
    ("GET", "/v1/mappings/cloudcart.payment/paid-later", None, "404"),
    ("DELETE", "/v1/mappings/cloudcart.payment/paid-later", None, "404"),
    ("GET", "/v1/mappings/cloudcart.fulfillment/by-courier", None, "404"),
    ("DELETE", "/v1/mappings/cloudcart.fulfillment/by-courier", None, "404"),
    ("GET", "/v1/unmapped", None, "own"),
    ("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/theirs"}, "own"),
    ("GET", "/v1/webhooks", None, "own"),
    ("GET", "/v1/webhooks/{ep}", None, "404"),
    ("PATCH", "/v1/webhooks/{ep}", {"description": "theirs"}, "404"),
    ("DELETE", "/v1/webhooks/{ep}", None, "404"),
    ("POST", "/v1/webhooks/{ep}/rotate-secret", None, "404"),
    ("POST", "/v1/webhooks/{ep}/enable", None, "404"),
    ("POST", "/v1/webhooks/{ep}/test", None, "404"),
    ("GET", "/v1/webhooks/{ep}/deliveries", None, "404"),
    ("POST", "/v1/webhooks/{ep}/replay", {"platform": "cscart", "order_id": "1207"}, "404"),
    ("GET", "/v1/orders/cscart/1207/deliveries", None, "own"),
    ("POST", "/v1/orders/cscart/1207/share", {"days": 1}, "404"),
    ("GET", "/v1/orders/cscart/1207/share", None, "own"),
    ("DELETE", "/v1/shares/{sh}", None, "404"),
    ("POST", "/v1/fbo/shipments", {"order_id": "theirs", "shipment_date": IN_TWO_WEEKS}, "own"),
    ("GET", "/v1/fbo/shipments", None, "own"),
    ("GET", "/v1/fbo/shipments/{fbo}", None, "404"),
    ("POST", "/v1/fbo/shipments/{fbo}/steps/labels", None, "404"),
    ("DELETE", "/v1/fbo/shipments/{fbo}", None, "404"),
    # the test app has no GATEWAY_SECRET_KEY: another tenant's PUT is refused (503) either way
    ("PUT", "/v1/connectors/measoft", {"login": "l", "password": "p", "extra": "1"}, "503"),
    ("GET", "/v1/connectors/measoft", None, "404"),
    ("DELETE", "/v1/connectors/measoft", None, "404"),
    ("POST", "/v1/connectors/measoft/run", None, "404"),
    ("DELETE", "/v1/connectors/measoft/rejected", None, "404"),
    ("POST", "/v1/connectors/measoft/backfill", {"since": "2026-01-01"}, "404"),
    ("GET", "/v1/connectors/measoft/backfill", None, "404"),
]
# `{ep}`, `{fbo}` and `{sh}` in a path are the owner's webhook endpoint, FBO shipment and order
# share (their ids are random; the owner fixture sets them)
OWNER: dict[str, str] = {}
IDS = [f"{method} {path}" for method, path, _, _ in ROUTES]


@pytest.fixture
def owner(client: TestClient, tenant: Tenant) -> Tenant:
    """A tenant with an order, a mapping and an unknown code, all carrying SECRET."""
    response = client.put("/v1/mappings/cscart/A", json=MAPPING, headers=tenant.headers)
    assert response.status_code == 200
    parts: list[tuple[str, Json]] = [
        ("/v1/mappings/cloudcart.payment/paid-later", {"payment": "paid", "labels": LABELS}),
        (
            "/v1/mappings/cloudcart.fulfillment/by-courier",
            {"fulfillment": "shipped", "labels": LABELS},
        ),
    ]
    for path, body in parts:
        response = client.put(path, json=body, headers=tenant.headers)
        assert response.status_code == 200, response.text
    hook = {"url": "http://127.0.0.1:9/owner", "description": SECRET}
    response = client.post("/v1/webhooks", json=hook, headers=tenant.headers)
    assert response.status_code == 201, response.text
    OWNER["ep"] = response.json()["id"]
    shipment = {"order_id": SECRET, "shipment_date": IN_TWO_WEEKS}
    response = client.post("/v1/fbo/shipments", json=shipment, headers=tenant.headers)
    assert response.status_code == 201, response.text
    OWNER["fbo"] = response.json()["id"]
    for body in (
        event("1207", "A", at(0), event_id=SECRET),
        event("1207", "P", at(60)),
        event(SECRET, "Q", at(0)),
    ):
        assert client.post("/v1/events", json=body, headers=tenant.headers).status_code == 202
    response = client.post("/v1/orders/cscart/1207/share", headers=tenant.headers)
    assert response.status_code == 201, response.text
    OWNER["sh"] = response.json()["id"]
    return tenant


def snapshot(client: TestClient, tenant: Tenant) -> Json:
    """What the owner can see of its own data."""
    return {
        path: client.get(path, headers=tenant.headers).json()
        for path in (
            "/v1/orders/cscart/1207",
            "/v1/orders",
            "/v1/mappings",
            "/v1/unmapped",
            "/v1/webhooks",
            "/v1/fbo/shipments",
            "/v1/orders/cscart/1207/share",
        )
    }


def call_path(path: str) -> str:
    """`path` with the owner's ids in place of its placeholders."""
    for name, value in OWNER.items():
        path = path.replace(f"{{{name}}}", value)
    return path


def call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    path = call_path(path)
    if isinstance(body, bytes):
        headers = {**headers, "content-type": "application/json"}
        return client.request(method, path, content=body, headers=headers)
    return client.request(method, path, json=body, headers=headers)


def _basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"shop:{password}".encode()).decode()


BAD_CREDENTIALS = [
    "no-key",
    "empty-bearer",
    "not-a-key",
    "key-without-scheme",
    "other-scheme",
    "basic-with-the-key",
    "wrong-secret",
    "unknown-tenant",
    "key-in-query-only",
]


def bad_headers(credential: str, tenant: Tenant) -> dict[str, str]:
    """Headers that present `credential` (a way of not having a valid key) for `tenant`."""
    key = tenant.api_key
    authorization = {
        "empty-bearer": "Bearer ",
        "not-a-key": "Bearer let-me-in",
        "key-without-scheme": key,
        "other-scheme": f"Token {key}",
        "basic-with-the-key": _basic(key),
        "wrong-secret": f"Bearer {key[:-4]}AAAA",
        "unknown-tenant": "Bearer gwk_nosuchshop_" + "A" * 32,
    }.get(credential)
    return {"Authorization": authorization} if authorization is not None else {}


@pytest.mark.parametrize("credential", BAD_CREDENTIALS)
@pytest.mark.parametrize(("method", "path", "body", "_other"), ROUTES, ids=IDS)
def test_a_tenant_route_without_a_valid_key_is_401_and_changes_nothing(
    client: TestClient,
    owner: Tenant,
    method: str,
    path: str,
    body: Any,
    _other: str,
    credential: str,
) -> None:
    before = snapshot(client, owner)
    headers = bad_headers(credential, owner)
    url = f"{path}{'&' if '?' in path else '?'}api_key={owner.api_key}"
    response = call(
        client, method, url if credential == "key-in-query-only" else path, body, headers
    )
    problem = assert_problem(response, 401)
    assert problem["type"] == "/problems/unauthorized"
    assert problem["instance"] == call_path(path)
    assert response.headers["www-authenticate"] == 'Bearer realm="gateway"'
    assert SECRET not in response.text
    assert snapshot(client, owner) == before


@pytest.mark.parametrize(("method", "path", "body", "_other"), ROUTES, ids=IDS)
def test_a_revoked_key_is_401(
    client: TestClient,
    owner: Tenant,
    settings: Settings,
    method: str,
    path: str,
    body: Any,
    _other: str,
) -> None:
    before = snapshot(client, owner)
    second = another_key(settings, owner)
    revoke(settings, owner, owner.api_key)
    response = call(client, method, path, body, owner.headers)
    assert assert_problem(response, 401)["type"] == "/problems/unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert snapshot(client, second) == before  # the tenant's other key still works


@pytest.mark.parametrize(
    ("method", "path", "body", "_other"),
    [r for r in ROUTES if not r[1].startswith("/v1/ingest/")],
    ids=[i for i in IDS if "/v1/ingest/" not in i],
)
def test_an_ingest_token_is_not_an_api_key(
    client: TestClient, owner: Tenant, method: str, path: str, body: Any, _other: str
) -> None:
    before = snapshot(client, owner)
    response = call(client, method, path, body, {"Authorization": f"Bearer {owner.ingest_token}"})
    assert_problem(response, 401)
    response = call(client, method, path, body, {"X-Gateway-Token": owner.ingest_token})
    assert_problem(response, 401)
    assert snapshot(client, owner) == before


@pytest.mark.parametrize(("method", "path", "body", "other_gets"), ROUTES, ids=IDS)
def test_another_tenants_key_gets_404_or_its_own_data_never_the_owners(
    client: TestClient,
    owner: Tenant,
    settings: Settings,
    method: str,
    path: str,
    body: Any,
    other_gets: str,
) -> None:
    before = snapshot(client, owner)
    other = make_tenant(settings)
    response = call(client, method, path, body, other.headers)
    assert response.status_code != 403
    if other_gets == "404":
        assert assert_problem(response, 404)["type"] == "/problems/not-found"
    elif other_gets == "503":
        assert assert_problem(response, 503)["type"] == "/problems/secret-key-missing"
    else:
        assert response.status_code in (200, 201, 202, 204), response.text
    assert SECRET not in response.text
    assert owner.tenant not in response.text
    assert snapshot(client, owner) == before
    # What the other tenant did stays its own: its first event is its order's first change.
    if path in ("/v1/events", "/v1/events/batch", "/v1/ingest/cscart"):
        mine = client.get("/v1/orders/cscart/1207", headers=other.headers).json()
        assert mine["sequence"] == 1
        assert len(mine["timeline"]) == 1
    if method == "PUT":
        theirs = client.get("/v1/mappings/cscart/A", headers=owner.headers).json()
        assert theirs["labels"] == LABELS


def test_basic_auth_on_a_bearer_only_route_is_401_with_www_authenticate(
    client: TestClient, tenant: Tenant
) -> None:
    response = client.get("/v1/orders", headers={"Authorization": _basic(tenant.api_key)})
    problem = assert_problem(response, 401)
    assert problem["type"] == "/problems/unauthorized"
    assert "Bearer" in problem["detail"]
    assert response.headers["www-authenticate"] == 'Bearer realm="gateway"'


def test_a_revoked_key_stops_working_at_once_and_a_new_one_works(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    assert client.get("/v1/orders", headers=tenant.headers).status_code == 200
    second = another_key(settings, tenant)
    revoke(settings, tenant, tenant.api_key)
    assert_problem(client.get("/v1/orders", headers=tenant.headers), 401)
    assert client.get("/v1/orders", headers=second.headers).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/translate/cscart/P",
        "/v1/platforms",
        "/v1/statuses",
        "/healthz",
        "/readyz",
        "/metrics",
    ],
)
def test_public_routes_need_no_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_every_tenant_route_is_in_the_matrix(app: FastAPI) -> None:
    protected = [
        (method, route)
        for route in _leaves(app.routes)
        if isinstance(route, APIRoute) and _needs_tenant(route)
        for method in route.methods or ()
    ]
    assert len(protected) == len(ROUTES)
    for method, route in protected:
        covered = [
            p for m, p, _, _ in ROUTES if m == method and route.path_regex.match(p.split("?")[0])
        ]
        assert covered, f"{method} {route.path} is missing from ROUTES"


def _leaves(routes: list[Any]) -> Iterator[Any]:
    """Every route, with included routers opened up."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is None:
            yield route
        else:
            yield from _leaves(inner.routes)


def _needs_tenant(route: APIRoute) -> bool:
    def calls(dependant: Any) -> Iterator[Any]:
        for sub in dependant.dependencies:
            yield sub.call
            yield from calls(sub)

    # a hot route reading its own key declares the same security in its OpenAPI instead
    documented = bool((route.openapi_extra or {}).get("security"))
    return documented or any(c in (tenant_of_key, tenant_of_ingest) for c in calls(route.dependant))
