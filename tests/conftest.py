"""Shared fixtures: settings built directly (never from the environment), the app, a client."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.storage.embedded import EmbeddedRedis
from gateway.tables import Tables
from tests.factories import Tenant, make_tenant

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m <args>` in the project's root (a tool the suite runs), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: GATEWAY_TEST_REDIS_URL, or the embedded server in a temporary data dir."""
    url = os.environ.get("GATEWAY_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def settings(redis_url: str) -> Settings:
    # A prefix of its own per run keeps a shared test Redis clean; every test makes its own
    # tenants, so tests never see each other's orders.
    return Settings(
        _env_file=None,
        redis_url=redis_url,
        redis_prefix=f"test{uuid.uuid4().hex[:8]}",
        auth_cache_seconds=0,
        # the tests' webhook receivers listen on 127.0.0.1 over plain http
        allow_private_webhooks=True,
        allow_insecure_webhooks=True,
    )


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Runtime:
    # Tables and catalogs are immutable; loading them once keeps the suite fast.
    return Runtime.load(settings)


@pytest.fixture(scope="session")
def tables(runtime: Runtime) -> Tables:
    return runtime.tables


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> FastAPI:
    return create_app(settings, runtime)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def spec_expectations() -> dict[str, Any]:
    """Expected results transcribed by hand from shared/spec/canonical-model.md §4."""
    with (DATA / "spec_expectations.toml").open("rb") as f:
        return tomllib.load(f)


@pytest.fixture
def tenant(settings: Settings) -> Tenant:
    """A fresh tenant and its API key."""
    return make_tenant(settings)


@pytest.fixture
def auth(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}
