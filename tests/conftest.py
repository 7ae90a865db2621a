"""Shared fixtures: settings built directly (never from the environment), the app, a client."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.tables import Tables

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(_env_file=None)


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
