"""Native → canonical and back, over every row of every table and the spec's own expectations."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from gateway.canonical import Action, Code, Fulfillment, Payment
from gateway.custom import TenantMapping
from gateway.errors import InvalidStatus, UnknownPlatform, UnknownStatusCode, UnknownVariant
from gateway.tables import Tables
from gateway.translate import CloudCartStatus, Custom, Where, to_canonical, to_native
from tests.conftest import DATA, ROOT

with (DATA / "spec_expectations.toml").open("rb") as _f:
    SPEC = tomllib.load(_f)
TABLE_ROWS = [
    (path.stem, code)
    for path in sorted((ROOT / "mappings").glob("*.toml"))
    if path.stem != "canonical"
    for code in tomllib.loads(path.read_text(encoding="utf-8"))["statuses"]
]


def _flags(expected: dict[str, Any]) -> dict[str, Any]:
    """Expected values; unnamed detail/provisional/action mean none, as the spec rows read."""
    return {"detail": None, "provisional": False, "action": None} | expected


@pytest.mark.parametrize(
    ("platform", "code", "expected"),
    [(p, c, e) for p in ("kak2c", "measoft", "cscart") for c, e in SPEC[p].items()]
    + [("cloudcart", c, e) for c, e in SPEC["cloudcart_order"].items()],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_native_code_translates_as_the_spec_says(
    tables: Tables, platform: str, code: str, expected: dict[str, Any]
) -> None:
    status = to_canonical(tables, platform, code).canonical
    want = _flags(expected)
    assert status.code == want["code"]
    assert status.detail == want["detail"]
    assert status.provisional is want["provisional"]
    assert (status.action_required.value if status.action_required else None) == want["action"]
    for axis in ("payment", "fulfillment", "paid"):
        if axis in want:
            assert getattr(status, axis) == want[axis], axis


@pytest.mark.parametrize(("platform", "code"), TABLE_ROWS, ids=[f"{p}:{c}" for p, c in TABLE_ROWS])
def test_every_table_row_is_covered_by_the_spec(platform: str, code: str) -> None:
    section = "cloudcart_order" if platform == "cloudcart" else platform
    assert code in SPEC[section], f"{platform}:{code} has no expectation in the spec transcript"


@pytest.mark.parametrize(("platform", "code"), TABLE_ROWS, ids=[f"{p}:{c}" for p, c in TABLE_ROWS])
def test_every_row_yields_a_consistent_status(tables: Tables, platform: str, code: str) -> None:
    result = to_canonical(tables, platform, code)
    row = tables.platforms[platform].statuses[code]
    model = tables.canonical.codes[row.canonical]
    status = result.canonical
    assert result.native.code == code
    assert status.stage == model.stage
    assert status.terminal is (model.terminal and not row.provisional)
    assert status.payment == (row.payment or model.payment)
    assert status.fulfillment == (row.fulfillment or model.fulfillment)
    if row.paid is not None:
        assert status.paid is row.paid
    else:
        assert status.paid is tables.canonical.payment[status.payment].paid


@pytest.mark.parametrize(
    "combo",
    SPEC["cloudcart_combo"],
    ids=lambda c: "+".join(str(c.get(k)) for k in ("order", "payment", "fulfillment")),
)
def test_cloudcart_precedence(tables: Tables, combo: dict[str, str]) -> None:
    status = CloudCartStatus(combo["order"], combo.get("payment"), combo.get("fulfillment"))
    assert to_canonical(tables, "cloudcart", status).canonical.code == combo["code"]


@pytest.mark.parametrize("entry", SPEC["cloudcart_payment"], ids=lambda e: e["status"])
def test_cloudcart_payment_status_sets_the_payment_axis(
    tables: Tables, entry: dict[str, str]
) -> None:
    result = to_canonical(tables, "cloudcart", CloudCartStatus("pending", entry["status"]))
    assert result.canonical.payment == entry["payment"]
    assert result.canonical.paid is tables.canonical.payment[Payment(entry["payment"])].paid


def test_cloudcart_paid_never_refines_a_terminal_or_problem_headline(tables: Tables) -> None:
    for order in ("cancelled", "refunded", "failed", "timeouted", "disputed", "completed"):
        before = to_canonical(tables, "cloudcart", order).canonical.code
        after = to_canonical(
            tables, "cloudcart", CloudCartStatus(order, "completed", "delivered")
        ).canonical
        assert after.code == before, order
        assert after.fulfillment is Fulfillment.DELIVERED


def test_cloudcart_fulfilment_sets_the_goods_axis(tables: Tables) -> None:
    status = to_canonical(tables, "cloudcart", CloudCartStatus("pending", None, "partial"))
    assert status.canonical.code is Code.PENDING
    assert status.canonical.fulfillment is Fulfillment.IN_PROGRESS
    assert [part for part, _ in status.parts] == ["fulfillment"]


def test_cloudcart_string_status_is_the_order_status(tables: Tables) -> None:
    assert to_canonical(tables, "cloudcart", "PAID").canonical.code is Code.CONFIRMED


# ---- canonical → native ----


def _exact_targets() -> list[tuple[str, str, str | None, str]]:
    cases: list[tuple[str, str, str | None, str]] = []
    for path in sorted((ROOT / "mappings").glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for canonical, target in data.get("targets", {}).items():
            if target["exact"]:
                cases.append((path.stem, canonical, None, target["code"]))
            for detail, code in target.get("by_detail", {}).items():
                cases.append((path.stem, canonical, detail, code))
    return cases


@pytest.mark.parametrize(
    ("platform", "canonical", "detail", "code"), _exact_targets(), ids=lambda v: str(v)
)
def test_exact_targets_translate_back_to_themselves(
    tables: Tables, platform: str, canonical: str, detail: str | None, code: str
) -> None:
    status = to_canonical(tables, platform, code).canonical
    assert status.code == canonical
    assert status.detail == detail or detail is None
    choice = to_native(tables, platform, status)
    assert choice.code == code
    assert choice.exact is True


@pytest.mark.parametrize(("platform", "code"), TABLE_ROWS, ids=[f"{p}:{c}" for p, c in TABLE_ROWS])
def test_every_row_has_a_defined_target_on_every_platform(
    tables: Tables, platform: str, code: str
) -> None:
    status = to_canonical(tables, platform, code).canonical
    for target in tables.platforms:
        choice = to_native(tables, target, status)
        if choice.code is None:
            assert status.code in tables.platforms[target].no_target
            assert choice.exact is False
        else:
            assert tables.platforms[target].statuses[choice.code].settable


def test_detail_decides_the_cscart_letter(tables: Tables) -> None:
    declined = to_canonical(tables, "cscart", "D").canonical
    assert to_native(tables, "cscart", declined).code == "D"
    voided = to_canonical(tables, "cloudcart", "voided").canonical
    assert (voided.code, voided.detail) == (Code.CANCELED, "payment_voided")
    assert to_native(tables, "cscart", voided).code == "I"
    by_customer = to_canonical(tables, "cscart", "I").canonical
    assert to_native(tables, "cscart", by_customer).code == "I"


def test_cscart_never_targets_incomplete(tables: Tables) -> None:
    for code in Code:
        if code is Code.UNKNOWN:
            continue
        row = tables.canonical.codes[code]
        status = to_canonical(tables, "kak2c", "DRAFT").canonical
        status = type(status)(
            code, row.stage, None, row.terminal, False, None, row.payment, row.fulfillment, None
        )
        assert to_native(tables, "cscart", status).code != "N"


def test_inexact_target_says_so(tables: Tables) -> None:
    completed = to_canonical(tables, "cscart", "C").canonical
    choice = to_native(tables, "kak2c", completed)
    assert (choice.code, choice.exact) == ("ORDER_INFO_DELIVERED", False)
    refunded = to_canonical(tables, "cloudcart", "refunded").canonical
    none = to_native(tables, "kak2c", refunded)
    assert (none.code, none.exact, none.label) == (None, False, None)


# ---- input handling ----


@pytest.mark.parametrize(
    ("platform", "code", "expected"),
    [
        ("kak2c", "DRAFT", "ORDER_INFO_DRAFT"),
        ("kak2c", "order_info_draft", "ORDER_INFO_DRAFT"),
        ("kak2c", " ORDER_INFO_DRAFT ", "ORDER_INFO_DRAFT"),
        ("courier", "complete", "COMPLETE"),
        ("MEASOFT", "Delivery", "DELIVERY"),
        ("cscart", "p", "P"),
        ("Courier", "NEW", "NEW"),
    ],
)
def test_codes_and_platform_names_are_normalized(
    tables: Tables, platform: str, code: str, expected: str
) -> None:
    assert to_canonical(tables, platform, code).native.code == expected


def test_alias_reports_the_real_platform(tables: Tables) -> None:
    assert to_canonical(tables, "courier", "COMPLETE").platform == "measoft"


def test_unknown_code_lists_valid_codes(tables: Tables) -> None:
    with pytest.raises(UnknownStatusCode) as info:
        to_canonical(tables, "cscart", "Q")
    assert info.value.extensions["valid"] == ["N", "O", "P", "C", "F", "D", "B", "I", "Y"]
    assert info.value.where == "code"


def test_unknown_platform_lists_platforms_and_aliases(tables: Tables) -> None:
    with pytest.raises(UnknownPlatform) as info:
        to_canonical(tables, "shopify", "paid", where=Where.body())
    assert info.value.extensions["valid"] == ["cloudcart", "courier", "cscart", "kak2c", "measoft"]
    assert info.value.http_status == 422
    with pytest.raises(UnknownPlatform) as in_path:
        to_canonical(tables, "shopify", "paid")
    assert in_path.value.http_status == 404


def test_lenient_keeps_the_raw_code(tables: Tables) -> None:
    result = to_canonical(tables, "cscart", "A", lenient=True)
    assert result.canonical.code is Code.UNKNOWN
    assert result.canonical.stage is None
    assert (result.native.code, result.native.known, result.native.label) == ("A", False, None)


def test_lenient_cloudcart_keeps_known_parts(tables: Tables) -> None:
    result = to_canonical(
        tables,
        "cloudcart",
        CloudCartStatus("awaiting_review", "completed", "sideways"),
        lenient=True,
    )
    assert result.canonical.code is Code.UNKNOWN
    assert result.canonical.payment is Payment.PAID
    assert result.canonical.fulfillment is Fulfillment.UNKNOWN
    assert result.native.code == "awaiting_review"


@pytest.mark.parametrize(
    ("status", "where"),
    [
        (CloudCartStatus("paid", "bogus"), "#/status/payment"),
        (CloudCartStatus("paid", None, "bogus"), "#/status/fulfillment"),
        (CloudCartStatus("bogus", "completed"), "#/status/order"),
        (CloudCartStatus("bogus"), "#/status"),
    ],
)
def test_unknown_cloudcart_part_points_at_it(
    tables: Tables, status: CloudCartStatus, where: str
) -> None:
    with pytest.raises(UnknownStatusCode) as info:
        to_canonical(tables, "cloudcart", status, where=Where.body())
    assert info.value.where == where


@pytest.mark.parametrize(("platform", "status"), [("cscart", " "), ("cloudcart", "")])
def test_empty_code_is_invalid(tables: Tables, platform: str, status: str) -> None:
    with pytest.raises(InvalidStatus):
        to_canonical(tables, platform, status, lenient=True)


def test_object_status_is_cloudcart_only(tables: Tables) -> None:
    with pytest.raises(InvalidStatus):
        to_canonical(tables, "cscart", CloudCartStatus("P"))


def test_fbo_variant_of_packed(tables: Tables) -> None:
    result = to_canonical(tables, "kak2c", "PACKED", variant="fbo")
    assert result.canonical.code is Code.PACKED
    assert result.canonical.detail == "documents_required"
    assert result.canonical.action_required is Action.MERCHANT
    assert result.native.label == "Packed, documents required"
    plain = to_canonical(tables, "kak2c", "SHIPPED", variant="fbo")
    assert plain.canonical == to_canonical(tables, "kak2c", "SHIPPED").canonical


def test_unknown_variant_is_refused(tables: Tables) -> None:
    with pytest.raises(UnknownVariant) as info:
        to_canonical(tables, "kak2c", "PACKED", variant="express")
    assert info.value.extensions["valid"] == ["fbo"]
    with pytest.raises(UnknownVariant):
        to_canonical(tables, "cscart", "P", variant="fbo")


# ---------------------------------------------------------------- translations kept by the tables


def _tenant_code(canonical: str, label: str) -> TenantMapping:
    """A code of a tenant's own, labelled `label` in every language."""
    labels = dict.fromkeys(("ru", "en", "fr", "el"), label)
    return TenantMapping(canonical=Code(canonical), label=label, description=label, labels=labels)


@pytest.mark.parametrize(
    ("platform", "status", "again"),
    [
        ("cscart", "P", "p"),
        ("kak2c", "ORDER_INFO_PACKED", "packed"),
        ("cloudcart", CloudCartStatus("paid", "authorized"), CloudCartStatus("PAID", "Authorized")),
    ],
    ids=["one code", "prefix dropped", "three parts"],
)
def test_a_table_rows_translation_is_made_once(
    tables: Tables, platform: str, status: str | CloudCartStatus, again: str | CloudCartStatus
) -> None:
    first = to_canonical(tables, platform, status)
    assert to_canonical(tables, platform, again) is first  # the same code, however it is written


def test_a_kept_translation_still_refuses_an_unknown_variant(tables: Tables) -> None:
    to_canonical(tables, "kak2c", "ORDER_INFO_PACKED")
    with pytest.raises(UnknownVariant):
        to_canonical(tables, "kak2c", "ORDER_INFO_PACKED", variant="nope")
    fbo = to_canonical(tables, "kak2c", "ORDER_INFO_PACKED", variant="fbo")
    assert fbo is not to_canonical(tables, "kak2c", "ORDER_INFO_PACKED")
    assert fbo is to_canonical(tables, "kak2c", "ORDER_INFO_PACKED", variant="fbo")


def test_a_tenants_own_code_is_never_kept_for_others(tables: Tables) -> None:
    mine = Custom(statuses={"ZZ": _tenant_code("packing", "Mine")})
    theirs = Custom(statuses={"ZZ": _tenant_code("shipped", "Theirs")})
    assert to_canonical(tables, "cscart", "ZZ", custom=mine).native.label == "Mine"
    assert to_canonical(tables, "cscart", "ZZ", custom=theirs).native.label == "Theirs"
    assert to_canonical(tables, "cscart", "ZZ", custom=theirs).canonical.code is Code.SHIPPED
    with pytest.raises(UnknownStatusCode):
        to_canonical(tables, "cscart", "ZZ")


def test_a_lenient_answer_with_an_unknown_part_is_never_kept(tables: Tables) -> None:
    status = CloudCartStatus("paid", "no-such-payment")
    lenient = to_canonical(tables, "cloudcart", status, lenient=True)
    assert [ref.known for _, ref in lenient.parts] == [False]
    with pytest.raises(UnknownStatusCode):
        to_canonical(tables, "cloudcart", status)
