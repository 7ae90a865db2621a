"""POST /v1/ingest/{platform}: the sample payloads end to end, auth, refusals, no secret leaks."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.observability import JsonFormatter
from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.keys import TenantKeys
from tests.factories import PAYLOADS, Tenant, assert_problem, make_tenant, pointers, revoke

Json = dict[str, Any]
BAD = PAYLOADS / "bad"
XML = {"content-type": "application/xml"}
JSON = {"content-type": "application/json"}
MEASOFT_HISTORY = [
    ("NEW", "2024-05-13T07:15:02Z"),
    ("DELIVERY", "2024-05-14T06:40:05Z"),
    ("COURIERDELIVERED", "2024-05-14T15:02:13Z"),
]


def sample(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def ingest(
    client: TestClient,
    tenant: Tenant,
    platform: str,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> Json:
    content_type = XML if platform in ("measoft", "courier") else JSON
    response = client.post(
        f"/v1/ingest/{platform}",
        content=body,
        headers={**tenant.headers, **content_type, **(headers or {})},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer: Json = response.json()
    assert answer["success"] is True
    return answer


def order(client: TestClient, tenant: Tenant, platform: str, order_id: str) -> Json:
    response = client.get(f"/v1/orders/{platform}/{order_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: Json = response.json()
    return found


def history(found: Json) -> list[tuple[str, str]]:
    return [(e["native"]["code"], e["occurred_at"]) for e in found["timeline"]]


def stored_text(settings: Settings, tenant: Tenant) -> str:
    """Everything Redis holds for the tenant, as one string to search."""

    async def run() -> str:
        client = client_for(settings.redis_url or "")
        found: list[Any] = []
        try:
            pattern = TenantKeys(settings.redis_prefix, tenant.tenant).base + ":*"
            async for key in client.scan_iter(match=pattern):
                kind = await client.type(key)
                if kind == "hash":
                    found.append(await client.hgetall(key))
                elif kind == "list":
                    found.append(await client.lrange(key, 0, -1))
                elif kind == "set":
                    found.append(sorted(await client.smembers(key)))
                elif kind == "zset":
                    found.append(await client.zrange(key, 0, -1))
                elif kind == "stream":
                    found.append(await client.xrange(key))
                else:
                    found.append(await client.get(key))
        finally:
            await client.aclose()
        return repr(found)

    return asyncio.run(run())


# ---- the sample payloads ----


def test_a_measoft_status_answer_records_the_history_in_event_time_order(
    client: TestClient, tenant: Tenant
) -> None:
    answer = ingest(client, tenant, "measoft", sample("measoft_statusreq.xml"))
    assert (answer["platform"], answer["orders"], answer["events"]) == ("measoft", 1, 3)
    assert (answer["changed"], answer["duplicates"]) == (3, 0)
    assert [(r["order_id"], r["result"], r["sequence"]) for r in answer["results"]] == [
        ("SHOP-10482", "changed", 1),
        ("SHOP-10482", "changed", 2),
        ("SHOP-10482", "changed", 3),
    ]
    assert [r["current"] for r in answer["results"]] == ["packed", "out_for_delivery", "delivered"]
    found = order(client, tenant, "measoft", "SHOP-10482")
    assert history(found) == MEASOFT_HISTORY
    assert [e["n"] for e in found["timeline"]] == [1, 2, 3]
    assert found["current"]["code"] == "delivered"
    assert found["current"]["provisional"] is True
    assert {e["time_source"] for e in found["timeline"]} == {"source"}


def test_a_measoft_history_listed_out_of_order_is_recorded_in_event_time_order(
    client: TestClient, tenant: Tenant
) -> None:
    def status(code: str, gmt: str) -> str:
        return f'<status createtimegmt="{gmt}">{code}</status>'

    body = (
        '<statusreq count="2">'
        '<order orderno="A-1"><statushistory>'
        + status("COMPLETE", "2024-05-15 09:00:00")
        + status("DELIVERY", "2024-05-14 06:40:05")
        + status("COURIERDELIVERED", "2024-05-14 15:02:13")
        + status("NEW", "2024-05-13 07:15:02")
        + "</statushistory></order>"
        '<order orderno="A-2">' + status("NEW", "2024-05-13 07:15:02") + "</order>"
        "</statusreq>"
    ).encode()
    answer = ingest(client, tenant, "measoft", body)
    assert (answer["orders"], answer["events"], answer["changed"]) == (2, 5, 5)
    found = order(client, tenant, "measoft", "A-1")
    assert [code for code, _ in history(found)] == [
        "NEW",
        "DELIVERY",
        "COURIERDELIVERED",
        "COMPLETE",
    ]
    assert not any(e["late"] for e in found["timeline"])
    assert found["timeline"][3]["supersedes"] == 3
    assert found["timeline"][2]["superseded_by"] == 4
    assert (found["current"]["code"], found["current"]["provisional"]) == ("delivered", False)
    assert order(client, tenant, "measoft", "A-2")["current"]["code"] == "packed"


def test_the_same_measoft_payload_twice_is_all_duplicates_the_second_time(
    client: TestClient, tenant: Tenant
) -> None:
    ingest(client, tenant, "measoft", sample("measoft_statusreq.xml"))
    again = ingest(client, tenant, "measoft", sample("measoft_statusreq.xml"))
    assert (again["events"], again["changed"], again["duplicates"]) == (3, 0, 3)
    assert {r["result"] for r in again["results"]} == {"duplicate"}
    assert {r["sequence"] for r in again["results"]} == {3}
    # The webhook of the same statuses, by the courier alias, adds nothing either.
    webhook = ingest(client, tenant, "courier", sample("measoft_webhook.xml"))
    assert (webhook["platform"], webhook["duplicates"], webhook["changed"]) == ("measoft", 3, 0)
    found = order(client, tenant, "measoft", "SHOP-10482")
    assert len(found["timeline"]) == 3
    assert found["sequence"] == 3


def test_a_measoft_webhook_records_its_statuses(client: TestClient, tenant: Tenant) -> None:
    answer = ingest(client, tenant, "courier", sample("measoft_webhook.xml"))
    assert (answer["platform"], answer["events"], answer["changed"]) == ("measoft", 3, 3)
    assert history(order(client, tenant, "measoft", "SHOP-10482")) == MEASOFT_HISTORY


def test_a_measoft_webhook_with_only_webhook_statuses_reads_moscow_time(
    client: TestClient, tenant: Tenant
) -> None:
    answer = ingest(client, tenant, "measoft", sample("measoft_webhook_only.xml"))
    assert (answer["events"], answer["changed"]) == (2, 2)
    assert history(order(client, tenant, "measoft", "SHOP-10482")) == [
        ("DELIVERY", "2024-05-14T06:40:05Z"),
        ("COURIERDELIVERED", "2024-05-14T15:02:13Z"),
    ]


def test_an_empty_measoft_status_answer_records_nothing(client: TestClient, tenant: Tenant) -> None:
    answer = ingest(client, tenant, "measoft", sample("measoft_statusreq_empty.xml"))
    assert (answer["orders"], answer["events"], answer["results"]) == (0, 0, [])
    assert client.get("/v1/orders", headers=tenant.headers).json()["orders"] == []


def test_a_measoft_error_answer_is_refused(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        "/v1/ingest/measoft",
        content=sample("measoft_statusreq_error.xml"),
        headers={**tenant.headers, **XML},
    )
    problem = assert_problem(response, 422)
    assert problem["type"] == "/problems/invalid-payload"
    assert problem["measoft_error"] == "25"
    assert problem["pointer"] == "#/statusreq/@error"


def test_a_cloudcart_order_array(client: TestClient, tenant: Tenant) -> None:
    answer = ingest(client, tenant, "cloudcart", sample("cloudcart_order_updated.json"))
    assert (answer["platform"], answer["events"], answer["changed"]) == ("cloudcart", 1, 1)
    assert answer["results"][0]["order_id"] == "1042"
    found = order(client, tenant, "cloudcart", "1042")
    assert (found["current"]["code"], found["current"]["payment"]) == ("confirmed", "paid")
    assert found["occurred_at"] == "2024-05-14T09:40:03Z"
    native = found["native"]
    assert (native["code"], native["payment"]["code"], native["fulfillment"]["code"]) == (
        "paid",
        "completed",
        "not_fulfilled",
    )


def test_a_cscart_order(client: TestClient, tenant: Tenant) -> None:
    answer = ingest(client, tenant, "cscart", sample("cscart_order.json"))
    assert (answer["events"], answer["changed"]) == (1, 1)
    found = order(client, tenant, "cscart", "1207")
    assert found["current"]["code"] == "completed"
    assert found["occurred_at"] == "2024-05-14T15:20:00Z"  # updated_at 1715700000
    assert found["timeline"][0]["time_source"] == "source"


def test_a_cscart_order_list(client: TestClient, tenant: Tenant) -> None:
    answer = ingest(client, tenant, "cscart", sample("cscart_orders_list.json"))
    assert (answer["events"], answer["changed"]) == (1, 1)
    found = order(client, tenant, "cscart", "1207")
    assert found["current"]["code"] == "confirmed"
    # The list has no updated_at: the receipt time stands in, so a repeat is no duplicate.
    entry = found["timeline"][0]
    assert entry["time_source"] == "received"
    assert entry["occurred_at"] == entry["received_at"]


def test_kak2c_events_with_and_without_the_order_info_prefix(
    client: TestClient, tenant: Tenant
) -> None:
    listed = ingest(client, tenant, "kak2c", sample("kak2c_events.json"))
    assert (listed["events"], listed["changed"]) == (2, 2)
    assert [r["current"] for r in listed["results"]] == ["confirmed", "packed"]
    # The same status at the same time, with the prefix and another event id: a duplicate.
    single = ingest(client, tenant, "kak2c", sample("kak2c_event.json"))
    assert (single["events"], single["duplicates"]) == (1, 1)
    found = order(client, tenant, "kak2c", "K-1001")
    assert [(e["canonical"]["code"], e["event_id"]) for e in found["timeline"]] == [
        ("confirmed", "evt-7f39"),
        ("packed", None),
    ]
    assert found["sequence"] == 2


def test_a_kak2c_event_alone(client: TestClient, tenant: Tenant) -> None:
    answer = ingest(client, tenant, "kak2c", sample("kak2c_event.json"))
    assert (answer["events"], answer["changed"]) == (1, 1)
    found = order(client, tenant, "kak2c", "K-1001")
    assert (found["current"]["code"], found["timeline"][0]["event_id"]) == ("packed", "evt-7f3a")


# ---- who may post ----


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "how",
    ["bearer-api-key", "bearer-ingest-token", "x-gateway-token", "query-token", "basic-password"],
)
def test_an_ingest_call_authenticates_by_key_or_ingest_token(
    client: TestClient, tenant: Tenant, how: str
) -> None:
    headers = {"content-type": "application/json"}
    path = "/v1/ingest/kak2c"
    if how == "bearer-api-key":
        headers["Authorization"] = f"Bearer {tenant.api_key}"
    elif how == "bearer-ingest-token":
        headers["Authorization"] = f"Bearer {tenant.ingest_token}"
    elif how == "x-gateway-token":
        headers["X-Gateway-Token"] = tenant.ingest_token
    elif how == "query-token":
        path += f"?token={tenant.ingest_token}"
    else:
        headers["Authorization"] = _basic("measoft", tenant.ingest_token)
    response = client.post(path, content=sample("kak2c_event.json"), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["changed"] == 1
    assert order(client, tenant, "kak2c", "K-1001")["current"]["code"] == "packed"


@pytest.mark.parametrize(
    "how",
    [
        "nothing",
        "api-key-in-query",
        "api-key-as-x-gateway-token",
        "api-key-as-basic-password",
        "garbage-token",
        "garbage-bearer",
        "revoked-ingest-token",
        "another-tenants-revoked-token",
    ],
)
def test_an_ingest_call_without_a_valid_credential_is_401_and_stores_nothing(
    client: TestClient, tenant: Tenant, settings: Settings, how: str
) -> None:
    headers = {"content-type": "application/json"}
    path = "/v1/ingest/kak2c"
    if how == "api-key-in-query":
        path += f"?token={tenant.api_key}"
    elif how == "api-key-as-x-gateway-token":
        headers["X-Gateway-Token"] = tenant.api_key
    elif how == "api-key-as-basic-password":
        headers["Authorization"] = _basic("measoft", tenant.api_key)
    elif how == "garbage-token":
        headers["X-Gateway-Token"] = "gwi_" + tenant.tenant + "_" + "A" * 32
    elif how == "garbage-bearer":
        headers["Authorization"] = "Bearer nope"
    elif how == "revoked-ingest-token":
        revoke(settings, tenant, tenant.ingest_token)
        headers["X-Gateway-Token"] = tenant.ingest_token
    elif how == "another-tenants-revoked-token":
        other = make_tenant(settings)
        revoke(settings, other, other.ingest_token)
        path += f"?token={other.ingest_token}"
    response = client.post(path, content=sample("kak2c_event.json"), headers=headers)
    problem = assert_problem(response, 401)
    assert problem["type"] == "/problems/unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_problem(client.get("/v1/orders/kak2c/K-1001", headers=tenant.headers), 404)


def test_an_ingest_token_does_not_open_the_bearer_only_routes(
    client: TestClient, tenant: Tenant
) -> None:
    ingest(client, tenant, "kak2c", sample("kak2c_event.json"))
    token = {"Authorization": f"Bearer {tenant.ingest_token}"}
    assert_problem(client.get("/v1/orders/kak2c/K-1001", headers=token), 401)
    assert_problem(client.get(f"/v1/orders?token={tenant.ingest_token}"), 401)
    assert_problem(client.get("/v1/orders", headers={"X-Gateway-Token": tenant.ingest_token}), 401)


def test_ingest_into_an_unknown_platform_is_404(client: TestClient, tenant: Tenant) -> None:
    response = client.post("/v1/ingest/shopify", content=b"{}", headers={**tenant.headers, **JSON})
    problem = assert_problem(response, 404)
    assert (problem["type"], problem["parameter"]) == ("/problems/unknown-platform", "platform")


# ---- refusals: a bad payload is refused whole and nothing is stored ----

KAK2C_OK = {"order_id": "K-1", "status": "PACKED", "updated_at": "2024-05-14T12:40:03+03:00"}
GOOD_MEASOFT_ORDER = (
    '<order orderno="SHOP-1"><status createtimegmt="2024-05-14 15:02:13">NEW</status></order>'
)


@pytest.mark.parametrize(
    ("platform", "body", "status", "kind", "order_id"),
    [
        ("measoft", (BAD / "measoft_xxe.xml").read_bytes(), 400, "forbidden-xml", "SHOP-1"),
        (
            "measoft",
            (BAD / "measoft_billion_laughs.xml").read_bytes(),
            400,
            "forbidden-xml",
            "SHOP-1",
        ),
        (
            "measoft",
            (BAD / "measoft_external_dtd.xml").read_bytes(),
            400,
            "forbidden-xml",
            "SHOP-1",
        ),
        ("measoft", (BAD / "measoft_malformed.xml").read_bytes(), 400, "malformed-xml", "SHOP-1"),
        ("measoft", b"", 422, "invalid-payload", "SHOP-1"),
        ("measoft", b"  \n ", 422, "invalid-payload", "SHOP-1"),
        ("measoft", b"<orders/>", 422, "invalid-payload", "SHOP-1"),
        (
            "measoft",  # the first order is fine, the second is not: nothing is stored
            (
                f'<statusreq count="2">{GOOD_MEASOFT_ORDER}'
                '<order orderno="SHOP-2"><status>NEW</status></order></statusreq>'
            ).encode(),
            422,
            "invalid-payload",
            "SHOP-1",
        ),
        ("cloudcart", (BAD / "not_json.json").read_bytes(), 400, "malformed-json", "1042"),
        ("cloudcart", b"", 422, "invalid-payload", "1042"),
        (
            "cloudcart",
            orjson.dumps(
                [
                    {"id": 1042, "status": "paid", "updated_at": "2024-05-14T12:40:03+03:00"},
                    {"id": 1043, "status": 5, "updated_at": "2024-05-14T12:40:03+03:00"},
                ]
            ),
            422,
            "invalid-payload",
            "1042",
        ),
        (
            "cloudcart",
            orjson.dumps([{"id": 1042, "status": "paid", "updated_at": "2024-05-14T12:40:03"}]),
            422,
            "invalid-payload",
            "1042",
        ),
        ("cloudcart", b"[]", 422, "invalid-payload", "1042"),
        (
            "cscart",
            orjson.dumps({"order_id": "1207", "status": ["P"]}),
            422,
            "invalid-payload",
            "1207",
        ),
        (
            "cscart",
            orjson.dumps({"order_id": "1207", "status": "P", "updated_at": "yesterday"}),
            422,
            "invalid-payload",
            "1207",
        ),
        ("cscart", b'"1207"', 422, "invalid-payload", "1207"),
        ("kak2c", orjson.dumps({**KAK2C_OK, "extra": 1}), 422, "invalid-payload", "K-1"),
        ("kak2c", orjson.dumps({**KAK2C_OK, "order_id": 1}), 422, "invalid-payload", "K-1"),
        (
            "kak2c",
            orjson.dumps([KAK2C_OK, {**KAK2C_OK, "updated_at": "2024-05-14T12:40:03"}]),
            422,
            "invalid-payload",
            "K-1",
        ),
        ("kak2c", orjson.dumps([KAK2C_OK] * 1001), 422, "invalid-payload", "K-1"),
        ("kak2c", b"{", 400, "malformed-json", "K-1"),
    ],
)
def test_a_bad_payload_is_refused_with_a_problem_and_nothing_is_stored(
    client: TestClient,
    tenant: Tenant,
    platform: str,
    body: bytes,
    status: int,
    kind: str,
    order_id: str,
) -> None:
    content_type = XML if platform == "measoft" else JSON
    response = client.post(
        f"/v1/ingest/{platform}", content=body, headers={**tenant.headers, **content_type}
    )
    problem = assert_problem(response, status)
    assert problem["type"] == f"/problems/{kind}"
    if body.strip():  # a problem in the body points at it; an empty body has nothing to point at
        assert pointers(problem), problem
    assert_problem(client.get(f"/v1/orders/{platform}/{order_id}", headers=tenant.headers), 404)
    assert client.get("/v1/orders", headers=tenant.headers).json()["orders"] == []
    assert client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"] == []


def test_an_entity_is_never_expanded_into_a_stored_status(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    response = client.post(
        "/v1/ingest/measoft",
        content=(BAD / "measoft_xxe.xml").read_bytes(),
        headers={**tenant.headers, **XML},
    )
    assert_problem(response, 400)
    assert "root:" not in response.text
    assert "root:" not in stored_text(settings, tenant)


# ---- secrets stay out of logs and storage ----


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    formatter = JsonFormatter()
    return "\n".join(formatter.format(r) for r in caplog.records)


@pytest.mark.parametrize("where", ["query", "header", "basic"])
def test_the_ingest_token_never_reaches_the_log(
    client: TestClient, tenant: Tenant, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    path, headers = "/v1/ingest/kak2c", dict(JSON)
    if where == "query":
        path += f"?lang=en&token={tenant.ingest_token}"
    elif where == "header":
        headers["X-Gateway-Token"] = tenant.ingest_token
    else:
        headers["Authorization"] = _basic("measoft", tenant.ingest_token)
    assert client.post(path, content=sample("kak2c_event.json"), headers=headers).status_code == 200
    # A refused call is logged too: the token must not be in that line either.
    client.post(path, content=b"{", headers=headers)
    access = [r for r in caplog.records if r.name == "gateway.access"]
    assert len(access) == 2
    assert [getattr(r, "fields", {}).get("tenant") for r in access] == [tenant.tenant] * 2
    logged = _logged(caplog) + caplog.text
    secret = tenant.ingest_token.rpartition("_")[2]
    assert tenant.ingest_token not in logged
    assert secret not in logged
    if where == "query":
        assert "token=***" in logged


def test_the_cloudcart_api_key_header_is_never_logged_or_stored(
    client: TestClient, tenant: Tenant, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api_key = "ccapi-5f1e2d3c4b5a69788796a5b4c3d2e1f0"
    ingest(
        client,
        tenant,
        "cloudcart",
        sample("cloudcart_order_updated.json"),
        {"X-CloudCart-ApiKey": api_key},
    )
    client.post(
        "/v1/ingest/cloudcart",
        content=b"[",
        headers={**tenant.headers, **JSON, "X-CloudCart-ApiKey": api_key},
    )
    assert [r.name for r in caplog.records if r.name == "gateway.access"] == ["gateway.access"] * 2
    assert api_key not in _logged(caplog) + caplog.text
    found = client.get("/v1/orders/cloudcart/1042", headers=tenant.headers)
    assert found.status_code == 200
    assert api_key not in found.text
    assert api_key not in stored_text(settings, tenant)
    assert "1042" in stored_text(settings, tenant)  # the search does see the stored order


def test_a_payload_path_is_no_way_into_another_tenants_orders(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    other = make_tenant(settings)
    ingest(client, tenant, "kak2c", sample("kak2c_event.json"))
    assert_problem(client.get("/v1/orders/kak2c/K-1001", headers=other.headers), 404)
    response = client.post(
        f"/v1/ingest/kak2c?token={other.ingest_token}",
        content=sample("kak2c_events.json"),
        headers=JSON,
    )
    assert response.status_code == 200
    assert order(client, tenant, "kak2c", "K-1001")["sequence"] == 1
    assert order(client, other, "kak2c", "K-1001")["sequence"] == 2


def test_every_sample_payload_is_covered_here() -> None:
    expected = {
        "cloudcart_order_updated.json",
        "cscart_order.json",
        "cscart_orders_list.json",
        "kak2c_event.json",
        "kak2c_events.json",
        "measoft_statusreq.xml",
        "measoft_statusreq_empty.xml",
        "measoft_statusreq_error.xml",
        "measoft_webhook.xml",
        "measoft_webhook_only.xml",
    }
    assert {p.name for p in PAYLOADS.iterdir() if p.is_file()} == expected
