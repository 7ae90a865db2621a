"""Share tokens over HTTP: a storefront reads one order's localized state without an API key;
a revoked, expired or forged token is a 404 that tells nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.shares import ShareStore
from tests.factories import Tenant, assert_problem, at, event, make_tenant

Json = dict[str, object]


def order_with_history(client: TestClient, tenant: Tenant, order_id: str = "1207") -> None:
    for body in (
        event(order_id, "O", at(0)),
        event(order_id, "P", at(60)),
        event(order_id, "O", at(30)),  # late: timeline only, never shown as a change
        event(order_id, "C", at(120)),
    ):
        assert client.post("/v1/events", json=body, headers=tenant.headers).status_code == 202


def share(client: TestClient, tenant: Tenant, order_id: str = "1207", **body: int) -> Json:
    response = client.post(
        f"/v1/orders/cscart/{order_id}/share", json=body or None, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


def test_a_token_opens_the_orders_localized_state_and_changes(
    client: TestClient, tenant: Tenant
) -> None:
    order_with_history(client, tenant)
    created = share(client, tenant)
    assert str(created["token"]).startswith("gws_")
    assert created["url"] == f"/v1/public/orders/{created['token']}"
    response = client.get(f"{created['url']}?lang=fr")
    assert response.status_code == 200
    assert response.headers["content-language"] == "fr"
    body = response.json()
    owned = client.get("/v1/orders/cscart/1207?lang=fr", headers=tenant.headers).json()
    assert body["current"] == owned["current"]
    assert body["sequence"] == owned["sequence"] == 3
    assert [s["sequence"] for s in body["timeline"]] == [1, 2, 3]
    assert [s["status"]["code"] for s in body["timeline"]] == ["pending", "confirmed", "completed"]
    assert body["expires_at"] == created["expires_at"]
    # nothing native, nothing of the tenant
    assert "native" not in response.text
    assert tenant.tenant not in response.text
    assert "event_id" not in response.text


def test_the_language_follows_accept_language(client: TestClient, tenant: Tenant) -> None:
    order_with_history(client, tenant)
    url = share(client, tenant)["url"]
    response = client.get(str(url), headers={"Accept-Language": "el-GR,el;q=0.9"})
    assert response.headers["content-language"] == "el"
    assert response.json()["lang"] == "el"


def test_a_poll_of_an_unchanged_order_is_a_304_and_a_change_is_seen(
    client: TestClient, tenant: Tenant
) -> None:
    order_with_history(client, tenant)
    url = str(share(client, tenant)["url"])
    first = client.get(url)
    assert first.headers["cache-control"] == "no-cache"
    etag = first.headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    client.post("/v1/events", json=event("1207", "I", at(600)), headers=tenant.headers)
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 200
    assert again.json()["current"]["code"] == "canceled"


def test_the_public_view_is_open_to_any_origin(client: TestClient, tenant: Tenant) -> None:
    order_with_history(client, tenant)
    url = str(share(client, tenant)["url"])
    response = client.get(url, headers={"Origin": "https://shop.example"})
    assert response.headers["access-control-allow-origin"] == "*"


def test_an_order_id_with_a_slash_can_be_shared(client: TestClient, tenant: Tenant) -> None:
    order_with_history(client, tenant, "2026/11/42")
    created = share(client, tenant, "2026/11/42")
    assert created["order_id"] == "2026/11/42"
    assert client.get(str(created["url"])).json()["order_id"] == "2026/11/42"


def test_a_revoked_token_is_404_at_once(client: TestClient, tenant: Tenant) -> None:
    order_with_history(client, tenant)
    first, second = share(client, tenant), share(client, tenant, days=7)
    listed = client.get("/v1/orders/cscart/1207/share", headers=tenant.headers).json()
    assert [s["id"] for s in listed["shares"]] == [first["id"], second["id"]]
    assert "token" not in listed["shares"][0]
    assert client.delete(f"/v1/shares/{first['id']}", headers=tenant.headers).status_code == 204
    problem = assert_problem(client.get(str(first["url"])), 404)
    assert problem["type"] == "/problems/not-found"
    assert client.get(str(second["url"])).status_code == 200
    listed = client.get("/v1/orders/cscart/1207/share", headers=tenant.headers).json()
    assert [s["id"] for s in listed["shares"]] == [second["id"]]
    assert_problem(client.delete(f"/v1/shares/{first['id']}", headers=tenant.headers), 404)


def test_an_expired_token_is_404(client: TestClient, tenant: Tenant, settings: Settings) -> None:
    order_with_history(client, tenant)

    async def short_lived() -> tuple[str, str]:
        redis = client_for(settings.redis_url or "")
        try:
            share, token = await ShareStore(redis, settings.redis_prefix).create(
                tenant.tenant, "cscart", "1207", 1
            )
            return share.expires_at, token
        finally:
            await redis.aclose()

    asked = time.time()
    expires_at, token = asyncio.run(short_lived())
    expires = datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
    assert expires >= asked + 1  # never shorter than asked (whole seconds, rounded up)
    assert client.get(f"/v1/public/orders/{token}").status_code == 200
    time.sleep(max(0.0, expires - time.time()) + 0.1)
    assert_problem(client.get(f"/v1/public/orders/{token}"), 404)


@pytest.mark.parametrize(
    "alter",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another tag
        lambda t: t.replace("gws_", "gwk_"),
        lambda t: t.split(".")[0],  # no tag
        lambda t: "gws_" + "A" * 60 + "." + t[-27:],  # garbage claims, a genuine-looking tag
    ],
    ids=["tag", "prefix", "untagged", "garbage"],
)
def test_a_forged_token_is_the_same_404(
    client: TestClient, tenant: Tenant, alter: Callable[[str], str]
) -> None:
    order_with_history(client, tenant)
    token = str(share(client, tenant)["token"])
    forged = alter(token)
    problem = assert_problem(client.get(f"/v1/public/orders/{forged}"), 404)
    assert problem["detail"].startswith("no order is shared under this token")


def test_another_tenants_token_cannot_name_this_tenants_order(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    order_with_history(client, tenant)
    other = make_tenant(settings)
    order_with_history(client, other, "5555")
    theirs = str(share(client, other, "5555")["token"])
    assert_problem(client.post("/v1/orders/cscart/5555/share", headers=tenant.headers), 404)
    # their genuine token opens their order only
    assert client.get(f"/v1/public/orders/{theirs}").json()["order_id"] == "5555"


@pytest.mark.parametrize("days", [0, 366, "week"])
def test_a_bad_lifetime_is_a_422_and_nothing_is_shared(
    client: TestClient, tenant: Tenant, days: object
) -> None:
    order_with_history(client, tenant)
    response = client.post(
        "/v1/orders/cscart/1207/share", json={"days": days}, headers=tenant.headers
    )
    assert_problem(response, 422)
    listed = client.get("/v1/orders/cscart/1207/share", headers=tenant.headers).json()
    assert listed["shares"] == []


def test_an_unknown_order_cannot_be_shared(client: TestClient, tenant: Tenant) -> None:
    assert_problem(client.post("/v1/orders/cscart/nope/share", headers=tenant.headers), 404)
