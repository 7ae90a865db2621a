"""The Recorder's check of event times, on a pinned clock: the one place every ingest path
(events, batches, native payloads, pull connectors) goes through."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.errors import GatewayError, InvalidInput
from gateway.ingest import NativeEvent
from gateway.observability import Metrics
from gateway.recording import FUTURE_TOLERANCE, Recorded, Recorder
from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.orders import OrderStore
from gateway.tables import Tables
from gateway.tracking import OrderState

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EAST_14 = timezone(timedelta(hours=14))


def record(
    settings: Settings,
    tables: Tables,
    events: Sequence[NativeEvent],
    tolerance: timedelta = FUTURE_TOLERANCE,
    metrics: Metrics | None = None,
) -> tuple[list[Recorded | GatewayError], list[OrderState | None]]:
    """Record `events` of cscart for a new tenant at NOW; the results and the stored states."""
    tenant = f"t{uuid.uuid4().hex[:12]}"

    async def run() -> tuple[list[Recorded | GatewayError], list[OrderState | None]]:
        client = client_for(settings.redis_url or "")
        try:
            orders = OrderStore(client, settings.redis_prefix)
            recorder = Recorder(
                tables,
                client,
                orders,
                metrics or Metrics(),
                now=lambda: NOW,
                future_tolerance=tolerance,
            )
            results = await recorder.record(tenant, "cscart", events)
            states = await orders.states(tenant, [("cscart", e.order_id) for e in events])
            return results, states
        finally:
            await client.aclose()

    return asyncio.run(run())


def native(order_id: str, when: datetime | None, where: str = "#/0") -> NativeEvent:
    return NativeEvent(order_id, "P", when, None, where, f"{where}/updated_at")


def test_the_default_tolerance_is_the_settings_default_of_five_minutes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GATEWAY_FUTURE_TOLERANCE_S", raising=False)
    default = Settings(_env_file=None).future_tolerance_s
    assert (default, FUTURE_TOLERANCE) == (300, timedelta(seconds=default))
    monkeypatch.setenv("GATEWAY_FUTURE_TOLERANCE_S", "60")
    assert Settings(_env_file=None).future_tolerance_s == 60


@pytest.mark.parametrize(
    ("when", "tolerance", "refused"),
    [
        (NOW + timedelta(minutes=5), FUTURE_TOLERANCE, False),
        (NOW + timedelta(minutes=5, microseconds=1), FUTURE_TOLERANCE, True),
        (NOW + timedelta(minutes=1), timedelta(0), True),
        (NOW + timedelta(minutes=1), timedelta(minutes=1), False),
        (NOW + timedelta(hours=1), timedelta(hours=2), False),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), timedelta(days=1), True),
        (NOW - timedelta(days=365 * 60), FUTURE_TOLERANCE, False),
        (datetime(1, 1, 1, tzinfo=UTC), FUTURE_TOLERANCE, False),
        (datetime(1, 1, 1, tzinfo=EAST_14), FUTURE_TOLERANCE, True),  # year 0 in UTC
        (None, timedelta(0), False),  # no time of its own: the receipt time
    ],
)
def test_an_event_time_past_the_clock_plus_the_tolerance_is_refused(
    settings: Settings,
    tables: Tables,
    when: datetime | None,
    tolerance: timedelta,
    refused: bool,
) -> None:
    [result], [state] = record(settings, tables, [native("1", when)], tolerance)
    if refused:
        assert isinstance(result, InvalidInput)
        assert (result.http_status, result.where) == (422, "#/0/updated_at")
        assert state is None
    else:
        assert isinstance(result, Recorded)
        assert result.result == "changed"
        assert state is not None


def test_a_refused_event_is_counted_and_logged_and_the_others_are_recorded(
    settings: Settings, tables: Tables, caplog: pytest.LogCaptureFixture
) -> None:
    """What a pull connector relies on: no exception, the error in its place, a trace of it."""
    metrics = Metrics()
    events = [
        native("1", NOW - timedelta(hours=1), "#/0"),
        native("2", NOW + timedelta(days=1), "#/1"),
        native("3", datetime(1, 1, 1, tzinfo=EAST_14), "#/2"),
        NativeEvent("4", "P", NOW + timedelta(days=1), None, "#/3"),  # no pointer of its time
        native("1", NOW, "#/4"),
    ]
    with caplog.at_level(logging.WARNING, logger="gateway.recording"):
        results, states = record(settings, tables, events, metrics=metrics)
    assert [type(r).__name__ for r in results] == [
        "Recorded",
        "InvalidInput",
        "InvalidInput",
        "InvalidInput",
        "Recorded",
    ]
    assert [getattr(r, "where", None) for r in results[1:4]] == [
        "#/1/updated_at",
        "#/2/updated_at",
        "#/3",
    ]
    assert [s is not None for s in states] == [True, False, False, False, True]
    counted = metrics.registry.get_sample_value
    assert counted("gateway_events_total", {"result": "refused"}) == 3
    assert counted("gateway_events_total", {"result": "changed"}) == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "gateway.recording"]
    assert len(logged) == 3
    assert all("refused an event of cscart order" in line for line in logged)
    assert "'2'" in logged[0]
