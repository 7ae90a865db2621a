"""`@value`: frozen to mypy, a plain slotted dataclass at run time, equal and hashable by fields."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path

import pytest

from gateway.ingest import NativeEvent
from gateway.recording import Recorded
from gateway.storage.orders import Commit, Committed
from gateway.tracking import Current, Observation, OrderState, Outcome
from gateway.translate import NativeRef, Translation, Where
from gateway.values import value
from tests.conftest import run_module
from webhooks.client import Response
from webhooks.queue import Claimed, Finished, Head, Routed, Settled
from webhooks.sender import Attempt


@value
class Point:
    x: int
    y: int = 0
    norm: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", abs(self.x) + abs(self.y))


def test_equal_and_hashable_by_fields() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(2, 1)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert {Point(1, 2), Point(1, 2), Point(3)} == {Point(1, 2), Point(3)}


def test_defaults_and_derived_fields() -> None:
    point = Point(-3)
    assert (point.x, point.y, point.norm) == (-3, 0, 3)
    assert repr(point) == "Point(x=-3, y=0)"


def test_slotted() -> None:
    assert not hasattr(Point(1), "__dict__")
    with pytest.raises(AttributeError):
        Point(1).z = 1  # type: ignore[attr-defined]


HOT = [
    NativeEvent,
    Where,
    NativeRef,
    Translation,
    Observation,
    Current,
    OrderState,
    Outcome,
    Commit,
    Committed,
    Recorded,
    Routed,
    Claimed,
    Head,
    Settled,
    Finished,
    Attempt,
    Response,
]


@pytest.mark.parametrize("cls", HOT, ids=lambda c: c.__name__)
def test_hot_path_values_are_values(cls: type) -> None:
    """The values made for every event skip the frozen `__init__` (see `gateway.values`)."""
    assert "__slots__" in vars(cls)
    assert cls.__hash__ is not None
    assert not cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_mypy_refuses_assigning_a_field(tmp_path: Path) -> None:
    module = tmp_path / "assign.py"
    module.write_text(
        "from gateway.values import value\n\n\n"
        "@value\nclass P:\n    x: int\n\n\n"
        "p = P(1)\np.x = 2\n",
        encoding="utf-8",
    )
    result = run_module("mypy", "--strict", "--no-incremental", str(module))
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'Property "x" defined in "P" is read-only' in result.stdout
