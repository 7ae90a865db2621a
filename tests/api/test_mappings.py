"""/v1/mappings: a tenant's own codes, used by tracking and translation for that tenant only."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from gateway.custom import field_name
from gateway.settings import Settings
from gateway.storage.keys import TenantKeys
from tests.factories import Tenant, assert_problem, at, event, make_tenant

Json = dict[str, Any]
LABELS = {
    "ru": "Ждёт звонка менеджера",
    "en": "Awaiting a call from the manager",
    "fr": "En attente d'un appel du responsable",
    "el": "Αναμονή κλήσης από τον υπεύθυνο",
}
ON_HOLD = {"canonical": "on_hold", "detail": "contact_later", "labels": LABELS}
NONE: Json = {"mappings": [], "part_mappings": []}


def put(client: TestClient, tenant: Tenant, path: str, body: Json) -> Json:
    response = client.put(path, json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    answer: Json = response.json()
    return answer


def post(client: TestClient, tenant: Tenant, body: Json) -> Json:
    response = client.post("/v1/events", json=body, headers=tenant.headers)
    assert response.status_code == 202, response.text
    answer: Json = response.json()
    return answer


def test_a_mapping_is_stored_and_answered(client: TestClient, tenant: Tenant) -> None:
    answer = put(client, tenant, "/v1/mappings/cscart/A", ON_HOLD)
    assert answer == {
        "platform": "cscart",
        "code": "A",
        "canonical": "on_hold",
        "detail": "contact_later",
        "payment": None,
        "fulfillment": None,
        "paid": None,
        "provisional": False,
        "action_required": None,
        "labels": LABELS,
        "descriptions": {},
        "updated_at": answer["updated_at"],
    }
    assert answer["updated_at"].endswith("Z")
    for path in ("/v1/mappings/cscart/A", "/v1/mappings/cscart/a"):  # codes are normalized
        response = client.get(path, headers=tenant.headers)
        assert response.status_code == 200
        assert response.json() == answer
    listed = client.get("/v1/mappings", headers=tenant.headers).json()
    assert listed == {"mappings": [answer], "part_mappings": []}


def test_events_with_a_mapped_code_translate_with_the_tenants_labels(
    client: TestClient, tenant: Tenant
) -> None:
    put(client, tenant, "/v1/mappings/cscart/A", ON_HOLD)
    answer = post(client, tenant, event("1", "a", at(0)))
    assert answer["current"]["code"] == "on_hold"
    assert answer["current"]["detail"] == "contact_later"
    assert answer["native"]["code"] == "A"
    assert answer["native"]["label"] == LABELS["en"]
    for lang, label in LABELS.items():
        response = client.get(f"/v1/orders/cscart/1?lang={lang}", headers=tenant.headers)
        body = response.json()
        assert body["native"]["label"] == label
        assert body["timeline"][0]["native"]["label"] == label
        assert body["current"]["code"] == "on_hold"
        english = client.get(f"/v1/translate/cscart/Y?lang={lang}").json()["canonical"]
        assert body["current"]["label"] == english["label"]  # the canonical label: catalogs
    greek = client.get("/v1/orders/cscart/1", headers={**tenant.headers, "Accept-Language": "el"})
    assert greek.json()["native"]["label"] == "Αναμονή κλήσης από τον υπεύθυνο"
    # The code is mapped: it is not counted as unknown.
    assert client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"] == []


def test_a_mapping_applies_from_now_on_and_earlier_events_keep_what_they_were(
    client: TestClient, tenant: Tenant
) -> None:
    before = post(client, tenant, event("1", "A", at(0)))
    assert before["current"]["code"] == "unknown"
    unmapped = client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"]
    assert [(u["code"], u["count"], u["mapped"]) for u in unmapped] == [("A", 1, False)]
    put(client, tenant, "/v1/mappings/cscart/A", ON_HOLD)
    unmapped = client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"]
    assert [(u["code"], u["count"], u["mapped"]) for u in unmapped] == [("A", 1, True)]
    after = post(client, tenant, event("1", "A", at(60)))
    assert (after["result"], after["current"]["code"], after["sequence"]) == (
        "changed",
        "on_hold",
        2,
    )
    # A later change of the labels is used by new events; recorded ones keep their labels.
    put(client, tenant, "/v1/mappings/cscart/A", {**ON_HOLD, "labels": {**LABELS, "en": "Call"}})
    post(client, tenant, event("1", "A", at(120)))
    timeline = client.get("/v1/orders/cscart/1", headers=tenant.headers).json()["timeline"]
    assert [(e["canonical"]["code"], e["native"]["label"]) for e in timeline] == [
        ("unknown", None),
        ("on_hold", LABELS["en"]),
        ("on_hold", "Call"),
    ]
    unmapped = client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"]
    assert [(u["code"], u["count"]) for u in unmapped] == [("A", 1)]


def test_translate_uses_a_mapping_only_with_the_tenants_key(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    put(client, tenant, "/v1/mappings/cscart/A", ON_HOLD)
    other = make_tenant(settings)
    anonymous = assert_problem(client.get("/v1/translate/cscart/A?lang=fr"), 422)
    assert anonymous["type"] == "/problems/unknown-status-code"
    mine = client.get("/v1/translate/cscart/A?lang=fr", headers=tenant.headers)
    assert mine.status_code == 200
    assert mine.json()["canonical"]["code"] == "on_hold"
    assert mine.json()["native"] == {
        "code": "A",
        "label": LABELS["fr"],
        "description": LABELS["en"],
    }
    assert "public" not in mine.headers.get("cache-control", "")
    # Nothing of the tenant's answer is replayed to anyone else.
    assert_problem(client.get("/v1/translate/cscart/A?lang=fr"), 422)
    theirs = client.get("/v1/translate/cscart/A?lang=fr", headers=other.headers)
    assert assert_problem(theirs, 422)["type"] == "/problems/unknown-status-code"
    posted = client.post(
        "/v1/translate",
        json={"platform": "cscart", "status": "A", "lang": "el"},
        headers=tenant.headers,
    )
    assert posted.json()["native"]["label"] == LABELS["el"]
    assert_problem(
        client.post("/v1/translate", json={"platform": "cscart", "status": "A", "lang": "el"}), 422
    )


def test_the_batch_uses_the_tenants_mappings_only_with_its_key(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    put(client, tenant, "/v1/mappings/cscart/A", ON_HOLD)
    items = [
        {"platform": "cscart", "status": "A"},
        {"platform": " CSCart", "status": "a", "lang": "el"},  # the same platform and code
        {"platform": "cscart", "status": "P"},
        {"platform": "kak2c", "status": "A"},  # not mapped on that platform
    ]
    body = {"items": items, "lang": "fr"}

    def results(headers: dict[str, str] | None) -> list[Json]:
        answer = client.post("/v1/translate/batch", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        found: list[Json] = answer.json()["results"]
        return found

    mine = results(tenant.headers)
    codes = [r.get("canonical", {}).get("code") for r in mine]
    assert codes == ["on_hold", "on_hold", "confirmed", None]
    assert (mine[0]["native"]["label"], mine[1]["native"]["label"]) == (LABELS["fr"], LABELS["el"])
    assert mine[3]["error"]["type"] == "/problems/unknown-status-code"
    for anyone in (None, make_tenant(settings).headers):
        theirs = results(anyone)
        assert theirs[0]["error"]["type"] == "/problems/unknown-status-code"
        assert theirs[2]["canonical"]["code"] == "confirmed"
    bad = client.post(
        "/v1/translate/batch", json=body, headers={"Authorization": "Bearer gwk_nobody_x"}
    )
    assert assert_problem(bad, 401)["type"] == "/problems/unauthorized"


def test_a_lenient_public_answer_is_not_replayed_to_the_tenant(
    client: TestClient, tenant: Tenant
) -> None:
    put(client, tenant, "/v1/mappings/cscart/A", ON_HOLD)
    for _ in range(2):  # the second one is a cache hit
        public = client.get("/v1/translate/cscart/A?lenient=true")
        assert public.json()["canonical"]["code"] == "unknown"
    mine = client.get("/v1/translate/cscart/A?lenient=true", headers=tenant.headers)
    assert mine.json()["canonical"]["code"] == "on_hold"
    assert client.get("/v1/translate/cscart/A?lenient=true").json()["canonical"]["code"] == (
        "unknown"
    )


def test_another_tenant_neither_sees_nor_uses_a_mapping(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    put(client, tenant, "/v1/mappings/cscart/A", ON_HOLD)
    other = make_tenant(settings)
    assert_problem(client.get("/v1/mappings/cscart/A", headers=other.headers), 404)
    assert_problem(client.delete("/v1/mappings/cscart/A", headers=other.headers), 404)
    assert client.get("/v1/mappings", headers=other.headers).json() == NONE
    assert post(client, other, event("1", "A", at(0)))["current"]["code"] == "unknown"
    unmapped = client.get("/v1/unmapped", headers=other.headers).json()["unmapped"]
    assert [(u["code"], u["mapped"]) for u in unmapped] == [("A", False)]
    # And the owner still has it.
    assert client.get("/v1/mappings/cscart/A", headers=tenant.headers).status_code == 200


def test_a_deleted_mapping_reads_as_unknown_again(client: TestClient, tenant: Tenant) -> None:
    put(client, tenant, "/v1/mappings/cscart/A", ON_HOLD)
    response = client.delete("/v1/mappings/cscart/a", headers=tenant.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(client.get("/v1/mappings/cscart/A", headers=tenant.headers), 404)
    assert_problem(client.delete("/v1/mappings/cscart/A", headers=tenant.headers), 404)
    assert client.get("/v1/mappings", headers=tenant.headers).json() == NONE
    assert post(client, tenant, event("1", "A", at(0)))["current"]["code"] == "unknown"
    assert_problem(client.get("/v1/translate/cscart/A", headers=tenant.headers), 422)


@pytest.mark.parametrize("path", ["ready%2Fpickup", "ready/pickup"])
def test_a_code_with_a_slash_can_be_mapped_read_translated_and_deleted(
    client: TestClient, tenant: Tenant, path: str
) -> None:
    """A tenant's own code may contain '/' (sent as %2F, as the console's encodeURIComponent
    does, or bare): the last path segment takes the rest of the path."""
    answer = put(client, tenant, f"/v1/mappings/cscart/{path}", ON_HOLD)
    assert answer["code"] == "READY/PICKUP"  # CS-Cart codes are upper-cased
    got = client.get(f"/v1/mappings/cscart/{path}", headers=tenant.headers)
    assert got.json() == answer
    translated = client.get(f"/v1/translate/cscart/{path}?lang=fr", headers=tenant.headers)
    assert translated.status_code == 200, translated.text
    assert translated.json()["native"]["label"] == LABELS["fr"]
    assert post(client, tenant, event("s1", "ready/pickup", at(0)))["current"]["code"] == "on_hold"
    assert client.delete(f"/v1/mappings/cscart/{path}", headers=tenant.headers).status_code == 204
    assert_problem(client.get(f"/v1/mappings/cscart/{path}", headers=tenant.headers), 404)


def test_a_cloudcart_custom_status_can_be_mapped(client: TestClient, tenant: Tenant) -> None:
    mapping = {"canonical": "packing", "labels": LABELS, "fulfillment": "not_fulfilled"}
    answer = put(client, tenant, "/v1/mappings/cloudcart/Gift-Wrapping", mapping)
    code = answer["code"]
    status = {"order": "gift-wrapping", "payment": "completed"}
    recorded = post(client, tenant, event("7", status, at(0), platform="cloudcart"))
    assert recorded["current"]["code"] == "packing"
    assert recorded["current"]["payment"] == "paid"
    assert recorded["native"]["code"] == code
    assert recorded["native"]["label"] == LABELS["en"]


@pytest.mark.parametrize(
    ("path", "body", "status", "kind"),
    [
        ("/v1/mappings/cscart/P", ON_HOLD, 409, "conflict"),
        ("/v1/mappings/cscart/p", ON_HOLD, 409, "conflict"),
        ("/v1/mappings/kak2c/PACKED", ON_HOLD, 409, "conflict"),
        ("/v1/mappings/cloudcart/paid", ON_HOLD, 409, "conflict"),
        ("/v1/mappings/shopify/A", ON_HOLD, 404, "unknown-platform"),
        (
            "/v1/mappings/cscart/A",
            {**ON_HOLD, "labels": {k: v for k, v in LABELS.items() if k != "el"}},
            422,
            "validation-error",
        ),
        (
            "/v1/mappings/cscart/A",
            {**ON_HOLD, "labels": {k: v for k, v in LABELS.items() if k != "en"}},
            422,
            "validation-error",
        ),
        ("/v1/mappings/cscart/A", {**ON_HOLD, "labels": {**LABELS, "fr": ""}}, 422, None),
        ("/v1/mappings/cscart/A", {**ON_HOLD, "labels": {**LABELS, "de": "x"}}, 422, None),
        ("/v1/mappings/cscart/A", {**ON_HOLD, "detail": "teleported"}, 422, "invalid-status"),
        ("/v1/mappings/cscart/A", {**ON_HOLD, "canonical": "unknown"}, 422, "invalid-status"),
        ("/v1/mappings/cscart/A", {**ON_HOLD, "canonical": "flying"}, 422, None),
        ("/v1/mappings/cscart/A", {**ON_HOLD, "payment": "maybe"}, 422, None),
        ("/v1/mappings/cscart/A", {**ON_HOLD, "colour": "red"}, 422, None),
        ("/v1/mappings/cscart/A", {"canonical": "on_hold"}, 422, None),
    ],
)
def test_a_mapping_that_cannot_be_is_refused_and_nothing_is_stored(
    client: TestClient, tenant: Tenant, path: str, body: Json, status: int, kind: str | None
) -> None:
    problem = assert_problem(client.put(path, json=body, headers=tenant.headers), status)
    assert problem["type"] == f"/problems/{kind or 'validation-error'}"
    if status == 409:
        assert problem["parameter"] == "code"
    assert client.get("/v1/mappings", headers=tenant.headers).json() == NONE


@pytest.mark.parametrize("missing", ["ru", "en", "fr", "el"])
def test_a_mapping_without_a_language_says_which_one_is_missing(
    client: TestClient, tenant: Tenant, missing: str
) -> None:
    labels = {k: v for k, v in LABELS.items() if k != missing}
    response = client.put(
        "/v1/mappings/cscart/A", json={**ON_HOLD, "labels": labels}, headers=tenant.headers
    )
    problem = assert_problem(response, 422)
    assert f"labels lack {missing}" in problem["detail"]


def test_a_mapping_body_must_be_json(client: TestClient, tenant: Tenant) -> None:
    response = client.put(
        "/v1/mappings/cscart/A",
        content=b"canonical=on_hold",
        headers={**tenant.headers, "content-type": "text/plain"},
    )
    assert_problem(response, 415)
    response = client.put(
        "/v1/mappings/cscart/A",
        content=b"{",
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert_problem(response, 400)


def test_unmapped_lists_a_connectors_suggestion_before_any_order_carries_the_code(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    suggestion = {"canonical": "paid", "label": "Paid by bank", "reason": "payment_received=Y"}
    key = TenantKeys(settings.redis_prefix, tenant.tenant).suggestions
    redis.Redis.from_url(settings.redis_url or "", decode_responses=True).hset(
        key, field_name("cscart", "A"), orjson.dumps(suggestion).decode()
    )
    [row] = client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"]
    assert (row["platform"], row["code"], row["count"]) == ("cscart", "A", 0)
    assert row["suggested"] == suggestion
    post(client, tenant, event("1", "A", at(0)))
    [row] = client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"]
    assert (row["count"], row["suggested"]["canonical"]) == (1, "paid")


# ---------------------------------------------------------------- CloudCart payment and fulfilment

INSTALMENT = {
    "ru": "Оплачен в рассрочку",
    "en": "Paid in instalments",
    "fr": "Payé en plusieurs fois",
    "el": "Πληρώθηκε με δόσεις",
}
COURIER = {
    "ru": "Передан курьеру",
    "en": "Handed to the courier",
    "fr": "Remis au coursier",
    "el": "Παραδόθηκε στον κούριερ",
}
PAYMENT = {"payment": "paid", "labels": INSTALMENT}
FULFILLMENT = {
    "fulfillment": "shipped",
    "refines": "shipped",
    "completes_when_paid": True,
    "labels": COURIER,
    "descriptions": {"en": "The shop's own courier has the parcel."},
}


def test_cloudcart_part_codes_are_mapped_answered_listed_and_deleted(
    client: TestClient, tenant: Tenant
) -> None:
    paid = put(client, tenant, "/v1/mappings/cloudcart.payment/Instalment", PAYMENT)
    assert paid == {
        "platform": "cloudcart.payment",
        "code": "instalment",
        "payment": "paid",
        "fulfillment": None,
        "refines": None,
        "completes_when_paid": False,
        "labels": INSTALMENT,
        "descriptions": {},
        "updated_at": paid["updated_at"],
    }
    goods = put(client, tenant, "/v1/mappings/cloudcart.fulfillment/courier", FULFILLMENT)
    assert (goods["fulfillment"], goods["refines"], goods["completes_when_paid"]) == (
        "shipped",
        "shipped",
        True,
    )
    assert goods["descriptions"] == FULFILLMENT["descriptions"]
    for path, answer in (
        ("/v1/mappings/cloudcart.payment/INSTALMENT", paid),
        ("/v1/mappings/cloudcart.fulfillment/courier", goods),
    ):
        response = client.get(path, headers=tenant.headers)
        assert response.status_code == 200, response.text
        assert response.json() == answer
    listed = client.get("/v1/mappings", headers=tenant.headers).json()
    assert listed == {"mappings": [], "part_mappings": [goods, paid]}
    gone = client.delete("/v1/mappings/cloudcart.payment/instalment", headers=tenant.headers)
    assert gone.status_code == 204
    assert (
        assert_problem(
            client.get("/v1/mappings/cloudcart.payment/instalment", headers=tenant.headers), 404
        )["parameter"]
        == "code"
    )
    assert client.get("/v1/mappings", headers=tenant.headers).json()["part_mappings"] == [goods]


def test_events_with_mapped_part_codes_are_tracked_with_the_tenants_meaning_and_labels(
    client: TestClient, tenant: Tenant
) -> None:
    status = {"order": "pending", "payment": "instalment", "fulfillment": "courier"}
    before = post(client, tenant, event("p1", status, at(0), platform="cloudcart"))
    assert before["current"]["payment"] != "paid"  # not mapped yet: the order status decides
    assert before["native"]["payment"]["label"] is None
    unmapped = client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"]
    assert {(u["platform"], u["code"]) for u in unmapped} == {
        ("cloudcart.payment", "instalment"),
        ("cloudcart.fulfillment", "courier"),
    }
    put(client, tenant, "/v1/mappings/cloudcart.payment/instalment", PAYMENT)
    put(client, tenant, "/v1/mappings/cloudcart.fulfillment/courier", FULFILLMENT)
    assert all(
        u["mapped"] for u in client.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"]
    )
    after = post(client, tenant, event("p2", status, at(1), platform="cloudcart"))
    current = after["current"]
    assert (current["payment"], current["fulfillment"]) == ("paid", "shipped")
    assert current["code"] == "completed"  # shipped and paid: the tenant said it completes
    assert after["native"]["payment"]["label"] == INSTALMENT["en"]
    assert after["native"]["fulfillment"]["label"] == COURIER["en"]
    greek = client.get(
        "/v1/orders/cloudcart/p2", params={"lang": "el"}, headers=tenant.headers
    ).json()
    native = greek["timeline"][-1]["native"]
    assert native["payment"]["label"] == INSTALMENT["el"]
    assert native["fulfillment"]["label"] == COURIER["el"]


def test_translate_reads_part_mappings_only_with_the_tenants_key(
    client: TestClient, tenant: Tenant
) -> None:
    put(client, tenant, "/v1/mappings/cloudcart.payment/instalment", PAYMENT)
    query = {"payment": "instalment", "lang": "fr", "lenient": "true"}
    mine = client.get("/v1/translate/cloudcart/new", params=query, headers=tenant.headers)
    assert mine.status_code == 200, mine.text
    assert mine.json()["native"]["payment"]["label"] == INSTALMENT["fr"]
    assert mine.json()["canonical"]["payment"] == "paid"
    public = client.get("/v1/translate/cloudcart/new", params=query).json()
    assert public["canonical"]["payment"] == "unknown"
    assert public["native"]["payment"]["label"] is None
    items = [{"platform": "cloudcart", "status": {"order": "new", "payment": "instalment"}}]
    batch = client.post(
        "/v1/translate/batch",
        json={"items": items, "lang": "ru", "lenient": True},
        headers=tenant.headers,
    )
    assert batch.status_code == 200, batch.text
    [item] = batch.json()["results"]
    assert item["native"]["payment"]["label"] == INSTALMENT["ru"]


@pytest.mark.parametrize(
    ("path", "body", "status", "kind"),
    [
        ("/v1/mappings/cloudcart.payment/completed", PAYMENT, 409, "conflict"),
        ("/v1/mappings/cloudcart.payment/PAID", PAYMENT, 409, "conflict"),
        ("/v1/mappings/cloudcart.fulfillment/shipped", FULFILLMENT, 409, "conflict"),
        ("/v1/mappings/cloudcart.payment/x", {**PAYMENT, "payment": "maybe"}, 422, None),
        ("/v1/mappings/cloudcart.payment/x", {"labels": INSTALMENT}, 422, None),
        ("/v1/mappings/cloudcart.payment/x", {**PAYMENT, "fulfillment": "shipped"}, 422, None),
        ("/v1/mappings/cloudcart.fulfillment/x", {**FULFILLMENT, "refines": "flying"}, 422, None),
        ("/v1/mappings/cloudcart.fulfillment/x", {**FULFILLMENT, "labels": {"en": "x"}}, 422, None),
        ("/v1/mappings/cloudcart.fulfillment/x", PAYMENT, 422, None),
        ("/v1/mappings/cscart.payment/x", ON_HOLD, 404, "not-found"),
        ("/v1/mappings/CloudCart.Payment/x", ON_HOLD, 422, "invalid-status"),
    ],
)
def test_a_part_mapping_that_cannot_be_is_refused_and_nothing_is_stored(
    client: TestClient, tenant: Tenant, path: str, body: Json, status: int, kind: str | None
) -> None:
    problem = assert_problem(client.put(path, json=body, headers=tenant.headers), status)
    assert problem["type"] == f"/problems/{kind or 'validation-error'}"
    assert client.get("/v1/mappings", headers=tenant.headers).json() == NONE
