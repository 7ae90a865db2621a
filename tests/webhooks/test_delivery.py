"""End to end in one process: events → worker → signed, ordered, localized deliveries received
by a real HTTP receiver on 127.0.0.1, verified with the official standardwebhooks package (`v1`)
and the README's Ed25519 verifier (`v1a`)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.storage.keys import TenantKeys, feed_news
from tests.factories import Tenant, assert_problem, at, event, make_tenant
from tests.webhooks.readme_verifier import verify_v1a
from tests.webhooks.receiver import Received, Responder, most_in_any_second, receiving
from webhooks import worker as worker_module
from webhooks.worker import ENDPOINTS_FOR_S

Json = dict[str, Any]


def fast(settings: Settings, **overrides: Any) -> Settings:
    """The test settings with the in-process worker, as `gateway serve` runs it, retrying fast
    (and `overrides`)."""
    return settings.model_copy(
        update={
            "worker_in_process": True,
            "webhook_retry_base_s": 0.05,
            "webhook_timeout_s": 2.0,
            **overrides,
        }
    )


@pytest.fixture
def live(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    """The gateway with its in-process worker (fast retries)."""
    with TestClient(create_app(fast(settings), runtime)) as client:
        yield client


def register(client: TestClient, tenant: Tenant, url: str, **fields: Any) -> Json:
    response = client.post("/v1/webhooks", json={"url": url, **fields}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


def verified(secret: str, got: Received) -> Json:
    payload: Json = Webhook(secret).verify(got.body, got.headers)
    return payload


def gated() -> tuple[threading.Event, Responder]:
    """A receiver's answer that waits until the event is set, then 204: the worker's requests
    stay in flight (and what follows them is held) meanwhile."""
    gate = threading.Event()

    async def held_until_the_gate(_n: int, _got: Received) -> tuple[int, dict[str, str]]:
        while not gate.is_set():
            await asyncio.sleep(0.01)
        return 204, {}

    return gate, held_until_the_gate


def test_a_change_arrives_signed_localized_and_in_the_spec_shape(
    live: TestClient, tenant: Tenant
) -> None:
    with receiving() as receiver:
        hook = register(live, tenant, receiver.url, lang="fr")
        assert hook["secret"].startswith("whsec_")
        for i, code in enumerate(["O", "P"]):
            live.post("/v1/events", json=event("77", code, at(i)), headers=tenant.headers)
        got = receiver.wait_for(lambda r: len(r) >= 2)
    first, second = (verified(hook["secret"], g) for g in got)
    assert [p["data"]["sequence"] for p in (first, second)] == [1, 2]
    assert second["type"] == "order.status_changed"
    data = second["data"]
    assert set(data) == {
        "order_id",
        "platform",
        "sequence",
        "occurred_at",
        "previous",
        "current",
        "native",
        "regression",
        "mapping_version",
    }
    assert (data["platform"], data["order_id"], data["regression"]) == ("cscart", "77", False)
    assert data["previous"]["code"] == first["data"]["current"]["code"]
    french = live.get("/v1/translate/cscart/P?lang=fr").json()
    assert data["current"]["label"] == french["canonical"]["label"]
    assert data["native"]["code"] == "P"
    assert got[1].headers["Content-Language"] == "fr"
    assert got[1].headers["webhook-id"].startswith("msg_")
    log = live.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=tenant.headers).json()
    assert [d["result"] for d in log["deliveries"]] == ["delivered", "delivered"]


def test_an_endpoints_own_headers_go_with_every_delivery_and_the_test_send(
    live: TestClient, tenant: Tenant
) -> None:
    own = {"Authorization": "Bearer shop-token", "X-Route": "eu-1"}
    with receiving() as receiver:
        hook = register(live, tenant, receiver.url, headers=own)
        live.post("/v1/events", json=event("own", "O", at(0)), headers=tenant.headers)
        receiver.wait_for(lambda r: len(r) >= 1)
        tested = live.post(f"/v1/webhooks/{hook['id']}/test", headers=tenant.headers)
        got = receiver.wait_for(lambda r: len(r) >= 2)
    assert tested.json()["delivered"] is True
    for each in got:
        sent = {k.lower(): v for k, v in each.headers.items()}
        assert sent["authorization"] == "Bearer shop-token"
        assert sent["x-route"] == "eu-1"
        verified(hook["secret"], each)  # signed as ever
    assert [g.json["type"] for g in got] == ["order.status_changed", "webhook.test"]


def test_retries_keep_the_webhook_id_and_hold_back_only_that_order(
    live: TestClient, tenant: Tenant
) -> None:
    def flaky(_n: int, got: Received) -> tuple[int, dict[str, str]]:
        # order "slow" fails its first three attempts; everything else is accepted at once
        slow = [r for r in receiver.received if r.json["data"]["order_id"] == "slow"]
        if got.json["data"]["order_id"] == "slow" and len(slow) <= 3:
            return 500, {}
        return 204, {}

    with receiving(flaky) as receiver:
        hook = register(live, tenant, receiver.url)
        live.post("/v1/events", json=event("slow", "O", at(0)), headers=tenant.headers)
        live.post("/v1/events", json=event("slow", "P", at(1)), headers=tenant.headers)
        for i in range(5):
            live.post("/v1/events", json=event(f"fast{i}", "O", at(i)), headers=tenant.headers)
        got = receiver.wait_for(
            lambda r: sum(1 for x in r if x.json["data"]["order_id"] == "slow") >= 5, 20
        )
    slow = [g for g in got if g.json["data"]["order_id"] == "slow"]
    # four attempts of sequence 1 (three failed), the same webhook-id each time; then sequence 2
    assert [g.json["data"]["sequence"] for g in slow] == [1, 1, 1, 1, 2]
    assert len({g.headers["webhook-id"] for g in slow[:4]}) == 1
    fast = [g for g in got if g.json["data"]["order_id"].startswith("fast")]
    assert len(fast) == 5
    assert min(g.at for g in fast) < slow[3].at  # other orders were not held back
    log = live.get(
        f"/v1/webhooks/{hook['id']}/deliveries?order_id=slow&platform=cscart",
        headers=tenant.headers,
    ).json()["deliveries"]
    assert [d["result"] for d in reversed(log)] == [
        "retrying",
        "retrying",
        "retrying",
        "delivered",
        "delivered",
    ]
    assert all(d["next_attempt_at"] for d in log if d["result"] == "retrying")


def test_a_410_disables_the_endpoint_and_tells_the_operational_subscribers(
    live: TestClient, tenant: Tenant
) -> None:
    with receiving(lambda _n, _r: (410, {})) as gone, receiving() as ops:
        hook = register(live, tenant, gone.url)
        watcher = register(live, tenant, ops.url, filter={"types": ["endpoint.disabled"]})
        live.post("/v1/events", json=event("g1", "O", at(0)), headers=tenant.headers)
        got = ops.wait_for(lambda r: len(r) >= 1)
        state = live.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json()
    assert state["enabled"] is False
    assert "410" in state["disabled_reason"]
    notice = verified(watcher["secret"], got[0])
    assert notice["type"] == "endpoint.disabled"
    assert notice["data"]["endpoint_id"] == hook["id"]
    assert len(gone.received) == 1


def test_a_rotated_secret_and_the_previous_one_both_verify(
    live: TestClient, tenant: Tenant
) -> None:
    with receiving() as receiver:
        hook = register(live, tenant, receiver.url)
        rotated = live.post(
            f"/v1/webhooks/{hook['id']}/rotate-secret", headers=tenant.headers
        ).json()
        assert rotated["secret"] != hook["secret"]
        assert rotated["previous_valid_until"]
        live.post("/v1/events", json=event("r1", "O", at(0)), headers=tenant.headers)
        [got] = receiver.wait_for(lambda r: len(r) >= 1)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (hook["secret"], rotated["secret"]):
        assert verified(secret, got)["data"]["order_id"] == "r1"


def test_a_v1a_endpoint_is_verified_with_its_public_key_alone(
    live: TestClient, tenant: Tenant
) -> None:
    with receiving() as receiver:
        hook = register(live, tenant, receiver.url, signature_schemes=["v1a"])
        live.post("/v1/events", json=event("ed1", "O", at(0)), headers=tenant.headers)
        live.post(f"/v1/webhooks/{hook['id']}/test", headers=tenant.headers)
        got = receiver.wait_for(lambda r: len(r) >= 2)
    for delivery in got:
        assert delivery.headers["webhook-signature"].startswith("v1a,")
        assert " " not in delivery.headers["webhook-signature"]
        assert verify_v1a([hook["public_key"]], delivery.body, delivery.headers)
        with pytest.raises(WebhookVerificationError):  # no v1 entry to check with the secret
            verified(hook["secret"], delivery)
    assert sorted(g.json["type"] for g in got) == ["order.status_changed", "webhook.test"]


def test_switching_to_both_schemes_then_rotating_signs_with_all_four(
    live: TestClient, tenant: Tenant
) -> None:
    with receiving() as receiver:
        hook = register(live, tenant, receiver.url)
        both = {"signature_schemes": ["v1", "v1a"]}
        live.patch(f"/v1/webhooks/{hook['id']}", json=both, headers=tenant.headers)
        rotated = live.post(
            f"/v1/webhooks/{hook['id']}/rotate-secret", headers=tenant.headers
        ).json()
        live.post("/v1/events", json=event("ed2", "O", at(0)), headers=tenant.headers)
        [got] = receiver.wait_for(lambda r: len(r) >= 1)
    schemes = [p.split(",")[0] for p in got.headers["webhook-signature"].split(" ")]
    assert schemes == ["v1", "v1", "v1a", "v1a"]
    for secret in (hook["secret"], rotated["secret"]):
        assert verified(secret, got)["data"]["order_id"] == "ed2"
    for key in (hook["public_key"], rotated["public_key"]):
        assert verify_v1a([key], got.body, got.headers)


def test_filters_choose_what_an_endpoint_gets(live: TestClient, tenant: Tenant) -> None:
    with receiving() as receiver:
        register(live, tenant, receiver.url, filter={"platforms": ["kak2c"]})
        live.post("/v1/events", json=event("c1", "O", at(0)), headers=tenant.headers)
        live.post(
            "/v1/events",
            json=event("k1", "ORDER_INFO_PACKED", at(0), platform="kak2c"),
            headers=tenant.headers,
        )
        got = receiver.wait_for(lambda r: len(r) >= 1)
    assert [g.json["data"]["platform"] for g in got] == ["kak2c"]


def test_the_test_send_reports_the_receivers_answer(live: TestClient, tenant: Tenant) -> None:
    with receiving(lambda _n, _r: (202, {})) as receiver:
        hook = register(live, tenant, receiver.url)
        answer = live.post(f"/v1/webhooks/{hook['id']}/test", headers=tenant.headers).json()
        assert (answer["delivered"], answer["status_code"]) == (True, 202)
        [got] = receiver.received
    assert verified(hook["secret"], got)["type"] == "webhook.test"


def test_replay_sends_an_orders_changes_again_with_the_same_ids(
    live: TestClient, tenant: Tenant
) -> None:
    with receiving() as receiver:
        hook = register(live, tenant, receiver.url)
        for i, code in enumerate(["O", "P", "C"]):
            live.post("/v1/events", json=event("re", code, at(i)), headers=tenant.headers)
        first = receiver.wait_for(lambda r: len(r) >= 3)
        queued = live.post(
            f"/v1/webhooks/{hook['id']}/replay",
            json={"platform": "cscart", "order_id": "re"},
            headers=tenant.headers,
        ).json()
        assert queued == {"queued": 3}
        again = receiver.wait_for(lambda r: len(r) >= 6)[3:]
    assert [g.headers["webhook-id"] for g in again] == [g.headers["webhook-id"] for g in first]
    assert [g.json["data"]["sequence"] for g in again] == [1, 2, 3]


def test_order_deliveries_lists_attempts_to_every_endpoint(
    live: TestClient, tenant: Tenant
) -> None:
    with receiving() as one, receiving() as two:
        register(live, tenant, one.url)
        register(live, tenant, two.url, lang="el")
        live.post("/v1/events", json=event("both", "O", at(0)), headers=tenant.headers)
        one.wait_for(lambda r: len(r) >= 1)
        two.wait_for(lambda r: len(r) >= 1)
    assert two.received[0].headers["Content-Language"] == "el"
    found = live.get("/v1/orders/cscart/both/deliveries", headers=tenant.headers).json()
    for _ in range(50):  # the log entry is written right after the receiver answered
        if len(found["deliveries"]) == 2:
            break
        found = live.get("/v1/orders/cscart/both/deliveries", headers=tenant.headers).json()
    assert sorted(d["result"] for d in found["deliveries"]) == ["delivered", "delivered"]


def test_an_endpoint_failing_for_the_whole_window_is_disabled_and_announced(
    settings: Settings, runtime: Runtime, tenant: Tenant
) -> None:
    """No success for `webhook_disable_after_s` (1 s here, 3 days by default): the next failure
    disables the endpoint, says why, tells the operational subscribers, and stops the attempts;
    `POST /enable` turns it back on."""
    quick = fast(settings, webhook_retry_cap_s=0.2, webhook_disable_after_s=1.0)
    with (
        TestClient(create_app(quick, runtime)) as client,
        receiving(lambda _n, _r: (500, {})) as failing,
        receiving() as ops,
    ):
        hook = register(client, tenant, failing.url)
        watcher = register(client, tenant, ops.url, filter={"types": ["endpoint.disabled"]})
        client.post("/v1/events", json=event("streak", "O", at(0)), headers=tenant.headers)
        got = ops.wait_for(lambda r: len(r) >= 1, 10)
        state = client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json()
        attempts = len(failing.received)
        log = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=tenant.headers).json()[
            "deliveries"
        ]
        time.sleep(0.5)
        assert len(failing.received) == attempts  # nothing more once disabled
        enabled = client.post(f"/v1/webhooks/{hook['id']}/enable", headers=tenant.headers)
    assert state["enabled"] is False
    assert state["disabled_reason"].startswith("every delivery failed since")
    assert attempts >= 2
    assert {d["status_code"] for d in log} == {500}
    notice = verified(watcher["secret"], got[0])
    assert notice["type"] == "endpoint.disabled"
    assert notice["data"]["endpoint_id"] == hook["id"]
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["enabled"] is True


def test_a_failing_endpoint_is_announced_once_and_so_is_its_recovery(
    settings: Settings, runtime: Runtime, tenant: Tenant
) -> None:
    """Failing for `webhook_warn_after_s` (0.3 s here, an hour by default): one
    `endpoint.failing` with the date it will be disabled, however many attempts fail after it;
    the first success then sends `endpoint.recovered`."""
    quick = fast(
        settings,
        webhook_retry_cap_s=0.1,
        webhook_warn_after_s=0.3,
        webhook_disable_after_s=3_600.0,
    )
    healed = threading.Event()

    def flaky(_n: int, _got: Received) -> tuple[int, dict[str, str]]:
        return (204, {}) if healed.is_set() else (500, {})

    types = ["endpoint.failing", "endpoint.recovered"]
    with (
        TestClient(create_app(quick, runtime)) as client,
        receiving(flaky) as failing,
        receiving() as ops,
    ):
        hook = register(client, tenant, failing.url)
        watcher = register(client, tenant, ops.url, filter={"types": types})
        client.post("/v1/events", json=event("streak", "O", at(0)), headers=tenant.headers)
        ops.wait_for(lambda r: len(r) >= 1, 10)
        after = len(failing.received)
        failing.wait_for(lambda r: len(r) >= after + 3, 10)  # still failing, announced once
        during = client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json()
        healed.set()
        got = ops.wait_for(lambda r: len(r) >= 2, 10)
        time.sleep(0.3)
        log = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=tenant.headers).json()
        after_all = client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json()
    assert len(ops.received) == 2
    warned, recovered = (verified(watcher["secret"], g) for g in got)
    assert [warned["type"], recovered["type"]] == types
    since = datetime.fromisoformat(warned["data"]["failing_since"])
    assert datetime.fromisoformat(warned["data"]["disable_at"]) - since == timedelta(hours=1)
    assert warned["data"]["endpoint_id"] == recovered["data"]["endpoint_id"] == hook["id"]
    assert warned["data"]["url"] == recovered["data"]["url"] == failing.url
    assert warned["data"]["status_code"] == 500
    assert recovered["data"]["failing_since"] == warned["data"]["failing_since"]
    assert recovered["data"]["recovered_at"] >= warned["data"]["failing_since"]
    assert log["deliveries"][0]["result"] == "delivered"  # newest first: the change got through
    assert during["failing_since"] == warned["data"]["failing_since"]
    assert during["disable_at"] == warned["data"]["disable_at"]
    assert (after_all["failing_since"], after_all["disable_at"]) == (None, None)


def test_a_rate_limited_endpoint_gets_its_deliveries_spaced_out(
    live: TestClient, tenant: Tenant
) -> None:
    """10 per second: one attempt every 100 ms (a burst of one), however many orders wait."""
    with receiving() as receiver:
        hook = register(live, tenant, receiver.url, rate_limit=10)
        assert hook["rate_limit"] == 10
        for i in range(25):
            live.post("/v1/events", json=event(f"paced{i}", "O", at(i)), headers=tenant.headers)
        got = receiver.wait_for(lambda r: len(r) >= 25, 20)
    assert {g.json["data"]["order_id"] for g in got} == {f"paced{i}" for i in range(25)}
    assert most_in_any_second(got) <= 10 + 2  # 11 fit in a closed second; one for jitter
    assert got[-1].at - got[0].at >= 24 * 0.1 * 0.9


def test_a_retry_after_on_429_holds_the_whole_endpoint_until_then(
    live: TestClient, tenant: Tenant
) -> None:
    """The receiver's first answer is 429 with `Retry-After: 2`: the other orders' changes
    posted meanwhile wait those 2 s, then all arrive; the endpoint shows `held_until`."""

    def busy_once(n: int, _got: Received) -> tuple[int, dict[str, str]]:
        return (429, {"Retry-After": "2"}) if n == 1 else (204, {})

    with receiving(busy_once) as receiver:
        hook = register(live, tenant, receiver.url)
        live.post("/v1/events", json=event("first", "O", at(0)), headers=tenant.headers)
        [refused] = receiver.wait_for(lambda r: len(r) >= 1)
        deadline = time.monotonic() + 10
        while (shown := live.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json())[
            "held_until"
        ] is None:  # the hold is recorded right after the 429 came back
            assert time.monotonic() < deadline, shown
            time.sleep(0.02)
        for i in range(5):
            live.post("/v1/events", json=event(f"later{i}", "O", at(i)), headers=tenant.headers)
        got = receiver.wait_for(lambda r: len(r) >= 6, 15)[1:]
        metrics = live.get("/metrics").text
    assert {g.json["data"]["order_id"] for g in got} == {f"later{i}" for i in range(5)}
    assert min(g.at for g in got) >= refused.at + 2.0 - 0.05
    held = datetime.fromisoformat(shown["held_until"]).timestamp()
    assert held == pytest.approx(refused.at + 2.0, abs=0.5)
    assert 'gateway_webhook_holds_total{status="429"} 1.0' in metrics


def test_a_worker_without_the_key_leaves_the_tenant_to_a_worker_with_it(
    settings: Settings, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """Two workers over one Redis, only one with GATEWAY_SECRET_KEY. The keyless one starts
    first and owns the tenant's fan-out: finding the secrets closed to it, it gives the tenant
    up at once, so the keyed one delivers well before the fan-out lease (10 s) would have run
    out. The keyless one says why and counts the tenant in gateway_webhook_unopened_tenants."""
    own = settings.model_copy(update={"redis_prefix": f"sealed{uuid.uuid4().hex[:8]}"})
    keyed = own.model_copy(update={"secret_key": SecretStr("passphrase for this test")})
    tenant = make_tenant(own)
    with receiving() as receiver:
        with TestClient(create_app(keyed, runtime)) as api:  # no worker
            hook = register(api, tenant, receiver.url)
        with TestClient(create_app(fast(own), runtime)) as keyless:
            keyless.post("/v1/events", json=event("shut1", "O", at(0)), headers=tenant.headers)
            deadline = time.monotonic() + 10
            while not any("GATEWAY_SECRET_KEY" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "the keyless worker never met the tenant"
                time.sleep(0.05)
            with TestClient(create_app(fast(keyed), runtime)):
                [got] = receiver.wait_for(lambda r: len(r) >= 1, timeout=8.0)
            metrics = keyless.get("/metrics").text
    assert verified(hook["secret"], got)["data"]["order_id"] == "shut1"
    assert "gateway_webhook_unopened_tenants 1.0" in metrics
    assert any("left to other workers" in r.getMessage() for r in caplog.records)


def test_with_a_secret_key_nothing_is_stored_in_the_clear_and_without_it_nothing_is_sent(
    settings: Settings, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """GATEWAY_SECRET_KEY set: Redis holds no secret and no signing key as given, and the worker
    opens what the API sealed: both schemes and a rotation sign as they do without a key. A
    worker without the key sends nothing (never a wrong signature), says why, and keeps the
    change pending until a worker with the key sends it. Under a prefix of its own, so the other
    tests' workers (which have no key) never meet these endpoints."""
    own = settings.model_copy(update={"redis_prefix": f"sealed{uuid.uuid4().hex[:8]}"})
    keyed = own.model_copy(update={"secret_key": SecretStr("passphrase for this test")})
    tenant = make_tenant(own)
    with receiving() as receiver:
        with TestClient(create_app(keyed, runtime)) as api:  # no worker yet
            hook = register(api, tenant, receiver.url, signature_schemes=["v1", "v1a"])
            rotated = api.post(
                f"/v1/webhooks/{hook['id']}/rotate-secret", headers=tenant.headers
            ).json()
            api.post("/v1/events", json=event("sealed1", "O", at(0)), headers=tenant.headers)
        raw = stored_endpoint(own, tenant, hook["id"])
        for secret in ("whsec_", "whsk_", hook["secret"], rotated["secret"]):
            assert secret not in raw

        keyless = own.model_copy(update={"worker_in_process": True})
        with TestClient(create_app(keyless, runtime)) as live:
            answer = live.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers)
            time.sleep(1.5)
        assert assert_problem(answer, 503)["type"].endswith("/secret-key-missing")
        assert receiver.received == []
        assert any("GATEWAY_SECRET_KEY" in r.getMessage() for r in caplog.records)

        with TestClient(create_app(keyed.model_copy(update={"worker_in_process": True}), runtime)):
            [got] = receiver.wait_for(lambda r: len(r) >= 1)
    for secret in (hook["secret"], rotated["secret"]):
        assert verified(secret, got)["data"]["order_id"] == "sealed1"
    for key in (hook["public_key"], rotated["public_key"]):
        assert verify_v1a([key], got.body, got.headers)


def stored_endpoint(settings: Settings, tenant: Tenant, endpoint_id: str) -> str:
    client = redis.Redis.from_url(str(settings.redis_url), decode_responses=True)
    try:
        doc = client.hget(TenantKeys(settings.redis_prefix, tenant.tenant).webhooks, endpoint_id)
    finally:
        client.close()
    assert isinstance(doc, str)
    return doc


def test_a_rate_limit_set_while_changes_are_held_paces_them_too(
    settings: Settings, runtime: Runtime, tenant: Tenant
) -> None:
    """Changes held to be sent straight from the feed when a PATCH gives the endpoint a rate
    limit go out at that rate too (onto their lanes), not in a burst. The receiver keeps the
    first deliveries (a full endpoint's worth of slots) waiting until the worker has seen the
    PATCH, so the other orders' changes are held meanwhile."""
    gate, held_until_the_gate = gated()
    slow = settings.model_copy(update={"worker_in_process": True, "webhook_timeout_s": 10.0})
    orders = [f"burst{i}" for i in range(100)]
    with receiving(held_until_the_gate) as receiver, TestClient(create_app(slow, runtime)) as live:
        hook = register(live, tenant, receiver.url)
        for i, order in enumerate(orders):
            live.post("/v1/events", json=event(order, "O", at(i)), headers=tenant.headers)
        in_flight = receiver.wait_for(lambda r: len(r) >= 1)
        patched = live.patch(
            f"/v1/webhooks/{hook['id']}", json={"rate_limit": 10}, headers=tenant.headers
        )
        assert patched.status_code == 200, patched.text
        time.sleep(ENDPOINTS_FOR_S + 0.3)  # the worker's copy of the endpoint is renewed
        in_flight = list(receiver.received)
        gate.set()
        got = receiver.wait_for(lambda r: len(r) >= len(orders), 30)
    assert sorted(g.json["data"]["order_id"] for g in got) == sorted(orders)  # each once
    held = got[len(in_flight) :]
    assert len(held) >= 20  # the endpoint's slots were full: the rest were held
    assert most_in_any_second(held) <= 10 + 2
    assert held[-1].at - held[0].at >= (len(held) - 1) * 0.1 * 0.8


def test_pending_counts_the_changes_a_worker_holds_to_send_straight_from_the_feed(
    settings: Settings, runtime: Runtime, tenant: Tenant
) -> None:
    """While a receiver keeps the first deliveries waiting, the endpoint's `pending` shows every
    change held for it (none is on a lane yet), and 0 once they are all delivered."""
    gate, held_until_the_gate = gated()

    def pending(live: TestClient, hook: Json) -> int:
        shown = live.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json()
        count: int = shown["pending"]
        return count

    def eventually(live: TestClient, hook: Json, expected: int) -> None:
        deadline = time.monotonic() + 5
        while (seen := pending(live, hook)) != expected:
            assert time.monotonic() < deadline, f"pending {seen}, not {expected}"
            time.sleep(0.05)

    slow = settings.model_copy(update={"worker_in_process": True, "webhook_timeout_s": 10.0})
    with receiving(held_until_the_gate) as receiver, TestClient(create_app(slow, runtime)) as live:
        hook = register(live, tenant, receiver.url)
        for i in range(100):
            live.post("/v1/events", json=event(f"held{i}", "O", at(i)), headers=tenant.headers)
        try:
            eventually(live, hook, 100)
        finally:
            gate.set()
        receiver.wait_for(lambda r: len(r) >= 100, 30)
        eventually(live, hook, 0)


def test_a_worker_that_stops_while_holding_changes_withdraws_its_report(
    settings: Settings, runtime: Runtime, tenant: Tenant
) -> None:
    """What a stopping worker still holds stays pending in the change feed for the next owner
    of the fan-out, which reports it then: the stopped one's report is gone at once (not
    counted twice for its last seconds)."""
    gate, held_until_the_gate = gated()
    slow = settings.model_copy(update={"worker_in_process": True, "webhook_timeout_s": 10.0})
    key = TenantKeys(settings.redis_prefix, tenant.tenant).webhook_held
    client = redis.Redis.from_url(str(settings.redis_url), decode_responses=True)
    try:
        with receiving(held_until_the_gate) as receiver:
            try:
                with TestClient(create_app(slow, runtime)) as live:
                    register(live, tenant, receiver.url)
                    for i in range(5):
                        live.post(
                            "/v1/events", json=event(f"left{i}", "O", at(i)), headers=tenant.headers
                        )
                    deadline = time.monotonic() + 5
                    while not client.hgetall(key):
                        assert time.monotonic() < deadline, "no report of the held changes"
                        time.sleep(0.05)
            finally:
                gate.set()
        assert client.hgetall(key) == {}
    finally:
        client.close()


def test_a_change_goes_out_on_its_feeds_news_not_at_the_next_sweep(
    live: TestClient, tenant: Tenant, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no sweep for an hour, each change still arrives at once: the commit announces its
    tenant on the feed-news channel, and the worker reads that feed then; also after its
    listening connection was killed (it listens again)."""
    monkeypatch.setattr(worker_module, "SWEEP_S", 3600.0)
    channel = feed_news(settings.redis_prefix)
    admin = redis.Redis.from_url(settings.redis_url or "")

    def listening() -> None:
        deadline = time.monotonic() + 10.0
        while admin.pubsub_numsub(channel)[0][1] < 1:
            assert time.monotonic() < deadline, "the worker does not listen"
            time.sleep(0.05)
        time.sleep(0.2)  # and its sweep on starting to listen is over

    try:
        with receiving() as receiver:
            register(live, tenant, receiver.url)
            listening()
            live.post("/v1/events", json=event("news", "O", at(0)), headers=tenant.headers)
            receiver.wait_for(lambda r: len(r) >= 1, timeout=10.0)
            admin.client_kill_filter(_type="pubsub")
            listening()  # again
            live.post("/v1/events", json=event("news", "P", at(1)), headers=tenant.headers)
            got = receiver.wait_for(lambda r: len(r) >= 2, timeout=10.0)
    finally:
        admin.close()
    assert [g.json["data"]["sequence"] for g in got] == [1, 2]
