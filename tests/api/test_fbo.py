"""POST /v1/fbo/schedule and /v1/fbo/shipments over HTTP: localized timetable, bad input as
problems, tracked shipments and their steps. Dates are chosen relative to today (the API refuses
a shipment day in the past); the fixed-date rules are tested in tests/fbo."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_skeleton
from fastapi.testclient import TestClient

from tests.factories import Tenant, assert_problem

Json = dict[str, Any]
MOSCOW = ZoneInfo("Europe/Moscow")


def next_weekday(weekday: int, after_days: int = 7) -> date:
    """The first `weekday` (Monday 0) at least `after_days` days from today in Moscow."""
    start = datetime.now(MOSCOW).date() + timedelta(days=after_days)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def schedule(client: TestClient, **body: Any) -> Json:
    response = client.post("/v1/fbo/schedule", json=body)
    assert response.status_code == 200, response.text
    answer: Json = response.json()
    return answer


def test_a_friday_shipment_gets_the_seeds_timetable(client: TestClient) -> None:
    friday = next_weekday(4)
    answer = schedule(client, shipment_date=friday.isoformat(), units=120, lang="ru")
    monday, thursday = friday - timedelta(days=4), friday - timedelta(days=1)
    assert [(s["step"], s["deadline"], s["actor"]) for s in answer["steps"]] == [
        ("create", f"{monday}T23:59:59+03:00", "merchant"),
        ("packed", f"{thursday}T11:00:00+03:00", "warehouse"),
        ("labels", f"{thursday}T14:00:00+03:00", "merchant"),
        ("pass_info", f"{thursday}T20:00:00+03:00", "warehouse"),
        ("pass_ordered", f"{friday}T09:30:00+03:00", "merchant"),
    ]
    day = format_skeleton("MMMMd", thursday, locale="ru")
    assert answer["steps"][2]["message"].endswith(f"до 14:00 четверга, {day}")
    assert answer["steps"][0]["message"].endswith(
        "до конца понедельника, " + format_skeleton("MMMMd", monday, locale="ru")
    )
    assert {s["status"] for s in answer["steps"]} == {"pending"}
    assert answer["warnings"] == []
    assert answer["lang"] == "ru"


@pytest.mark.parametrize(
    ("lang", "header", "phrase"),
    [
        ("ru", None, "до 14:00 четверга"),
        ("en", None, "by 2:00\u202fPM on Thursday"),  # CLDR: narrow no-break space
        ("fr", None, "avant 14:00 le jeudi"),
        ("el", None, "έως τις 2:00\u202fμ.μ. της Πέμπτης"),
        (None, "el-GR,el;q=0.9", "έως τις 2:00\u202fμ.μ. της Πέμπτης"),
    ],
)
def test_each_step_has_a_sentence_in_the_chosen_language(
    client: TestClient, lang: str | None, header: str | None, phrase: str
) -> None:
    body: Json = {"shipment_date": next_weekday(4).isoformat()}
    if lang:
        body["lang"] = lang
    headers = {"Accept-Language": header} if header else {}
    response = client.post("/v1/fbo/schedule", json=body, headers=headers)
    labels = response.json()["steps"][2]
    assert phrase in labels["message"]
    assert response.headers["content-language"] == (lang or "el")


@pytest.mark.parametrize(
    ("units", "flags", "codes"),
    [
        (1000, [], []),
        (1001, [], ["individual_agreement"]),
        (10, ["fragile"], ["individual_agreement"]),
        (10, ["oversized", "special_packing"], ["individual_agreement"]),
        (10, ["delivery_by_kak2c"], ["delivery_by_kak2c_ticket"]),
    ],
)
def test_warnings(client: TestClient, units: int, flags: list[str], codes: list[str]) -> None:
    answer = schedule(
        client, shipment_date=next_weekday(2).isoformat(), units=units, flags=flags, lang="fr"
    )
    assert [w["code"] for w in answer["warnings"]] == codes
    assert all(w["message"] for w in answer["warnings"])


def test_creation_after_the_cut_off_moves_the_earliest_date(client: TestClient) -> None:
    friday = next_weekday(4)
    tuesday = friday - timedelta(days=3)
    created = datetime.combine(tuesday, datetime.min.time(), MOSCOW).replace(hour=10)
    answer = schedule(client, shipment_date=friday.isoformat(), created_at=created.isoformat())
    assert answer["created_in_time"] is False
    assert answer["earliest_shipment_date"] == (friday + timedelta(days=1)).isoformat()
    assert answer["steps"][0]["late"] is True
    assert "late" in [w["code"] for w in answer["warnings"]]


@pytest.mark.parametrize(
    ("body", "pointer", "kind"),
    [
        ({"shipment_date": "2026-02-30"}, "#/shipment_date", "/problems/validation-error"),
        ({"shipment_date": "next friday"}, "#/shipment_date", "/problems/validation-error"),
        ({"shipment_date": "2020-01-10"}, "#/shipment_date", "/problems/invalid-input"),
        ({"timezone": "Mars/Olympus"}, "#/timezone", "/problems/invalid-input"),
        ({"timezone": "../../etc/passwd"}, "#/timezone", "/problems/invalid-input"),
        ({"units": -1}, "#/units", "/problems/validation-error"),
        ({"flags": ["heavy"]}, "#/flags/0", "/problems/validation-error"),
        ({"mode": "lunar"}, "#/mode", "/problems/validation-error"),
        ({"lang": "de"}, "#/lang", "/problems/unsupported-language"),
        ({"created_at": "2026-11-23T10:00:00"}, "#/created_at", "/problems/validation-error"),
        ({"done": {"launch": "2026-11-23T10:00:00Z"}}, "#/done/launch", "/problems/invalid-input"),
    ],
)
def test_bad_input_is_a_422_problem_pointing_at_the_field(
    client: TestClient, body: Json, pointer: str, kind: str
) -> None:
    full = {"shipment_date": next_weekday(4).isoformat(), **body}
    problem = assert_problem(client.post("/v1/fbo/schedule", json=full), 422)
    assert problem["type"] == kind
    pointers = [problem.get("pointer"), *(e.get("pointer") for e in problem.get("errors", []))]
    assert pointer in pointers


def test_business_mode_refuses_a_day_off(client: TestClient) -> None:
    sunday = next_weekday(6)
    response = client.post(
        "/v1/fbo/schedule", json={"shipment_date": sunday.isoformat(), "mode": "business"}
    )
    assert assert_problem(response, 422)["pointer"] == "#/shipment_date"


def test_a_zone_west_of_utc_keeps_the_wall_clock_times(client: TestClient) -> None:
    friday = next_weekday(4)
    answer = schedule(client, shipment_date=friday.isoformat(), timezone="America/New_York")
    assert answer["steps"][4]["deadline"].startswith(f"{friday}T09:30:00-0")


# ---- tracked shipments ----


def register(client: TestClient, tenant: Tenant, **body: Any) -> Json:
    full = {"order_id": "FBO-1", "shipment_date": next_weekday(4).isoformat(), **body}
    response = client.post("/v1/fbo/shipments", json=full, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


def test_a_registered_shipment_shows_its_live_timetable(client: TestClient, tenant: Tenant) -> None:
    created = register(client, tenant, units=50)
    assert created["id"].startswith("fbo_")
    assert (created["order_id"], created["platform"]) == ("FBO-1", "kak2c")
    again = client.get(f"/v1/fbo/shipments/{created['id']}?lang=fr", headers=tenant.headers)
    assert again.json()["steps"][1]["message"].startswith("Le statut de la commande")
    listed = client.get("/v1/fbo/shipments", headers=tenant.headers).json()["shipments"]
    assert [s["id"] for s in listed] == [created["id"]]


def test_marking_a_step_done(client: TestClient, tenant: Tenant) -> None:
    created = register(client, tenant)
    at = datetime.now(UTC).replace(microsecond=0)
    answer = client.post(
        f"/v1/fbo/shipments/{created['id']}/steps/labels",
        json={"at": at.isoformat()},
        headers=tenant.headers,
    ).json()
    labels = next(s for s in answer["steps"] if s["step"] == "labels")
    assert (labels["status"], labels["late"]) == ("done", False)
    assert datetime.fromisoformat(labels["done_at"]) == at
    unknown = client.post(f"/v1/fbo/shipments/{created['id']}/steps/launch", headers=tenant.headers)
    assert assert_problem(unknown, 404)["parameter"] == "step"


@pytest.mark.parametrize(
    ("ahead", "words"),
    [
        (timedelta(days=365), "later than the gateway's clock"),
        (timedelta(minutes=6), "300 s of tolerance"),
    ],
)
def test_a_step_dated_ahead_of_the_clock_is_refused_and_nothing_is_stored(
    client: TestClient, tenant: Tenant, ahead: timedelta, words: str
) -> None:
    created = register(client, tenant)
    path = f"/v1/fbo/shipments/{created['id']}"
    at = datetime.now(UTC) + ahead
    refused = client.post(
        f"{path}/steps/labels", json={"at": at.isoformat()}, headers=tenant.headers
    )
    problem = assert_problem(refused, 422)
    assert problem["pointer"] == "#/at"
    assert words in problem["detail"]
    assert "the step's time" in problem["detail"]
    labels = next(
        s for s in client.get(path, headers=tenant.headers).json()["steps"] if s["step"] == "labels"
    )
    assert labels["status"] != "done"
    assert labels.get("done_at") is None
    skew = datetime.now(UTC) + timedelta(minutes=4)  # within the clock-skew tolerance
    answer = client.post(
        f"{path}/steps/labels", json={"at": skew.isoformat()}, headers=tenant.headers
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "created_at",
    ["2100-01-01T00:00:00+00:00", "0001-01-01T00:00:00+14:00"],
)
def test_a_shipment_created_ahead_of_the_clock_or_out_of_range_is_refused(
    client: TestClient, tenant: Tenant, created_at: str
) -> None:
    body = {
        "order_id": "FBO-7",
        "shipment_date": next_weekday(4).isoformat(),
        "created_at": created_at,
    }
    problem = assert_problem(
        client.post("/v1/fbo/shipments", json=body, headers=tenant.headers), 422
    )
    assert problem["pointer"] == "#/created_at"
    assert "created_at" in problem["detail"]
    assert client.get("/v1/fbo/shipments", headers=tenant.headers).json()["shipments"] == []


def test_one_shipment_per_order_and_deletion(client: TestClient, tenant: Tenant) -> None:
    created = register(client, tenant)
    twice = client.post(
        "/v1/fbo/shipments",
        json={"order_id": "FBO-1", "shipment_date": next_weekday(4).isoformat()},
        headers=tenant.headers,
    )
    assert assert_problem(twice, 409)["pointer"] == "#/order_id"
    path = f"/v1/fbo/shipments/{created['id']}"
    assert client.delete(path, headers=tenant.headers).status_code == 204
    assert_problem(client.get(path, headers=tenant.headers), 404)
    register(client, tenant)  # the order can be registered again
