"""Fixtures and steps shared by the connector tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.factories import Tenant

KEY = SecretStr("a long random passphrase for the tests")
Json = dict[str, Any]


@pytest.fixture
def keyed(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    """The gateway with a GATEWAY_SECRET_KEY, so connector credentials can be stored."""
    with TestClient(create_app(settings.model_copy(update={"secret_key": KEY}), runtime)) as c:
        yield c


def put_connector(client: TestClient, tenant: Tenant, platform: str, body: Json) -> Json:
    response = client.put(f"/v1/connectors/{platform}", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    shown: Json = response.json()
    return shown


def poll(client: TestClient, tenant: Tenant, platform: str) -> Json:
    """`POST …/run` and the connector's health after it."""
    response = client.post(f"/v1/connectors/{platform}/run", headers=tenant.headers)
    assert response.status_code == 200, response.text
    health: Json = response.json()["health"]
    return health


def order(client: TestClient, tenant: Tenant, platform: str, order_id: str) -> Json:
    response = client.get(f"/v1/orders/{platform}/{order_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: Json = response.json()
    return found
