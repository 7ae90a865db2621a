"""`gateway seal-secrets`: webhook secrets stored before GATEWAY_SECRET_KEY was set get sealed."""

from __future__ import annotations

import asyncio
import json
import uuid

import orjson
import pytest

from gateway.cli import main
from gateway.sealing import SecretBox
from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.keys import TenantKeys
from gateway.storage.tenants import TenantStore
from webhooks.endpoints import Endpoint, EndpointStore, Filter

KEY = "the operator's new passphrase"


def stored_in_the_clear(settings: Settings, prefix: str) -> tuple[str, Endpoint]:
    """A tenant with an endpoint, written by a gateway without a key, under its own prefix
    (sealing walks every tenant of a prefix: the other tests' stay as they are)."""

    async def run() -> tuple[str, Endpoint]:
        client = client_for(settings.redis_url or "")
        try:
            tenant, _ = await TenantStore(client, prefix).create("shop")
            endpoint = await EndpointStore(client, prefix).create(
                tenant, url="https://shop.example/h", lang="en", filter=Filter(), description=None
            )
            return tenant, endpoint
        finally:
            await client.aclose()

    return asyncio.run(run())


def raw(settings: Settings, prefix: str, tenant: str, endpoint_id: str) -> str:
    async def run() -> str:
        client = client_for(settings.redis_url or "")
        try:
            doc = await client.hget(
                EndpointStore(client, prefix).keys(tenant).webhooks, endpoint_id
            )
        finally:
            await client.aclose()
        assert isinstance(doc, str)
        return doc

    return asyncio.run(run())


def test_seal_secrets_seals_what_was_stored_in_the_clear_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"seal{uuid.uuid4().hex[:8]}"
    tenant, endpoint = stored_in_the_clear(settings, prefix)
    monkeypatch.setenv("GATEWAY_REDIS_URL", settings.redis_url or "")
    monkeypatch.setenv("GATEWAY_REDIS_PREFIX", prefix)
    monkeypatch.delenv("GATEWAY_SECRET_KEY", raising=False)
    monkeypatch.delenv("GATEWAY_SECRET_KEY_PREVIOUS", raising=False)

    assert main(["seal-secrets"]) == 2  # no key: nothing to seal with
    assert "GATEWAY_SECRET_KEY" in capsys.readouterr().err
    assert endpoint.secrets[0].secret in raw(settings, prefix, tenant, endpoint.id)

    monkeypatch.setenv("GATEWAY_SECRET_KEY", KEY)
    assert main(["seal-secrets"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "endpoints_sealed": 1,
        "connectors_resealed": 0,
        "by_tenant": {tenant: {"endpoints": 1, "connectors": 0}},
    }
    doc = raw(settings, prefix, tenant, endpoint.id)
    assert endpoint.secrets[0].secret not in doc
    assert endpoint.signing_keys[0].secret not in doc
    assert main(["seal-secrets"]) == 0
    assert json.loads(capsys.readouterr().out)["endpoints_sealed"] == 0

    monkeypatch.setenv("GATEWAY_SECRET_KEY", "not the key they were sealed with")
    assert main(["seal-secrets"]) == 2
    assert "do not open with GATEWAY_SECRET_KEY" in capsys.readouterr().err


def test_after_a_key_change_seal_secrets_moves_everything_to_the_new_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The endpoints' secrets and the connectors' credentials sealed under the old key are
    sealed again under the new one; then the old key can be dropped."""
    prefix = f"seal{uuid.uuid4().hex[:8]}"
    tenant, endpoint = stored_in_the_clear(settings, prefix)
    keys = TenantKeys(prefix, tenant)
    monkeypatch.setenv("GATEWAY_REDIS_URL", settings.redis_url or "")
    monkeypatch.setenv("GATEWAY_REDIS_PREFIX", prefix)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", KEY)
    monkeypatch.delenv("GATEWAY_SECRET_KEY_PREVIOUS", raising=False)
    assert main(["seal-secrets"]) == 0  # sealed under KEY
    capsys.readouterr()
    credentials = {"password": "hunter2"}
    connector = {
        "options": {"store_url": "https://shop.example"},
        "sealed": SecretBox(KEY).seal(credentials),
    }
    asyncio.run(hset(settings, keys.connectors, "cscart", orjson.dumps(connector).decode()))

    monkeypatch.setenv("GATEWAY_SECRET_KEY", "the new one")
    monkeypatch.setenv("GATEWAY_SECRET_KEY_PREVIOUS", KEY)
    assert main(["seal-secrets"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "endpoints_sealed": 1,
        "connectors_resealed": 1,
        "by_tenant": {tenant: {"endpoints": 1, "connectors": 1}},
    }
    new_only = SecretBox("the new one")
    stored = orjson.loads(asyncio.run(hget(settings, keys.connectors, "cscart")))
    assert new_only.open(stored["sealed"]) == credentials
    assert stored["options"] == connector["options"]

    monkeypatch.delenv("GATEWAY_SECRET_KEY_PREVIOUS")
    assert main(["seal-secrets"]) == 0  # the new key alone opens everything: nothing to do
    assert json.loads(capsys.readouterr().out)["by_tenant"] == {
        tenant: {"endpoints": 0, "connectors": 0}
    }
    assert endpoint.secrets[0].secret not in raw(settings, prefix, tenant, endpoint.id)


async def hset(settings: Settings, key: str, field: str, value: str) -> None:
    client = client_for(settings.redis_url or "")
    try:
        await client.hset(key, field, value)
    finally:
        await client.aclose()


async def hget(settings: Settings, key: str, field: str) -> str:
    client = client_for(settings.redis_url or "")
    try:
        value = await client.hget(key, field)
    finally:
        await client.aclose()
    assert isinstance(value, str)
    return value
