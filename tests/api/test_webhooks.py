"""/v1/webhooks management: validation (URL, SSRF, language, filter), CRUD, secrets never shown
again, the log's paging and replay's input checks."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.clock import iso
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.keys import TenantKeys
from tests.factories import Tenant, assert_problem, at, event, pointers
from tests.webhooks.receiver import receiving
from webhooks.endpoints import EndpointStore, disabled

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
    ("body", "status", "pointer"),
    [
        ({}, 422, "#"),
        ({"platform": "cscart"}, 422, "#"),
        ({"until": "2026-01-01T00:00:00Z"}, 422, "#"),
        ({"order_id": "nobody"}, 404, "#/order_id"),
        ({"platform": "cscart", "order_id": "nobody"}, 404, "#/order_id"),
        ({"platform": "ozon", "order_id": "1"}, 422, "#/platform"),
        ({"platform": "ozon", "since": "2026-01-01T00:00:00Z"}, 422, "#/platform"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 422, "#/until"),
        ({"since": "2026-01-02"}, 422, "#/since"),
    ],
)
def test_replay_input_is_checked(
    client: TestClient, tenant: Tenant, body: Json, status: int, pointer: str
) -> None:
    hook = create(client, tenant)
    response = client.post(f"/v1/webhooks/{hook['id']}/replay", json=body, headers=tenant.headers)
    problem = assert_problem(response, status)
    assert problem["type"] != "/problems/invalid-status"
    assert pointer in (
        problem.get("pointer"),
        *(e.get("pointer") for e in problem.get("errors", [])),
    )
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json()["pending"] == 0


def _replay(client: TestClient, tenant: Tenant, hook: Json, **body: Any) -> Any:
    answer = client.post(f"/v1/webhooks/{hook['id']}/replay", json=body, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["queued"]


def _post(client: TestClient, tenant: Tenant, *events: Json) -> None:
    for doc in events:
        answer = client.post("/v1/events", json=doc, headers=tenant.headers)
        assert answer.status_code == 202, answer.text


def test_replay_by_order_finds_its_platform_when_the_id_is_on_one_only(
    client: TestClient, tenant: Tenant
) -> None:
    hook = create(client, tenant)
    _post(client, tenant, event("solo", "O", at(0)), event("solo", "P", at(1)))
    assert _replay(client, tenant, hook, order_id="solo") == 2
    assert _replay(client, tenant, hook, order_id="solo", platform="CSCart") == 2


def test_replay_by_order_asks_for_the_platform_when_the_id_is_on_several(
    client: TestClient, tenant: Tenant
) -> None:
    hook = create(client, tenant)
    _post(
        client,
        tenant,
        event("twin", "O", at(0)),
        {**event("twin", "ORDER_INFO_NEW", at(0)), "platform": "kak2c"},
    )
    problem = assert_problem(
        client.post(
            f"/v1/webhooks/{hook['id']}/replay", json={"order_id": "twin"}, headers=tenant.headers
        ),
        422,
    )
    assert problem["pointer"] == "#/platform"
    assert "cscart" in problem["detail"]
    assert "kak2c" in problem["detail"]
    assert _replay(client, tenant, hook, order_id="twin", platform="kak2c") == 1


def test_replay_applies_every_criterion_given(client: TestClient, tenant: Tenant) -> None:
    hook = create(client, tenant)
    _post(client, tenant, event("r1", "O", at(0)))
    time.sleep(0.01)  # the feed's ids are in milliseconds: none shared with `since`
    first = time.time()
    time.sleep(0.01)
    _post(
        client,
        tenant,
        event("r1", "P", at(1)),
        event("r2", "O", at(2)),
        {**event("r3", "ORDER_INFO_NEW", at(3)), "platform": "kak2c"},
    )
    since = datetime.fromtimestamp(first, UTC).isoformat()
    assert _replay(client, tenant, hook, since="2020-01-01T00:00:00Z") == 4
    assert _replay(client, tenant, hook, since=since) == 3
    assert _replay(client, tenant, hook, since=since, platform="cscart") == 2
    assert _replay(client, tenant, hook, since=since, platform="kak2c") == 1
    assert _replay(client, tenant, hook, order_id="r1", since=since) == 1
    assert _replay(client, tenant, hook, order_id="r1", until=since) == 1
    assert _replay(client, tenant, hook, order_id="r1") == 2


@pytest.mark.parametrize(
    ("since", "until", "queued"),
    [
        ("1969-12-31T23:59:59Z", None, 1),  # before the feed's first possible id: from it
        ("0001-01-01T00:00:00Z", None, 1),
        (-1, None, 1),
        ("1960-01-01T00:00:00Z", "1969-01-01T00:00:00Z", 0),
        ("9999-12-31T23:59:59Z", None, 0),  # after now: nothing yet
    ],
)
def test_replay_ranges_outside_the_feed_queue_what_they_hold(
    client: TestClient, tenant: Tenant, since: Any, until: Any, queued: int
) -> None:
    hook = create(client, tenant)
    _post(client, tenant, event("edge", "O", at(0)))
    body = {"since": since} if until is None else {"since": since, "until": until}
    assert _replay(client, tenant, hook, **body) == queued


def test_replay_to_a_disabled_endpoint_is_409_and_queues_nothing(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    hook = create(client, tenant)
    _post(client, tenant, event("off", "O", at(0)))

    async def switch_off() -> None:
        redis = client_for(settings.redis_url or "")
        try:
            store = EndpointStore(redis, settings.redis_prefix)
            await store.update(tenant.tenant, hook["id"], lambda e: disabled(e, "a test"))
        finally:
            await redis.aclose()

    asyncio.run(switch_off())
    problem = assert_problem(
        client.post(
            f"/v1/webhooks/{hook['id']}/replay", json={"order_id": "off"}, headers=tenant.headers
        ),
        409,
    )
    assert "/enable" in problem["detail"]
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json()["pending"] == 0
    assert client.post(f"/v1/webhooks/{hook['id']}/enable", headers=tenant.headers).is_success
    assert _replay(client, tenant, hook, order_id="off") == 1


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


def _log(settings: Settings, tenant: Tenant, hook: Json, entries: list[tuple[str, Json]]) -> None:
    """Write delivery-log entries (id, attempt) as the worker would."""

    async def write() -> None:
        redis = client_for(settings.redis_url or "")
        try:
            key = TenantKeys(settings.redis_prefix, tenant.tenant).webhook_log(hook["id"])
            for entry_id, doc in entries:
                await redis.xadd(key, {"doc": orjson.dumps(doc).decode()}, id=entry_id)
        finally:
            await redis.aclose()

    asyncio.run(write())


def _attempt(platform: str, order_id: str, result: str = "delivered") -> Json:
    return {"platform": platform, "order_id": order_id, "result": result, "attempt": 1}


def _deliveries(client: TestClient, tenant: Tenant, hook: Json, query: str) -> list[Json]:
    answer = client.get(f"/v1/webhooks/{hook['id']}/deliveries?{query}", headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    found: list[Json] = answer.json()["deliveries"]
    return found


@pytest.mark.parametrize(
    ("query", "orders"),
    [
        ("", ["k1", "m1", "c1"]),
        ("status=&order_id=&platform=&cursor=", ["k1", "m1", "c1"]),  # a form left blank
        ("platform=cscart", ["c1"]),
        ("platform=CSCart", ["c1"]),
        ("platform=courier", ["m1"]),  # MeaSoft's alias
        ("platform=measoft&order_id=m1", ["m1"]),
        ("platform=kak2c&order_id=m1", []),
        ("status=retrying", ["k1"]),
        ("cursor=0-0", []),
    ],
)
def test_the_delivery_log_filters(
    client: TestClient, tenant: Tenant, settings: Settings, query: str, orders: list[str]
) -> None:
    hook = create(client, tenant)
    now = int(time.time() * 1000)
    _log(
        settings,
        tenant,
        hook,
        [
            (f"{now}-1", _attempt("cscart", "c1")),
            (f"{now}-2", _attempt("measoft", "m1")),
            (f"{now}-3", _attempt("kak2c", "k1", "retrying")),
        ],
    )
    assert [d["order_id"] for d in _deliveries(client, tenant, hook, query)] == orders


@pytest.mark.parametrize(
    ("query", "status", "kind"),
    [
        ("platform=ozon", 404, "/problems/unknown-platform"),
        ("status=lost", 422, "/problems/validation-error"),
        ("cursor=18446744073709551616-0", 422, "/problems/invalid-cursor"),
        ("cursor=99999999999999999999-99999999999999999999", 422, "/problems/invalid-cursor"),
        ("cursor=1-", 422, "/problems/invalid-cursor"),
    ],
)
def test_bad_delivery_log_filters_are_problems(
    client: TestClient, tenant: Tenant, query: str, status: int, kind: str
) -> None:
    hook = create(client, tenant)
    for path in (f"/v1/webhooks/{hook['id']}/deliveries", "/v1/orders/cscart/o1/deliveries"):
        if "cursor" not in query and path.startswith("/v1/orders"):
            continue
        problem = assert_problem(client.get(f"{path}?{query}", headers=tenant.headers), status)
        assert problem["type"] == kind


def test_the_delivery_log_shows_nothing_older_than_its_retention(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    """Streams are trimmed only roughly (whole nodes), so reading holds the line itself."""
    hook = create(client, tenant)
    now = int(time.time() * 1000)
    too_old = now - int(settings.history_days * 86_400_000) - 60_000
    _log(settings, tenant, hook, [(f"{too_old}-0", _attempt("cscart", "old"))])
    assert _deliveries(client, tenant, hook, "") == []
    listed = client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json()
    assert listed["last_attempt"] is None
    _log(settings, tenant, hook, [(f"{now}-0", _attempt("cscart", "new"))])
    assert [d["order_id"] for d in _deliveries(client, tenant, hook, "")] == ["new"]


# ---- rate_limit and held_until ----

BAD_RATE_LIMITS: list[Any] = [0, -1, 10_001, 1.5, "10", True]


def _get(client: TestClient, tenant: Tenant, hook: Json) -> Json:
    answer = client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    found: Json = answer.json()
    return found


def _listed(client: TestClient, tenant: Tenant) -> dict[str, Json]:
    answer = client.get("/v1/webhooks", headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    return {w["id"]: w for w in answer.json()["webhooks"]}


def _patch(client: TestClient, tenant: Tenant, hook: Json, body: Json) -> Json:
    answer = client.patch(f"/v1/webhooks/{hook['id']}", json=body, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    patched: Json = answer.json()
    return patched


def _assert_points_at(response: Any, field: str) -> None:
    """A 422 validation problem naming `field` (or an item of it)."""
    problem = assert_problem(response, 422)
    assert problem["type"] == "/problems/validation-error"
    assert any(p.split("/")[:2] == ["#", field] for p in pointers(problem)), problem


@pytest.mark.parametrize(("body", "shown"), [({"rate_limit": 25}, 25), ({}, None)])
def test_create_stores_the_rate_limit(
    client: TestClient, tenant: Tenant, body: Json, shown: int | None
) -> None:
    hook = create(client, tenant, **body)
    assert hook["rate_limit"] == shown
    assert _get(client, tenant, hook)["rate_limit"] == shown
    assert _listed(client, tenant)[hook["id"]]["rate_limit"] == shown


# (field, a value it refuses); null is refused on create, and on PATCH means "keep" the schemes
BAD_SCHEMES: list[Any] = [[], ["v2"], ["v1", "v1"], ["v1a", "v1", "v1a"], "v1"]
BAD_FIELDS = [("rate_limit", v) for v in BAD_RATE_LIMITS] + [
    ("signature_schemes", v) for v in BAD_SCHEMES
]


@pytest.mark.parametrize(("field", "value"), [*BAD_FIELDS, ("signature_schemes", None)])
def test_a_bad_field_on_create_is_a_422_and_stores_nothing(
    client: TestClient, tenant: Tenant, field: str, value: Any
) -> None:
    response = client.post("/v1/webhooks", json={"url": HOOK, field: value}, headers=tenant.headers)
    _assert_points_at(response, field)
    assert _listed(client, tenant) == {}


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
def test_a_bad_field_on_patch_is_a_422_and_changes_nothing(
    client: TestClient, tenant: Tenant, field: str, value: Any
) -> None:
    hook = create(client, tenant, rate_limit=5, description="kept", signature_schemes=["v1a"])
    before = _get(client, tenant, hook)
    response = client.patch(
        f"/v1/webhooks/{hook['id']}",
        json={field: value, "description": "changed"},
        headers=tenant.headers,
    )
    _assert_points_at(response, field)
    after = _get(client, tenant, hook)
    assert (after["rate_limit"], after["description"]) == (5, "kept")
    assert after["signature_schemes"] == ["v1a"]
    assert after == before


def test_null_schemes_on_patch_keep_them(client: TestClient, tenant: Tenant) -> None:
    hook = create(client, tenant, signature_schemes=["v1a"])
    patched = _patch(client, tenant, hook, {"signature_schemes": None, "lang": "el"})
    assert (patched["signature_schemes"], patched["lang"]) == (["v1a"], "el")


@pytest.mark.parametrize("value", [1, 10_000])
def test_the_rate_limit_bounds_are_accepted(client: TestClient, tenant: Tenant, value: int) -> None:
    assert create(client, tenant, rate_limit=value)["rate_limit"] == value
    hook = create(client, tenant)
    assert _patch(client, tenant, hook, {"rate_limit": value})["rate_limit"] == value


def test_patch_sets_keeps_and_clears_the_rate_limit(client: TestClient, tenant: Tenant) -> None:
    hook = create(client, tenant)
    assert _patch(client, tenant, hook, {"rate_limit": 40})["rate_limit"] == 40
    assert _get(client, tenant, hook)["rate_limit"] == 40
    kept = _patch(client, tenant, hook, {"description": "only this"})
    assert (kept["rate_limit"], kept["description"]) == (40, "only this")
    assert _get(client, tenant, hook)["rate_limit"] == 40
    assert _patch(client, tenant, hook, {"rate_limit": 7})["rate_limit"] == 7
    cleared = _patch(client, tenant, hook, {"rate_limit": None})
    assert (cleared["rate_limit"], cleared["description"]) == (None, "only this")
    assert _get(client, tenant, hook)["rate_limit"] is None
    assert _listed(client, tenant)[hook["id"]]["rate_limit"] is None


def _set_hold(
    settings: Settings, tenant: Tenant, hook: Json, value: str, which: str = "webhook_holds"
) -> None:
    """Write the endpoint's entry in the tenant's holds hash (or the hash named `which`, a
    `TenantKeys` attribute), as a worker would."""

    async def write() -> None:
        redis = client_for(settings.redis_url or "")
        try:
            key = getattr(TenantKeys(settings.redis_prefix, tenant.tenant), which)
            await redis.hset(key, hook["id"], value)
        finally:
            await redis.aclose()

    asyncio.run(write())


def _hold(
    settings: Settings, tenant: Tenant, hook: Json, which: str = "webhook_holds"
) -> str | None:
    """The endpoint's entry in the tenant's holds hash, or the hash named `which` (None: no
    entry)."""

    async def read() -> str | None:
        redis = client_for(settings.redis_url or "")
        try:
            key = getattr(TenantKeys(settings.redis_prefix, tenant.tenant), which)
            found: str | bytes | None = await redis.hget(key, hook["id"])
        finally:
            await redis.aclose()
        return found.decode() if isinstance(found, bytes) else found

    return asyncio.run(read())


def _held_until(client: TestClient, tenant: Tenant, hook: Json) -> Any:
    one = _get(client, tenant, hook)["held_until"]
    assert _listed(client, tenant)[hook["id"]]["held_until"] == one
    return one


def test_an_endpoint_without_a_hold_shows_held_until_null(
    client: TestClient, tenant: Tenant
) -> None:
    hook = create(client, tenant, rate_limit=3)
    assert _held_until(client, tenant, hook) is None


@pytest.mark.parametrize("stored", ["{ms}", "{ms}.000", "{ms}.250"])
def test_a_future_hold_shows_as_held_until(
    client: TestClient, tenant: Tenant, settings: Settings, stored: str
) -> None:
    hook = create(client, tenant)
    other = create(client, tenant)
    ms = int(time.time() * 1000) + 3_600_000
    _set_hold(settings, tenant, hook, stored.format(ms=ms))
    shown = _held_until(client, tenant, hook)
    assert shown == iso(ms / 1000)
    assert shown.endswith("Z")
    assert datetime.fromisoformat(shown).timestamp() == ms / 1000
    assert _held_until(client, tenant, other) is None


@pytest.mark.parametrize("ago_ms", [1, 60_000, 10**12])
def test_a_hold_not_in_the_future_shows_null(
    client: TestClient, tenant: Tenant, settings: Settings, ago_ms: int
) -> None:
    hook = create(client, tenant)
    _set_hold(settings, tenant, hook, str(int(time.time() * 1000) - ago_ms))
    assert _held_until(client, tenant, hook) is None


def test_enable_clears_the_hold(client: TestClient, tenant: Tenant, settings: Settings) -> None:
    hook = create(client, tenant, rate_limit=9)
    ms = int(time.time() * 1000) + 3_600_000
    _set_hold(settings, tenant, hook, str(ms))
    assert _held_until(client, tenant, hook) == iso(ms / 1000)
    enabled = client.post(f"/v1/webhooks/{hook['id']}/enable", headers=tenant.headers)
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["rate_limit"] == 9
    assert _hold(settings, tenant, hook) is None
    assert _held_until(client, tenant, hook) is None


def test_delete_removes_the_hold(client: TestClient, tenant: Tenant, settings: Settings) -> None:
    hook = create(client, tenant)
    kept = create(client, tenant)
    ms = int(time.time() * 1000) + 3_600_000
    for each in (hook, kept):
        _set_hold(settings, tenant, each, str(ms))
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).status_code == 204
    assert _hold(settings, tenant, hook) is None
    assert _hold(settings, tenant, kept) == str(ms)
    assert _held_until(client, tenant, kept) == iso(ms / 1000)


def test_a_failing_endpoint_shows_since_when_and_when_it_will_be_disabled(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    hook = create(client, tenant)
    fine = create(client, tenant)
    ms = int(time.time() * 1000) - 60_000
    _set_hold(settings, tenant, hook, str(ms), "webhook_failing")
    shown = _get(client, tenant, hook)
    assert _listed(client, tenant)[hook["id"]]["failing_since"] == shown["failing_since"]
    assert shown["failing_since"] == iso(ms / 1000)
    disable_at = datetime.fromisoformat(shown["disable_at"])
    since = datetime.fromisoformat(shown["failing_since"])
    assert disable_at - since == timedelta(seconds=settings.webhook_disable_after_s)
    assert (
        _get(client, tenant, fine)["failing_since"],
        _get(client, tenant, fine)["disable_at"],
    ) == (
        None,
        None,
    )


@pytest.mark.parametrize("action", ["enable", "delete"])
def test_enable_and_delete_end_the_failure_streak_and_its_announcement(
    client: TestClient, tenant: Tenant, settings: Settings, action: str
) -> None:
    """So that a new streak is announced again, and no recovery is announced for this one."""
    hook = create(client, tenant)
    for which, value in (("webhook_failing", "1"), ("webhook_warned", "2026-11-24T10:00:00.000Z")):
        _set_hold(settings, tenant, hook, value, which)
    if action == "enable":
        done = client.post(f"/v1/webhooks/{hook['id']}/enable", headers=tenant.headers)
    else:
        done = client.delete(f"/v1/webhooks/{hook['id']}", headers=tenant.headers)
    assert done.status_code in (200, 204), done.text
    assert _hold(settings, tenant, hook, "webhook_failing") is None
    assert _hold(settings, tenant, hook, "webhook_warned") is None


def test_an_endpoints_own_headers_are_kept_but_only_their_names_shown(
    client: TestClient, tenant: Tenant
) -> None:
    hook = create(client, tenant, headers={"Authorization": "Bearer t0ken", "X-Route": "eu"})
    assert hook["header_names"] == ["Authorization", "X-Route"]
    assert "t0ken" not in orjson.dumps(hook).decode()
    assert _get(client, tenant, hook)["header_names"] == ["Authorization", "X-Route"]
    assert _listed(client, tenant)[hook["id"]]["header_names"] == ["Authorization", "X-Route"]
    replaced = _patch(client, tenant, hook, {"headers": {"X-Other": "1"}})
    assert replaced["header_names"] == ["X-Other"]
    assert _patch(client, tenant, hook, {"description": "kept"})["header_names"] == ["X-Other"]
    assert _patch(client, tenant, hook, {"headers": None})["header_names"] == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Webhook-Signature": "v1,forged"},
        {"Content-Type": "text/plain"},
        {"X-A": "two\r\nlines"},
        {"Bad Name": "v"},
        {f"X-H{i}": "v" for i in range(11)},
        ["Authorization"],
    ],
)
def test_own_headers_that_may_not_be_sent_are_refused_and_nothing_changes(
    client: TestClient, tenant: Tenant, headers: Any
) -> None:
    hook = create(client, tenant, headers={"X-Kept": "1"})
    refused = client.post(
        "/v1/webhooks", json={"url": HOOK, "headers": headers}, headers=tenant.headers
    )
    assert pointers(assert_problem(refused, 422))[0].startswith("#/headers")
    patched = client.patch(
        f"/v1/webhooks/{hook['id']}", json={"headers": headers}, headers=tenant.headers
    )
    assert pointers(assert_problem(patched, 422))[0].startswith("#/headers")
    assert list(_listed(client, tenant)) == [hook["id"]]
    assert _get(client, tenant, hook)["header_names"] == ["X-Kept"]


# ---------------------------------------------------------------- signature schemes


def test_an_endpoint_signs_v1_by_default_and_shows_its_public_key_every_time(
    client: TestClient, tenant: Tenant
) -> None:
    hook = create(client, tenant)
    assert hook["signature_schemes"] == ["v1"]
    assert hook["public_key"].startswith("whpk_")
    [key] = hook["public_keys"]
    assert (key["key"], key["expires_at"]) == (hook["public_key"], None)
    assert _get(client, tenant, hook)["public_keys"] == hook["public_keys"]
    assert _listed(client, tenant)[hook["id"]]["public_keys"] == hook["public_keys"]
    for text in (client.get("/v1/webhooks", headers=tenant.headers).text, str(hook)):
        assert "whsk_" not in text  # the signing key never leaves


@pytest.mark.parametrize(
    ("schemes", "stored"),
    [(["v1a"], ["v1a"]), (["v1a", "v1"], ["v1", "v1a"]), (["v1"], ["v1"])],
)
def test_create_and_patch_store_the_schemes(
    client: TestClient, tenant: Tenant, schemes: list[str], stored: list[str]
) -> None:
    assert create(client, tenant, signature_schemes=schemes)["signature_schemes"] == stored
    hook = create(client, tenant)
    patched = _patch(client, tenant, hook, {"signature_schemes": schemes})
    assert patched["signature_schemes"] == stored
    assert patched["public_keys"] == hook["public_keys"]  # the key stays
    assert _patch(client, tenant, hook, {"lang": "fr"})["signature_schemes"] == stored


def test_choosing_v1a_gives_an_endpoint_stored_before_it_existed_a_key(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    hook = create(client, tenant)
    key = TenantKeys(settings.redis_prefix, tenant.tenant).webhooks

    async def strip() -> None:  # as stored before `v1a`: no schemes, no keys
        redis = client_for(settings.redis_url or "")
        try:
            doc = orjson.loads(cast(str, await redis.hget(key, hook["id"])))
            del doc["signature_schemes"], doc["signing_keys"]
            await redis.hset(key, hook["id"], orjson.dumps(doc))
        finally:
            await redis.aclose()

    asyncio.run(strip())
    old = _get(client, tenant, hook)
    assert (old["signature_schemes"], old["public_keys"]) == (["v1"], [])
    patched = _patch(client, tenant, hook, {"signature_schemes": ["v1a"]})
    [made] = patched["public_keys"]
    assert made["key"].startswith("whpk_")
    assert made["key"] != hook["public_key"]


@pytest.mark.parametrize(("overlap_s", "hours"), [(None, 24), (3600, 1), (604_800, 168)])
def test_a_rotation_keeps_the_old_secret_signing_for_the_overlap_asked(
    client: TestClient, tenant: Tenant, overlap_s: int | None, hours: int
) -> None:
    hook = create(client, tenant)
    body = {} if overlap_s is None else {"overlap_s": overlap_s}
    before = datetime.now(UTC)
    rotated = client.post(
        f"/v1/webhooks/{hook['id']}/rotate-secret", json=body, headers=tenant.headers
    )
    assert rotated.status_code == 200, rotated.text
    until = datetime.fromisoformat(rotated.json()["previous_valid_until"])
    assert timedelta(hours=hours) <= until - before < timedelta(hours=hours, seconds=5)


def test_a_rotation_with_no_overlap_stops_the_old_secret_at_once(
    client: TestClient, tenant: Tenant
) -> None:
    """A leaked secret: from now on only the new one signs; a rotation without a body keeps
    the old one signing."""
    hook = create(client, tenant)
    kept = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=tenant.headers)
    assert kept.status_code == 200, kept.text
    assert _get(client, tenant, hook)["secret_rotations_pending"] == 1
    rotated = client.post(
        f"/v1/webhooks/{hook['id']}/rotate-secret", json={"overlap_s": 0}, headers=tenant.headers
    )
    assert rotated.status_code == 200, rotated.text
    assert _get(client, tenant, hook)["secret_rotations_pending"] == 1  # the first one's


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"overlap_s": -1}, "#/overlap_s"),
        ({"overlap_s": 604_801}, "#/overlap_s"),
        ({"overlap_s": "a day"}, "#/overlap_s"),
        ({"grace": 10}, "#/grace"),
    ],
)
def test_a_rotation_overlap_out_of_bounds_is_refused_and_nothing_rotates(
    client: TestClient, tenant: Tenant, body: Json, pointer: str
) -> None:
    hook = create(client, tenant)
    bad = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", json=body, headers=tenant.headers)
    assert pointers(assert_problem(bad, 422)) == [pointer]
    assert _get(client, tenant, hook)["secret_rotations_pending"] == 0  # nothing rotated


def test_a_rotation_answers_the_new_public_key_and_lists_both(
    client: TestClient, tenant: Tenant
) -> None:
    hook = create(client, tenant, signature_schemes=["v1a"])
    rotated = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=tenant.headers)
    assert rotated.status_code == 200, rotated.text
    answer = rotated.json()
    assert set(answer) == {"secret", "public_key", "previous_valid_until"}
    assert answer["public_key"] not in (hook["public_key"], None)
    keys = _get(client, tenant, hook)["public_keys"]
    assert [k["key"] for k in keys] == [answer["public_key"], hook["public_key"]]
    assert keys[1]["expires_at"] == answer["previous_valid_until"]
