"""/v1/webhooks management: validation (URL, SSRF, language, filter), CRUD, secrets never shown
again, the log's paging and replay's input checks."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.factories import Tenant, assert_problem, at, event
from tests.webhooks.receiver import receiving

Json = dict[str, Any]
HOOK = "http://127.0.0.1:9/hook"


def create(client: TestClient, tenant: Tenant, **body: Any) -> Json:
    response = client.post("/v1/webhooks", json={"url": HOOK, **body}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


@pytest.fixture
def strict(settings: Settings, runtime: Runtime) -> TestClient:
    """The gateway with the production defaults: https only, public addresses only."""
    production = settings.model_copy(
        update={"allow_private_webhooks": False, "allow_insecure_webhooks": False}
    )
    return TestClient(create_app(production, runtime))


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://203.0.113.10/hook", "https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://localhost:8443/hook", "localhost"),
        ("https://10.1.2.3/hook", "10.1.2.3"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("https://[::1]/hook", "::1"),
        ("https://user:pass@203.0.113.10/hook", "password"),
        ("ftp://203.0.113.10/hook", "https"),
        ("not a url", ""),
    ],
)
def test_unsafe_urls_are_refused_at_registration(
    strict: TestClient, tenant: Tenant, url: str, fragment: str
) -> None:
    with strict as client:
        response = client.post("/v1/webhooks", json={"url": url}, headers=tenant.headers)
        problem = assert_problem(response, 422)
        assert problem["type"] == "/problems/invalid-webhook-url"
        assert problem["pointer"] == "#/url"
        assert fragment.lower() in problem["detail"].lower()
        assert client.get("/v1/webhooks", headers=tenant.headers).json()["webhooks"] == []


def test_a_registered_private_address_is_refused_again_at_send_time(
    client: TestClient, strict: TestClient, tenant: Tenant, settings: Settings
) -> None:
    with receiving() as receiver:
        hook = create(client, tenant, url=receiver.url)  # allowed by the permissive gateway
        with strict as production:
            answer = production.post(f"/v1/webhooks/{hook['id']}/test", headers=tenant.headers)
        assert receiver.received == []
    assert answer.json()["delivered"] is False
    assert "BlockedAddress" in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "pointer", "kind"),
    [
        ({"lang": "de"}, "#/lang", "/problems/unsupported-language"),
        ({"filter": {"platforms": ["ozon"]}}, "#/filter/platforms/0", "/problems/invalid-filter"),
        (
            {"filter": {"statuses": ["teleported"]}},
            "#/filter/statuses/0",
            "/problems/invalid-filter",
        ),
        ({"filter": {"stages": ["x"]}}, "#/filter/stages/0", "/problems/invalid-filter"),
        (
            {"filter": {"types": ["order.created"]}},
            "#/filter/types/0",
            "/problems/validation-error",
        ),
        ({"filter": {"colour": "red"}}, "#/filter/colour", "/problems/validation-error"),
        ({"secret": "whsec_mine"}, "#/secret", "/problems/validation-error"),
    ],
)
def test_bad_endpoint_input_is_a_422_with_a_pointer_and_stores_nothing(
    client: TestClient, tenant: Tenant, body: Json, pointer: str, kind: str
) -> None:
    response = client.post("/v1/webhooks", json={"url": HOOK, **body}, headers=tenant.headers)
    problem = assert_problem(response, 422)
    assert problem["type"] == kind
    assert pointer in (
        problem.get("pointer"),
        *(e.get("pointer") for e in problem.get("errors", [])),
    )
    assert client.get("/v1/webhooks", headers=tenant.headers).json()["webhooks"] == []


def test_the_secret_is_shown_once_and_never_listed(client: TestClient, tenant: Tenant) -> None:
    hook = create(client, tenant, lang="ru", filter={"platforms": ["CSCart"]}, description="shop")
    assert hook["secret"].startswith("whsec_")
    assert hook["filter"]["platforms"] == ["cscart"]  # aliases and case resolved
    listed = client.get("/v1/webhooks", headers=tenant.headers)
    one = client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers)
    for text in (listed.text, one.text):
        assert hook["secret"] not in text
        assert "whsec_" not in text
    assert one.json()["pending"] == 0
    assert [w["id"] for w in listed.json()["webhooks"]] == [hook["id"]]


def test_the_list_shows_each_endpoints_backlog_and_latest_attempt(
    client: TestClient, tenant: Tenant
) -> None:
    with receiving() as receiver:
        tested = create(client, tenant, url=receiver.url)
        quiet = create(client, tenant, filter={"statuses": ["confirmed"]})
        sent = client.post(f"/v1/webhooks/{tested['id']}/test", headers=tenant.headers)
        assert sent.status_code == 200, sent.text
    for i, code in enumerate(["O", "P"]):  # two changes: one passes `quiet`'s filter
        client.post("/v1/events", json=event("l1", code, at(i)), headers=tenant.headers)
    for hook in (tested, quiet):  # queued as a worker's fan-out would (none runs here)
        replay = {"since": "2020-01-01T00:00:00Z"}
        client.post(f"/v1/webhooks/{hook['id']}/replay", json=replay, headers=tenant.headers)
    listed = {
        w["id"]: w for w in client.get("/v1/webhooks", headers=tenant.headers).json()["webhooks"]
    }
    assert (listed[tested["id"]]["pending"], listed[quiet["id"]]["pending"]) == (2, 1)
    last = listed[tested["id"]]["last_attempt"]
    assert (last["type"], last["result"], last["status_code"]) == ("webhook.test", "delivered", 204)
    assert listed[quiet["id"]]["last_attempt"] is None
    one = client.get(f"/v1/webhooks/{tested['id']}", headers=tenant.headers).json()
    assert one == listed[tested["id"]]


def test_patch_changes_only_what_it_names(client: TestClient, tenant: Tenant) -> None:
    hook = create(client, tenant, description="first")
    patched = client.patch(
        f"/v1/webhooks/{hook['id']}", json={"lang": "el"}, headers=tenant.headers
    ).json()
    assert (patched["lang"], patched["description"], patched["url"]) == ("el", "first", HOOK)
    cleared = client.patch(
        f"/v1/webhooks/{hook['id']}", json={"description": None}, headers=tenant.headers
    ).json()
    assert cleared["description"] is None
    bad = client.patch(
        f"/v1/webhooks/{hook['id']}", json={"url": "gopher://x"}, headers=tenant.headers
    )
    assert assert_problem(bad, 422)["pointer"] == "#/url"


def test_delete_then_every_route_of_it_is_404(client: TestClient, tenant: Tenant) -> None:
    hook = create(client, tenant)
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).status_code == 204
    for method, suffix in (
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/test"),
        ("POST", "/enable"),
        ("POST", "/rotate-secret"),
        ("GET", "/deliveries"),
    ):
        response = client.request(
            method, f"/v1/webhooks/{hook['id']}{suffix}", headers=tenant.headers
        )
        assert assert_problem(response, 404)["type"] == "/problems/not-found"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "#"),
        ({"order_id": "1"}, "#/platform"),
        ({"platform": "ozon", "order_id": "1"}, "#/platform"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "#/until"),
        ({"since": "2026-01-02"}, "#/since"),
    ],
)
def test_replay_input_is_checked(
    client: TestClient, tenant: Tenant, body: Json, pointer: str
) -> None:
    hook = create(client, tenant)
    response = client.post(f"/v1/webhooks/{hook['id']}/replay", json=body, headers=tenant.headers)
    problem = assert_problem(response, 422)
    assert pointer in (
        problem.get("pointer"),
        *(e.get("pointer") for e in problem.get("errors", [])),
    )


def test_replay_by_time_queues_the_matching_events(client: TestClient, tenant: Tenant) -> None:
    hook = create(client, tenant, filter={"statuses": ["confirmed"]})
    for i, code in enumerate(["O", "P"]):
        client.post("/v1/events", json=event("t1", code, at(i)), headers=tenant.headers)
    queued = client.post(
        f"/v1/webhooks/{hook['id']}/replay",
        json={"since": "2020-01-01T00:00:00Z"},
        headers=tenant.headers,
    ).json()
    assert queued == {"queued": 1}  # only the change to `confirmed` passes the filter
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json()["pending"] == 1


def test_a_bad_log_cursor_is_422(client: TestClient, tenant: Tenant) -> None:
    hook = create(client, tenant)
    response = client.get(
        f"/v1/webhooks/{hook['id']}/deliveries?cursor=abc", headers=tenant.headers
    )
    assert assert_problem(response, 422)["type"] == "/problems/invalid-cursor"
