"""Endpoint changes against the real test Redis: a change is applied to the endpoint as it is now,
so concurrent changes never undo each other and a deleted endpoint stays deleted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import redis

from gateway.errors import Conflict, InvalidFilter, SecretKeyMissing
from gateway.runtime import Runtime
from gateway.sealing import SecretBox
from gateway.settings import Settings
from gateway.storage import client_for
from webhooks.endpoints import (
    SEALED,
    UPDATE_TRIES,
    Endpoint,
    EndpointStore,
    Filter,
    Secret,
    checked_filter,
    disabled,
    rotated,
)
from webhooks.signing import Scheme, new_secret, public_key

Test = Callable[[EndpointStore, str, Endpoint, redis.Redis], Awaitable[None]]


async def made(
    store: EndpointStore, tenant: str, url: str = "https://shop.example/h", **fields: Any
) -> Endpoint:
    """A new endpoint of `tenant` with the defaults the API gives (and `fields`)."""
    return await store.create(
        tenant, url=url, lang="en", filter=Filter(), description=None, **fields
    )


def run(settings: Settings, test: Test) -> None:
    """`test` with a store, a fresh tenant holding one endpoint, and a plain (blocking) client
    that plays the other writer in the middle of a change."""

    async def main() -> None:
        client = client_for(settings.redis_url or "")
        other = redis.Redis.from_url(str(settings.redis_url), decode_responses=True)
        try:
            store = EndpointStore(client, settings.redis_prefix)
            tenant = f"e{uuid.uuid4().hex[:10]}"
            endpoint = await made(store, tenant, "https://shop.example/hook")
            await test(store, tenant, endpoint, other)
        finally:
            other.close()
            await client.aclose()

    asyncio.run(main())


def write(other: redis.Redis, store: EndpointStore, tenant: str, endpoint: Endpoint) -> None:
    other.hset(store.keys(tenant).webhooks, endpoint.id, endpoint.model_dump_json())


def test_a_change_made_meanwhile_is_kept_and_the_change_applied_over_it(
    settings: Settings,
) -> None:
    """The worker disables the endpoint while a PATCH is between its read and its write: the
    endpoint ends up with the new URL and still disabled (a blind write would re-enable it)."""

    async def test(store: EndpointStore, tenant: str, ep: Endpoint, other: redis.Redis) -> None:
        seen: list[bool] = []

        def patch(current: Endpoint) -> Endpoint:
            seen.append(current.enabled)
            if len(seen) == 1:  # the worker's write lands now
                write(other, store, tenant, disabled(current, "every delivery failed"))
            return current.model_copy(update={"url": "https://shop.example/new"})

        done = await store.update(tenant, ep.id, patch)
        assert done is not None
        assert seen == [True, False]  # applied again to what the worker wrote
        now = await store.get(tenant, ep.id)
        assert now is not None
        assert (now.url, now.enabled) == ("https://shop.example/new", False)
        assert now.disabled_reason == "every delivery failed"

    run(settings, test)


def test_a_rotation_racing_a_patch_keeps_the_new_secret(settings: Settings) -> None:
    async def test(store: EndpointStore, tenant: str, ep: Endpoint, other: redis.Redis) -> None:
        calls = 0

        def rotate(current: Endpoint) -> Endpoint:
            nonlocal calls
            calls += 1
            if calls == 1:  # a PATCH of the description lands now
                write(other, store, tenant, current.model_copy(update={"description": "shop"}))
            return rotated(current, 86_400, datetime.now(UTC))

        done = await store.update(tenant, ep.id, rotate)
        assert done is not None
        now = await store.get(tenant, ep.id)
        assert now == done[1]
        assert now.description == "shop"
        assert now.secrets[0].secret == done[1].secrets[0].secret != ep.secrets[0].secret

    run(settings, test)


def test_an_endpoint_deleted_meanwhile_is_not_written_back(settings: Settings) -> None:
    async def test(store: EndpointStore, tenant: str, ep: Endpoint, other: redis.Redis) -> None:
        def patch(current: Endpoint) -> Endpoint:
            other.hdel(store.keys(tenant).webhooks, ep.id)  # a DELETE lands now
            return current.model_copy(update={"description": "late"})

        assert await store.update(tenant, ep.id, patch) is None
        assert await store.get(tenant, ep.id) is None
        assert await store.update(tenant, "ep_missing", lambda e: e) is None

    run(settings, test)


def test_a_change_that_changes_nothing_writes_nothing(settings: Settings) -> None:
    async def test(store: EndpointStore, tenant: str, ep: Endpoint, other: redis.Redis) -> None:
        key = store.keys(tenant).webhooks
        raw = other.hget(key, ep.id)
        assert await store.update(tenant, ep.id, lambda e: e) == (ep, ep)
        assert other.hget(key, ep.id) == raw

    run(settings, test)


def test_endless_collisions_end_in_a_conflict(settings: Settings) -> None:
    async def test(store: EndpointStore, tenant: str, ep: Endpoint, other: redis.Redis) -> None:
        calls = 0

        def busy(current: Endpoint) -> Endpoint:
            nonlocal calls
            calls += 1
            write(other, store, tenant, current.model_copy(update={"description": str(calls)}))
            return current.model_copy(update={"url": "https://shop.example/never"})

        with pytest.raises(Conflict):
            await store.update(tenant, ep.id, busy)
        assert calls == UPDATE_TRIES
        now = await store.get(tenant, ep.id)
        assert now is not None
        assert now.url == "https://shop.example/hook"

    run(settings, test)


def _endpoint() -> Endpoint:
    return Endpoint(
        id="ep_x",
        url="https://example.com/hook",
        lang="en",
        filter=Filter(),
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        secrets=[Secret(secret=new_secret(), created_at="2026-01-01T00:00:00Z")],
    )


@pytest.mark.parametrize(("rotations", "signing"), [(1, 2), (2, 3), (3, 3), (300, 3)])
def test_rotations_within_the_overlap_keep_the_two_newest_old_secrets(
    rotations: int, signing: int
) -> None:
    """However often it is rotated, an endpoint signs with its current secret and at most two
    old ones (each signature is about 50 bytes of `webhook-signature`)."""
    now = datetime.now(UTC)
    history = [_endpoint()]
    for _ in range(rotations):
        history.append(rotated(history[-1], 86_400, now))
    latest = history[-1]
    secrets = latest.signing_secrets(now)
    assert len(secrets) == signing
    assert secrets == [history[-1 - i].secrets[0].secret for i in range(signing)]
    assert latest.public()["secret_rotations_pending"] == signing - 1


def test_old_secrets_stop_signing_and_stop_counting_when_the_overlap_ends() -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    endpoint = rotated(_endpoint(), 60, an_hour_ago)
    assert endpoint.signing_secrets(datetime.now(UTC)) == [endpoint.secrets[0].secret]
    assert endpoint.signing_secrets(an_hour_ago) == [s.secret for s in endpoint.secrets]
    assert endpoint.public()["secret_rotations_pending"] == 0


@pytest.mark.parametrize(
    ("schemes", "prefixes"),
    [(["v1"], ["whsec_"]), (["v1a"], ["whsk_"]), (["v1", "v1a"], ["whsec_", "whsk_"])],
)
def test_the_schemes_choose_what_signs(schemes: list[Scheme], prefixes: list[str]) -> None:
    endpoint = _endpoint().with_signing_key().model_copy(update={"signature_schemes": schemes})
    signing = endpoint.signing_secrets(datetime.now(UTC))
    assert [s[: s.index("_") + 1] for s in signing] == prefixes


def test_an_endpoint_stored_before_v1a_loads_signs_v1_and_gets_a_key_when_asked() -> None:
    stored = _endpoint().model_dump(exclude={"signature_schemes", "signing_keys"})
    old = Endpoint.model_validate(stored)
    assert old.signature_schemes == ["v1"]
    assert old.public()["public_keys"] == []
    keyed = old.with_signing_key()
    assert keyed.with_signing_key() == keyed  # made once
    [shown] = keyed.public()["public_keys"]
    assert shown["key"] == public_key(keyed.signing_keys[0].secret)
    assert shown["expires_at"] is None


def test_a_rotation_renews_the_key_and_the_old_one_verifies_until_the_overlap_ends() -> None:
    now = datetime.now(UTC)
    before = _endpoint().with_signing_key().model_copy(update={"signature_schemes": ["v1a"]})
    after = rotated(before, 3600, now)
    assert after.signing_secrets(now) == [
        after.signing_keys[0].secret,
        before.signing_keys[0].secret,
    ]
    shown = after.public()["public_keys"]
    assert [k["key"] for k in shown] == [public_key(k.secret) for k in after.signing_keys]
    assert shown[0]["expires_at"] is None
    assert shown[1]["expires_at"] is not None
    later = now + timedelta(hours=2)
    assert after.signing_secrets(later) == [after.signing_keys[0].secret]
    assert "whsk_" not in str(after.public())  # the signing key never leaves


def test_a_rotation_gives_an_endpoint_without_a_key_its_first() -> None:
    now = datetime.now(UTC)
    after = rotated(_endpoint(), 3600, now)
    assert len(after.signing_keys) == 1
    assert after.signing_keys[0].expires_at is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (Filter(statuses=["teleported"]), "'teleported' is not a canonical status"),
        (Filter(stages=["orbit"]), "'orbit' is not a canonical stage"),
    ],
)
def test_filter_errors_name_what_is_wrong(runtime: Runtime, raw: Filter, message: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        checked_filter(raw, runtime.tables)
    assert caught.value.detail.startswith(message)


KEY = "a long random passphrase for the sealing tests"


def sealed_run(
    settings: Settings, test: Callable[[EndpointStore, str, redis.Redis], Awaitable[None]]
) -> None:
    """`test` with a store that seals under KEY, a fresh tenant, and a plain client."""

    async def main() -> None:
        client = client_for(settings.redis_url or "")
        other = redis.Redis.from_url(str(settings.redis_url), decode_responses=True)
        try:
            await test(
                EndpointStore(client, settings.redis_prefix, SecretBox(KEY)),
                f"s{uuid.uuid4().hex[:10]}",
                other,
            )
        finally:
            other.close()
            await client.aclose()

    asyncio.run(main())


def stored(other: redis.Redis, store: EndpointStore, tenant: str, endpoint_id: str) -> str:
    doc = other.hget(store.keys(tenant).webhooks, endpoint_id)
    assert isinstance(doc, str)
    return doc


def test_with_a_key_secrets_and_signing_keys_are_stored_sealed_and_read_opened(
    settings: Settings,
) -> None:
    async def test(store: EndpointStore, tenant: str, other: redis.Redis) -> None:
        ep = await made(store, tenant, headers={"Authorization": "Bearer shop-credential"})
        raw = stored(other, store, tenant, ep.id)
        assert "shop-credential" not in raw  # the endpoint's own headers are sealed too
        assert orjson.loads(raw)["headers"]["Authorization"].startswith(SEALED)
        assert ep.secrets[0].secret.startswith("whsec_")
        assert ep.secrets[0].secret not in raw
        assert ep.signing_keys[0].secret not in raw
        assert "whsec_" not in raw
        assert "whsk_" not in raw
        assert [s["secret"][:7] for s in orjson.loads(raw)["secrets"]] == [SEALED]
        assert await store.get(tenant, ep.id) == ep
        assert await store.all(tenant) == [ep]
        # a change seals what it writes: the rotated-out and the new secret alike
        now = datetime.now(UTC)
        done = await store.update(tenant, ep.id, lambda e: rotated(e, 3600, now))
        assert done is not None
        after = done[1]
        raw = stored(other, store, tenant, ep.id)
        assert all(s.secret not in raw for s in (*after.secrets, *after.signing_keys))
        again = await store.get(tenant, ep.id)
        assert again is not None
        assert again.signing_secrets(now) == after.signing_secrets(now)
        assert ep.secrets[0].secret in again.signing_secrets(now)  # the old one still signs

    sealed_run(settings, test)


def test_endpoints_stored_in_the_clear_are_read_and_sealed_on_request(
    settings: Settings,
) -> None:
    async def test(store: EndpointStore, tenant: str, other: redis.Redis) -> None:
        clear = EndpointStore(store.client, settings.redis_prefix)  # before a key was set
        old = [
            await made(
                clear, tenant, f"https://shop.example/{i}", headers={"X-Api-Key": f"credential-{i}"}
            )
            for i in range(2)
        ]
        assert old[0].secrets[0].secret in stored(other, store, tenant, old[0].id)
        assert "credential-0" in stored(other, store, tenant, old[0].id)
        assert await store.all(tenant) == sorted(old, key=lambda e: (e.created_at, e.id))
        assert await store.seal(tenant) == 2
        for ep in old:
            raw = stored(other, store, tenant, ep.id)
            assert ep.secrets[0].secret not in raw
            assert ep.signing_keys[0].secret not in raw
            assert ep.headers["X-Api-Key"] not in raw
            assert await store.get(tenant, ep.id) == ep
        assert await store.seal(tenant) == 0  # nothing left in the clear

    sealed_run(settings, test)


@pytest.mark.parametrize("key", [None, "another passphrase, not the one they were sealed with"])
def test_sealed_secrets_without_their_key_are_a_clear_error_not_a_wrong_signature(
    settings: Settings, key: str | None
) -> None:
    async def test(store: EndpointStore, tenant: str, other: redis.Redis) -> None:
        ep = await made(store, tenant)
        wrong = EndpointStore(store.client, settings.redis_prefix, SecretBox(key))
        with pytest.raises(SecretKeyMissing, match="GATEWAY_SECRET_KEY"):
            await wrong.get(tenant, ep.id)
        with pytest.raises(SecretKeyMissing, match="GATEWAY_SECRET_KEY"):
            await wrong.seal(tenant)
        assert (await store.get(tenant, ep.id)) == ep  # still there for the right key

    sealed_run(settings, test)


def test_after_a_key_change_secrets_open_with_the_previous_key_until_sealed_again(
    settings: Settings,
) -> None:
    """GATEWAY_SECRET_KEY changed, the old one in GATEWAY_SECRET_KEY_PREVIOUS: what the old key
    sealed still opens; `seal` seals it under the new one, after which the old key can go."""

    async def test(old: EndpointStore, tenant: str, other: redis.Redis) -> None:
        ep = await made(old, tenant)
        new_key = "the new passphrase"
        rotating = EndpointStore(
            old.client, settings.redis_prefix, SecretBox(new_key, previous=[KEY])
        )
        assert await rotating.get(tenant, ep.id) == ep
        assert await rotating.seal(tenant) == 1
        assert await rotating.seal(tenant) == 0  # all under the new key now
        alone = EndpointStore(old.client, settings.redis_prefix, SecretBox(new_key))
        assert await alone.get(tenant, ep.id) == ep
        with pytest.raises(SecretKeyMissing):
            await old.get(tenant, ep.id)  # the old key alone no longer opens them

    sealed_run(settings, test)
