"""The collector's settings a gateway process takes once it has loaded what it keeps."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway import heap
from gateway.app import create_app
from gateway.settings import Settings


@pytest.fixture
def default_collector() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("default_collector")
def test_settle_freezes_what_is_loaded_and_raises_the_thresholds() -> None:
    assert gc.get_freeze_count() == 0
    heap.settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (heap.YOUNG, heap.MIDDLE, heap.OLD)
    assert heap.YOUNG > 700  # the point: the young generation is collected less often


@pytest.mark.usefixtures("default_collector")
def test_the_api_settles_its_heap_once_it_has_started(settings: Settings) -> None:
    with TestClient(create_app(settings)):
        assert gc.get_threshold() == (heap.YOUNG, heap.MIDDLE, heap.OLD)
        assert gc.get_freeze_count() > 0
