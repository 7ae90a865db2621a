"""GET /v1/platforms, /v1/platforms/{platform}/statuses and /v1/statuses."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.canonical import Action, Code, Fulfillment, Payment, Stage
from gateway.i18n import LANGUAGES
from gateway.tables import Tables


def test_platforms(client: TestClient, tables: Tables) -> None:
    response = client.get("/v1/platforms")
    assert response.status_code == 200
    body = response.json()
    by_name = {p["platform"]: p for p in body["platforms"]}
    assert set(by_name) == {"kak2c", "measoft", "cscart", "cloudcart"}
    assert by_name["measoft"]["aliases"] == ["courier"]
    assert by_name["kak2c"]["code_prefix"] == "ORDER_INFO_"
    assert by_name["kak2c"]["variants"] == ["fbo"]
    assert by_name["cloudcart"]["status_parts"] == ["order", "payment", "fulfillment"]
    assert by_name["cscart"]["status_count"] == 9
    assert body["mapping_version"] == tables.version
    assert "etag" in response.headers


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("platform", ["kak2c", "measoft", "courier", "cscart", "cloudcart"])
def test_platform_statuses_lists_every_code(
    client: TestClient, tables: Tables, platform: str, lang: str
) -> None:
    response = client.get(f"/v1/platforms/{platform}/statuses", params={"lang": lang})
    assert response.status_code == 200
    assert response.headers["content-language"] == lang
    body = response.json()
    table = tables.platform(platform)
    assert [s["code"] for s in body["statuses"]] == list(table.statuses)
    assert all(
        s["label"] and s["description"] and s["canonical"]["label"] for s in body["statuses"]
    )
    assert set(body["targets"]) == {c.value for c in table.targets}


def test_platform_statuses_show_variants_and_parts(client: TestClient) -> None:
    kak2c = client.get("/v1/platforms/kak2c/statuses?lang=ru").json()
    packed = next(s for s in kak2c["statuses"] if s["code"] == "ORDER_INFO_PACKED")
    assert packed["label"] == "Упакован"
    assert packed["variants"][0]["label"] == "Упакован. Необходимо загрузить документы"
    assert packed["variants"][0]["canonical"]["detail"] == "documents_required"
    cloud = client.get("/v1/platforms/cloudcart/statuses?lang=el").json()
    assert {p["code"] for p in cloud["payment_statuses"]} >= {"completed", "requested"}
    assert {f["code"] for f in cloud["fulfillment_statuses"]} >= {"fulfilled", "not_fulfilled"}
    cscart = client.get("/v1/platforms/cscart/statuses").json()
    assert next(s for s in cscart["statuses"] if s["code"] == "N")["settable"] is False
    assert "payment_statuses" not in cscart


def test_unknown_platform_statuses_is_404(client: TestClient) -> None:
    response = client.get("/v1/platforms/shopify/statuses")
    assert response.status_code == 404
    assert response.json()["valid"] == ["cloudcart", "courier", "cscart", "kak2c", "measoft"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_canonical_vocabulary_is_complete_and_localized(client: TestClient, lang: str) -> None:
    body = client.get("/v1/statuses", headers={"Accept-Language": lang}).json()
    assert body["lang"] == lang
    assert [c["code"] for c in body["codes"]] == [c.value for c in Code]
    assert [s["code"] for s in body["stages"]] == [s.value for s in Stage]
    assert [p["code"] for p in body["payment"]] == [p.value for p in Payment]
    assert [f["code"] for f in body["fulfillment"]] == [f.value for f in Fulfillment]
    assert [a["code"] for a in body["actions"]] == [a.value for a in Action]
    assert len(body["details"]) >= 30
    for group in ("codes", "stages", "details", "payment", "fulfillment", "actions"):
        assert all(entry["label"] and entry["description"] for entry in body[group])


def test_vocabulary_304(client: TestClient) -> None:
    first = client.get("/v1/statuses?lang=el")
    again = client.get("/v1/statuses?lang=el", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["content-language"] == "el"
