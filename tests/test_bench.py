"""The benchmark scripts' own options and load: they are run by hand, so nothing else would
notice when a default stops parsing (`bench/delivery.py --quick` once refused its own 400 orders).
No timing here: the scripts measure; these tests only parse and build."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import orjson
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def bench_module(name: str) -> ModuleType:
    """`bench/<name>.py` as a module (it imports `benchlib` from its own folder)."""
    qualified = f"bench_{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(qualified, BENCH / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize(
    ("script", "argv"),
    [
        ("delivery", []),
        ("delivery", ["--quick"]),
        ("events", []),
        ("translate", []),
        ("translate", ["--quick"]),
    ],
)
def test_every_script_parses_its_default_and_quick_runs(script: str, argv: list[str]) -> None:
    plan = bench_module(script).parse_args(argv)
    assert plan is not None


@pytest.mark.parametrize(
    ("argv", "posters", "orders"),
    [
        (["--quick"], 1, 400),
        (["--posters", "2"], 2, 2_000),
        (["--quick", "--posters", "1", "--orders", "100"], 1, 100),
    ],
)
def test_delivery_plans(argv: list[str], posters: int, orders: int) -> None:
    plan = bench_module("delivery").parse_args(argv)
    assert (plan.posters, plan.orders) == (posters, orders)


@pytest.mark.parametrize(
    "argv",
    [["--posters", "0"], ["--posters", "17"], ["--posters", "2", "--orders", "999"]],
)
def test_delivery_refuses_posters_that_would_share_orders(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_module("delivery").parse_args(argv)
    assert exit_.value.code == 2


def test_delivery_batches_hold_every_event_once_in_order() -> None:
    delivery = bench_module("delivery")
    events = delivery.rounds("t", 1_234, 300)
    bodies = delivery.batches(events)
    decoded = [orjson.loads(body)["events"] for body in bodies]
    assert [len(batch) for batch in decoded] == [500, 500, 234]
    assert [event for batch in decoded for event in batch] == events


def test_delivery_judges_several_runs_by_their_medians() -> None:
    delivery = bench_module("delivery")
    runs = [
        delivery.Figures(9_000.0, r, p99) for r, p99 in ((0.48, 20.0), (0.55, 30.0), (0.52, 25.0))
    ]
    text = "\n".join(delivery.over_runs(runs, 500))
    assert "Over 3 runs" in text
    assert "median 0.520 (0.48 0.52 0.55)" in text
    assert "median 9,000 events/s" in text
    assert "latency at 500/s" in text
    assert "worst p99 30.0 ms" in text
    assert text.count("PASS") == 3


def test_delivery_on_one_core_prints_the_ratio_without_a_verdict() -> None:
    delivery = bench_module("delivery")
    runs = [delivery.Figures(9_000.0, r, 20.0) for r in (0.38, 0.40, 0.41)]
    lines = delivery.over_runs(runs, 500, pinned=True)
    (ratio,) = [line for line in lines if "ratio gateway/bare" in line]
    assert "median 0.400" in ratio
    assert ratio.endswith("one core: no target")
    assert "\n".join(lines).count("PASS") == 2


@pytest.mark.parametrize(
    ("argv", "runs", "pin"),
    [([], 3, False), (["--quick"], 1, False), (["--runs", "5"], 5, False), (["--pin"], 3, True)],
)
def test_delivery_judges_three_unpinned_runs_by_default(
    argv: list[str], runs: int, pin: bool
) -> None:
    delivery = bench_module("delivery")
    if pin and not delivery.pinning_possible():
        pytest.skip("taskset or cores 0 and 1 are missing here")
    plan = delivery.parse_args(argv)
    assert (plan.runs, plan.pin) == (runs, pin)


@pytest.mark.parametrize("runs", ["0", "21"])
def test_delivery_refuses_runs_out_of_range(runs: str) -> None:
    with pytest.raises(SystemExit):
        bench_module("delivery").parse_args(["--runs", runs])
