"""Idempotency-Key on the webhook routes: a retry gets the first answer, nothing is done twice."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any, cast

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from gateway.app import create_app
from gateway.idempotency import KEPT_S, fingerprint
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.keys import TenantKeys
from tests.factories import Tenant, assert_problem, at, event, make_tenant

HOOK = "http://127.0.0.1:9/hook"
Json = dict[str, Any]


def keyed(tenant: Tenant, key: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key}


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def stored(settings: Settings, tenant: Tenant, key: str) -> tuple[str | None, int]:
    """What Redis holds for `key` of `tenant`, and its time to live (s)."""

    async def read() -> tuple[str | None, int]:
        redis = client_for(settings.redis_url or "")
        try:
            name = TenantKeys(settings.redis_prefix, tenant.tenant).idempotency(
                hashlib.sha256(key.encode()).hexdigest()
            )
            return cast(str | None, await redis.get(name)), await redis.ttl(name)
        finally:
            await redis.aclose()

    return asyncio.run(read())


def hooks(client: TestClient, tenant: Tenant) -> list[Json]:
    found: list[Json] = client.get("/v1/webhooks", headers=tenant.headers).json()["webhooks"]
    return found


def test_a_retried_create_answers_the_first_endpoint_and_makes_no_second(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    key = new_key()
    first = client.post("/v1/webhooks", json={"url": HOOK}, headers=keyed(tenant, key))
    again = client.post("/v1/webhooks", json={"url": HOOK}, headers=keyed(tenant, key))
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()  # the same id, and the secret shown once, again
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["content-type"] == first.headers["content-type"]
    assert [h["id"] for h in hooks(client, tenant)] == [first.json()["id"]]
    _, ttl = stored(settings, tenant, key)
    assert 0 < ttl <= KEPT_S


def test_without_a_key_each_post_is_its_own(client: TestClient, tenant: Tenant) -> None:
    for _ in range(2):
        assert client.post("/v1/webhooks", json={"url": HOOK}, headers=tenant.headers).is_success
    assert len(hooks(client, tenant)) == 2


def test_the_same_key_with_another_request_is_refused(client: TestClient, tenant: Tenant) -> None:
    key = new_key()
    hook = client.post("/v1/webhooks", json={"url": HOOK}, headers=keyed(tenant, key)).json()
    other_body = client.post(
        "/v1/webhooks", json={"url": HOOK, "lang": "fr"}, headers=keyed(tenant, key)
    )
    other_route = client.post(
        f"/v1/webhooks/{hook['id']}/rotate-secret", headers=keyed(tenant, key)
    )
    for refused in (other_body, other_route):
        problem = assert_problem(refused, 422)
        assert problem["type"].endswith("/idempotency-key-reused")
        assert problem["parameter"] == "Idempotency-Key"
    assert len(hooks(client, tenant)) == 1
    assert (
        client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json()[
            "secret_rotations_pending"
        ]
        == 0
    )


def test_keys_are_per_tenant(client: TestClient, tenant: Tenant, settings: Settings) -> None:
    other = make_tenant(settings)
    key = new_key()
    mine = client.post("/v1/webhooks", json={"url": HOOK}, headers=keyed(tenant, key))
    theirs = client.post("/v1/webhooks", json={"url": HOOK}, headers=keyed(other, key))
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs.headers


def test_a_retry_while_the_first_runs_is_told_to_wait(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    key = new_key()
    body = orjson.dumps({"url": HOOK})
    running = orjson.dumps(
        {"fingerprint": fingerprint("POST", "/v1/webhooks", "", body), "running": True}
    )

    async def start() -> None:  # as a first request still running would have left it
        redis = client_for(settings.redis_url or "")
        try:
            name = TenantKeys(settings.redis_prefix, tenant.tenant).idempotency(
                hashlib.sha256(key.encode()).hexdigest()
            )
            await redis.set(name, running, ex=60)
        finally:
            await redis.aclose()

    asyncio.run(start())
    headers = {**keyed(tenant, key), "Content-Type": "application/json"}
    waiting = client.post("/v1/webhooks", content=body, headers=headers)
    problem = assert_problem(waiting, 409)
    assert problem["type"].endswith("/idempotency-key-in-use")
    assert waiting.headers["Retry-After"] == "1"
    assert hooks(client, tenant) == []


def test_a_refused_request_keeps_nothing_and_its_retry_runs(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    key = new_key()
    bad = client.post("/v1/webhooks", json={"url": "gopher://x"}, headers=keyed(tenant, key))
    assert_problem(bad, 422)
    assert stored(settings, tenant, key) == (None, -2)
    fixed = client.post("/v1/webhooks", json={"url": HOOK}, headers=keyed(tenant, key))
    assert fixed.status_code == 201, fixed.text
    assert "Idempotent-Replayed" not in fixed.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ключ"])
def test_a_malformed_key_is_refused(client: TestClient, tenant: Tenant, key: str) -> None:
    headers = [(k.encode(), v.encode()) for k, v in tenant.headers.items()]
    headers.append((b"Idempotency-Key", key.encode()))  # UTF-8 bytes, as a client may send
    refused = client.post("/v1/webhooks", json={"url": HOOK}, headers=headers)
    assert_problem(refused, 422)
    assert hooks(client, tenant) == []


def test_a_retried_replay_queues_once(client: TestClient, tenant: Tenant) -> None:
    hook = client.post("/v1/webhooks", json={"url": HOOK}, headers=tenant.headers).json()
    for i, code in enumerate(["O", "P"]):
        client.post("/v1/events", json=event("again", code, at(i)), headers=tenant.headers)
    key = new_key()
    body = {"order_id": "again"}
    url = f"/v1/webhooks/{hook['id']}/replay"
    first = client.post(url, json=body, headers=keyed(tenant, key))
    again = client.post(url, json=body, headers=keyed(tenant, key))
    assert first.json() == again.json() == {"queued": 2}
    assert again.headers["Idempotent-Replayed"] == "true"
    listed = client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers).json()
    assert listed["pending"] == 2  # queued once (no worker runs here: nothing else is queued)


@pytest.fixture
def sealing(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    keyed_settings = settings.model_copy(update={"secret_key": SecretStr("a long passphrase " * 3)})
    with TestClient(create_app(keyed_settings, runtime)) as client:
        yield client


def test_a_kept_answer_holding_a_secret_is_sealed_at_rest(
    sealing: TestClient, tenant: Tenant, settings: Settings
) -> None:
    key = new_key()
    first = sealing.post("/v1/webhooks", json={"url": HOOK}, headers=keyed(tenant, key))
    assert first.status_code == 201, first.text
    kept, _ = stored(settings, tenant, key)
    assert kept is not None
    assert kept.startswith("sealed:")
    assert first.json()["secret"] not in kept
    again = sealing.post("/v1/webhooks", json={"url": HOOK}, headers=keyed(tenant, key))
    assert again.json()["secret"] == first.json()["secret"]
