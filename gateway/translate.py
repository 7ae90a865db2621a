"""Native → canonical and canonical → native translation: pure functions over the tables, no I/O.

Labels stay msgids here (English, with their gettext context); `gateway.render` localizes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.canonical import CanonicalStatus, Code, Fulfillment, Payment
from gateway.errors import InvalidStatus, UnknownStatusCode, UnknownVariant
from gateway.platforms import cloudcart
from gateway.tables import Tables
from gateway.tables.schema import (
    CanonicalFile,
    FulfillmentStatus,
    NativeLabels,
    NativeStatus,
    PaymentStatus,
    PlatformFile,
    Variant,
)
from gateway.values import value

PartRow = TypeVar("PartRow", PaymentStatus, FulfillmentStatus)


@dataclass(frozen=True, slots=True)
class CloudCartStatus:
    """CloudCart's three-part status; payment and fulfilment are optional."""

    order: str
    payment: str | None = None
    fulfillment: str | None = None


StatusInput = str | CloudCartStatus


@value
class Where:
    """Where each input came from, so an error can point at it (parameter name or JSON pointer)."""

    platform: str
    status: str
    order: str
    payment: str
    fulfillment: str
    variant: str
    target: str

    @classmethod
    def query(cls) -> Where:
        return cls("platform", "code", "code", "payment", "fulfillment", "variant", "target")

    @classmethod
    def body(cls, base: str = "#") -> Where:
        return cls(
            f"{base}/platform",
            f"{base}/status",
            f"{base}/status/order",
            f"{base}/status/payment",
            f"{base}/status/fulfillment",
            f"{base}/variant",
            f"{base}/target",
        )


@value
class NativeRef:
    """A native code as the source sent it, with the msgids of its label and description."""

    code: str
    context: str | None  # gettext msgctxt of the labels; None for a code the tables do not know
    label: str | None
    description: str | None
    known: bool = True
    # A tenant's own code: (lang, label, description) given by the tenant, not by the catalogs.
    texts: tuple[tuple[str, str, str], ...] = ()


@value
class Translation:
    """The result of translating one native status."""

    platform: str
    native: NativeRef
    parts: tuple[tuple[str, NativeRef], ...]  # CloudCart: ("payment", …), ("fulfillment", …)
    canonical: CanonicalStatus


@dataclass(frozen=True, slots=True)
class TargetChoice:
    """Canonical → native: the code a system of `platform` should set; code None when none fits."""

    platform: str
    code: str | None
    exact: bool
    label: str | None
    description: str | None


def _ref(platform: str, code: str, row: NativeLabels, context: str | None = None) -> NativeRef:
    texts = row.texts() if isinstance(row, CUSTOM_ROWS) else ()
    return NativeRef(code, context or platform, row.label, row.description, texts=texts)


class CustomRow(NativeStatus):
    """A row that is not in the tables but defined by a tenant, with its own texts."""

    def texts(self) -> tuple[tuple[str, str, str], ...]:
        raise NotImplementedError


class CustomPaymentRow(PaymentStatus):
    """A CloudCart payment status a tenant defined, with its own texts."""

    def texts(self) -> tuple[tuple[str, str, str], ...]:
        raise NotImplementedError


class CustomFulfillmentRow(FulfillmentStatus):
    """A CloudCart fulfilment status a tenant defined, with its own texts."""

    def texts(self) -> tuple[tuple[str, str, str], ...]:
        raise NotImplementedError


CUSTOM_ROWS = (CustomRow, CustomPaymentRow, CustomFulfillmentRow)


@dataclass(frozen=True, slots=True)
class Custom:
    """A tenant's own codes of one platform, read where the tables have no row: order statuses
    and (CloudCart) payment and fulfilment parts, by normalized code."""

    statuses: Mapping[str, CustomRow] = field(default_factory=dict)
    payment: Mapping[str, CustomPaymentRow] = field(default_factory=dict)
    fulfillment: Mapping[str, CustomFulfillmentRow] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.statuses or self.payment or self.fulfillment)


def _unknown_ref(code: str) -> NativeRef:
    return NativeRef(code.strip(), None, None, None, known=False)


def unknown_status(
    canonical: CanonicalFile,
    payment: Payment = Payment.UNKNOWN,
    fulfillment: Fulfillment = Fulfillment.UNKNOWN,
) -> CanonicalStatus:
    """The canonical status of a native code the tables do not know (spec §1)."""
    code = canonical.codes[Code.UNKNOWN]
    return CanonicalStatus(
        code=Code.UNKNOWN,
        stage=None,
        detail=None,
        terminal=code.terminal,
        provisional=False,
        paid=canonical.payment[payment].paid,
        payment=payment,
        fulfillment=fulfillment,
        action_required=None,
    )


def row_status(
    canonical: CanonicalFile, row: NativeStatus, variant: Variant | None = None
) -> CanonicalStatus:
    """The canonical status a table row means; a variant overrides what it names."""
    code = canonical.codes[row.canonical]
    v = variant
    payment = (v and v.payment) or row.payment or code.payment
    paid = next(
        (p for p in (v.paid if v else None, row.paid) if p is not None),
        canonical.payment[payment].paid,
    )
    return CanonicalStatus(
        code=row.canonical,
        stage=code.stage,
        detail=(v and v.detail) or row.detail,
        # A provisional code awaits its confirming code, so it cannot be the end (spec §1, §4).
        terminal=code.terminal and not row.provisional,
        provisional=row.provisional,
        paid=paid,
        payment=payment,
        fulfillment=(v and v.fulfillment) or row.fulfillment or code.fulfillment,
        action_required=(v and v.action) or row.action,
    )


def _variant(
    table: PlatformFile, row: NativeStatus, name: str | None, where: str
) -> Variant | None:
    if name is None:
        return None
    if name in row.variants:
        return row.variants[name]
    known = sorted({v for r in table.statuses.values() for v in r.variants})
    if name not in known:
        raise UnknownVariant(
            f"{name!r} is not a {table.platform} status variant"
            + (f"; use one of: {', '.join(known)}" if known else "; it has none"),
            where=where,
            valid=known,
        )
    return None  # a known variant that reads this code no differently


def to_canonical(
    tables: Tables,
    platform: str,
    status: StatusInput,
    *,
    variant: str | None = None,
    lenient: bool = False,
    where: Where | None = None,
    custom: Custom | None = None,
) -> Translation:
    """Translate one native status of `platform` (name or alias) to the canonical model.

    `custom` holds a tenant's own codes of that platform, read where the table has no row.

    Raises:
        UnknownPlatform, UnknownStatusCode (unless lenient), UnknownVariant, InvalidStatus.
    """
    w = where or Where.query()
    table = tables.platform(platform, where=w.platform)
    if table.payment_statuses or table.fulfillment_statuses:
        parts = status if isinstance(status, CloudCartStatus) else CloudCartStatus(status)
        return _three_part(tables, table, parts, lenient=lenient, where=w, custom=custom)
    if not isinstance(status, str):
        part = w.payment if status.payment is not None else w.fulfillment
        raise InvalidStatus(
            f"a {table.platform} status is one code: payment and fulfillment parts are for "
            "three-part platforms (cloudcart)",
            where=part if status.payment or status.fulfillment else w.status,
        )
    code = table.normalize(status)
    row = table.statuses.get(code)
    if row is not None:
        key = (table.platform, code, variant)
        known = tables.translations.get(key)
        if known is None:
            chosen = _variant(table, row, variant, w.variant)
            known = tables.translations[key] = _translation(tables, table, code, row, chosen)
        return known
    row = custom.statuses.get(code) if custom else None
    if row is None:
        if not status.strip():
            raise InvalidStatus("the status code is empty", where=w.status)
        if lenient:
            return Translation(
                table.platform, _unknown_ref(status), (), unknown_status(tables.canonical)
            )
        raise UnknownStatusCode(table.platform, status, list(table.statuses), where=w.status)
    return _translation(tables, table, code, row, _variant(table, row, variant, w.variant))


def _translation(
    tables: Tables, table: PlatformFile, code: str, row: NativeStatus, chosen: Variant | None
) -> Translation:
    labels: NativeLabels = chosen or row
    return Translation(
        table.platform,
        _ref(table.platform, code, labels),
        (),
        row_status(tables.canonical, row, chosen),
    )


def _part(
    table: PlatformFile,
    part: str,
    raw: str | None,
    rows: Mapping[str, PartRow],
    lenient: bool,
    where: str,
    custom: Mapping[str, PartRow],
) -> tuple[PartRow | None, NativeRef | None]:
    """One optional part of a three-part status: its row (None if unknown) and its reference;
    a tenant's own code of that part is read where the table has none."""
    if raw is None:
        return None, None
    code = table.normalize(raw)
    row = rows.get(code) or custom.get(code)
    if row is None:
        if not lenient:
            raise UnknownStatusCode(table.platform, raw, list(rows), part=part, where=where)
        return None, _unknown_ref(raw)
    return row, _ref(table.platform, code, row, f"{table.platform}.{part}")


def _own(rows: Mapping[str, PartRow], code: str | None, row: PartRow | None) -> bool:
    """Whether a part of a three-part status is absent or one of the table's own `rows` (not a
    tenant's code, nor an unknown one)."""
    return code is None or (row is not None and rows.get(code) is row)


def _three_part(
    tables: Tables,
    table: PlatformFile,
    status: CloudCartStatus,
    *,
    lenient: bool,
    where: Where,
    custom: Custom | None = None,
) -> Translation:
    platform = table.platform
    order_code = table.normalize(status.order)
    key = (
        platform,
        order_code,
        None if status.payment is None else table.normalize(status.payment),
        None if status.fulfillment is None else table.normalize(status.fulfillment),
    )
    known = tables.translations.get(key)
    if known is not None:
        return known
    own = custom or Custom()
    order_where = where.order if status.payment or status.fulfillment else where.status
    order = table.statuses.get(order_code) or own.statuses.get(order_code)
    if order is None and not (lenient and status.order.strip()):
        if not status.order.strip():
            raise InvalidStatus("the order status is empty", where=order_where)
        raise UnknownStatusCode(platform, status.order, list(table.statuses), where=order_where)

    payment, payment_ref = _part(
        table,
        "payment",
        status.payment,
        table.payment_statuses,
        lenient,
        where.payment,
        own.payment,
    )
    fulfillment, fulfillment_ref = _part(
        table,
        "fulfillment",
        status.fulfillment,
        table.fulfillment_statuses,
        lenient,
        where.fulfillment,
        own.fulfillment,
    )
    parts = tuple(
        (name, ref)
        for name, ref in (("payment", payment_ref), ("fulfillment", fulfillment_ref))
        if ref is not None
    )
    if order is None:
        canonical = unknown_status(
            tables.canonical,
            payment.payment if payment else Payment.UNKNOWN,
            fulfillment.fulfillment if fulfillment else Fulfillment.UNKNOWN,
        )
        return Translation(platform, _unknown_ref(status.order), parts, canonical)
    canonical = cloudcart.combine(
        tables.canonical, row_status(tables.canonical, order), payment, fulfillment
    )
    translation = Translation(platform, _ref(platform, order_code, order), parts, canonical)
    _, _, payment_code, fulfillment_code = key
    if (
        table.statuses.get(order_code) is order
        and _own(table.payment_statuses, payment_code, payment)
        and _own(table.fulfillment_statuses, fulfillment_code, fulfillment)
    ):  # the tables' own rows alone: the same for every tenant
        tables.translations[key] = translation
    return translation


def to_native(
    tables: Tables, platform: str, status: CanonicalStatus, *, where: str = "target"
) -> TargetChoice:
    """The native code a system of `platform` should set for `status` (spec §5).

    The detail decides where the table says so (canceled/declined_by_merchant → CS-Cart D).
    """
    table = tables.platform(platform, where=where)
    target = table.targets.get(status.code)
    if target is None:
        return TargetChoice(table.platform, None, False, None, None)
    by_detail = target.by_detail.get(status.detail) if status.detail else None
    code, exact = (by_detail, True) if by_detail else (target.code, target.exact)
    row = table.statuses[code]
    return TargetChoice(table.platform, code, exact, row.label, row.description)
