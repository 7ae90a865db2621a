"""FBO times at the edges of the dates a datetime holds: a 422 problem at the field, never a 500,
and nothing stored for a shipment refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.factories import Tenant, assert_problem, pointers

MOSCOW = ZoneInfo("Europe/Moscow")
EDGES = [
    "9999-12-31T23:59:59Z",  # year 10000 in Moscow
    "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
    "9999-12-30T12:00:00Z",  # no shipment day left to make
    "0001-01-01T00:00:00Z",  # its create deadline (D-4) would be in year 0
    "0001-01-01T00:00:00+14:00",  # year 0 in UTC
]


def shipment_day() -> str:
    """A Friday at least a week from today in Moscow (the API refuses a past shipment day)."""
    start = datetime.now(MOSCOW).date() + timedelta(days=7)
    return (start + timedelta(days=(4 - start.weekday()) % 7)).isoformat()


@pytest.mark.parametrize("created_at", EDGES)
@pytest.mark.parametrize("zone", ["Europe/Moscow", "America/New_York"])
def test_a_schedule_with_a_creation_time_at_the_edges_is_a_422_problem(
    client: TestClient, created_at: str, zone: str
) -> None:
    body = {"shipment_date": shipment_day(), "created_at": created_at, "timezone": zone}
    problem = assert_problem(client.post("/v1/fbo/schedule", json=body), 422)
    assert problem["type"] == "/problems/invalid-input"
    assert pointers(problem) == ["#/created_at"]


@pytest.mark.parametrize("created_at", EDGES)
def test_a_shipment_with_a_creation_time_at_the_edges_is_refused_and_not_stored(
    client: TestClient, tenant: Tenant, created_at: str
) -> None:
    body: dict[str, Any] = {
        "order_id": "FBO-1",
        "shipment_date": shipment_day(),
        "created_at": created_at,
    }
    response = client.post("/v1/fbo/shipments", json=body, headers=tenant.headers)
    problem = assert_problem(response, 422)
    assert pointers(problem) == ["#/created_at"]
    listed = client.get("/v1/fbo/shipments", headers=tenant.headers)
    assert listed.json()["shipments"] == []
    # the order is free: registering it with a real creation time works
    body["created_at"] = datetime.now(MOSCOW).isoformat()
    assert client.post("/v1/fbo/shipments", json=body, headers=tenant.headers).status_code == 201


@pytest.mark.parametrize("zone", ["Europe/Moscow", "Etc/GMT+12", "Etc/GMT-14"])
def test_the_last_shipment_day_a_datetime_holds_still_has_a_timetable(
    client: TestClient, zone: str
) -> None:
    body = {"shipment_date": date.max.isoformat(), "timezone": zone}
    response = client.post("/v1/fbo/schedule", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["steps"][-1]["deadline"].startswith("9999-12-31T09:30:00")
