"""`gateway tenant …`: create tenants and manage their keys from the command line."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.cli import main
from gateway.settings import Settings


@pytest.fixture
def gateway(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    monkeypatch.setenv("GATEWAY_REDIS_URL", settings.redis_url or "")
    monkeypatch.setenv("GATEWAY_REDIS_PREFIX", settings.redis_prefix)

    def run(*argv: str, code: int = 0) -> dict[str, Any]:
        assert main(list(argv)) == code
        out, err = capsys.readouterr()
        return json.loads(out) if code == 0 else {"stderr": err}

    return run


def test_create_prints_the_tenant_and_a_working_api_key(gateway: Any, client: TestClient) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    created = gateway("tenant", "create", name)
    assert created["tenant"] == name
    assert created["api_key"].startswith(f"gwk_{name}_")
    answer = client.get("/v1/orders", headers={"Authorization": f"Bearer {created['api_key']}"})
    assert answer.status_code == 200
    assert name in [t["tenant"] for t in gateway("tenant", "list")["tenants"]]


def test_keys_are_listed_by_prefix_only(gateway: Any) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    key = gateway("tenant", "create", name)["api_key"]
    token = gateway("tenant", "ingest-token", name)["ingest_token"]
    listed = gateway("tenant", "keys", name)["keys"]
    assert [k["kind"] for k in listed] == ["gwi", "gwk"]
    text = json.dumps(listed)
    assert key not in text
    assert token not in text
    assert key.startswith(next(k["prefix"] for k in listed if k["kind"] == "gwk"))


def test_revoke_and_rotate_take_effect_at_once(gateway: Any, client: TestClient) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    old = gateway("tenant", "create", name)["api_key"]
    second = gateway("tenant", "add-key", name)["api_key"]
    rotated = gateway("tenant", "rotate", name, old)["api_key"]
    assert client.get("/v1/orders", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    for key in (second, rotated):
        assert (
            client.get("/v1/orders", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        )
    prefix = next(
        k["prefix"]
        for k in gateway("tenant", "keys", name)["keys"]
        if second.startswith(k["prefix"])
    )
    assert gateway("tenant", "revoke", name, prefix)["revoked"]["prefix"] == prefix
    assert (
        client.get("/v1/orders", headers={"Authorization": f"Bearer {second}"}).status_code == 401
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("tenant", "create", "Not A Valid Id"), "cannot be a tenant id"),
        (("tenant", "keys", "no-such-tenant"), "no tenant"),
        (("tenant", "revoke", "no-such-tenant", "gwk_no-such-tenant_abcdef"), "no credential"),
    ],
)
def test_mistakes_are_explained_with_exit_code_2(
    gateway: Any, argv: tuple[str, ...], message: str
) -> None:
    assert message in gateway(*argv, code=2)["stderr"]


def test_creating_an_existing_tenant_is_refused(gateway: Any) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    gateway("tenant", "create", name)
    assert "already exists" in gateway("tenant", "create", name, code=2)["stderr"]
