"""Typed shape of the mapping files: mappings/canonical.toml and one mappings/<platform>.toml each.

Every model refuses unknown keys, so a typo in a table is an error that names the file and row.
Checks that need more than one row live in the model validators; checks across files in the loader.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.canonical import Action, Code, Fulfillment, Payment, Stage

Lang = Literal["ru", "en", "fr", "el"]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Labelled(_Row):
    """Something with an English label and description (both gettext msgids)."""

    label: str = Field(min_length=1)
    description: str = Field(min_length=1)


class StageDef(Labelled):
    pass


class CodeDef(Labelled):
    stage: Stage | None = None
    terminal: bool
    rank: int
    payment: Payment = Payment.UNKNOWN
    fulfillment: Fulfillment = Fulfillment.NOT_FULFILLED


class PaymentDef(Labelled):
    paid: bool | None = None


class CanonicalFile(_Row):
    """mappings/canonical.toml."""

    version: str = Field(min_length=1)
    stages: dict[Stage, StageDef]
    codes: dict[Code, CodeDef]
    payment: dict[Payment, PaymentDef]
    fulfillment: dict[Fulfillment, Labelled]
    actions: dict[Action, Labelled]
    details: dict[str, Labelled]

    @model_validator(mode="after")
    def _complete(self) -> Self:
        for name, enum, table in (
            ("stages", Stage, self.stages),
            ("codes", Code, self.codes),
            ("payment", Payment, self.payment),
            ("fulfillment", Fulfillment, self.fulfillment),
            ("actions", Action, self.actions),
        ):
            missing = [m.value for m in enum if m not in table]
            if missing:
                raise ValueError(f"[{name}] lacks {', '.join(missing)}")
        for code, row in self.codes.items():
            if (row.stage is None) != (code is Code.UNKNOWN):
                raise ValueError(f"codes.{code}: only 'unknown' has no stage")
        return self


class NativeLabels(_Row):
    """Labels of one native code; `*_original` is the seed's own wording in `original_lang`."""

    seed: str | None = None
    label: str = Field(min_length=1)
    label_original: str | None = None
    description: str = Field(min_length=1)
    description_original: str | None = None


class Variant(NativeLabels):
    """Another reading of the same native code, chosen by the event (Kak2c FBO: PACKED)."""

    detail: str | None = None
    payment: Payment | None = None
    fulfillment: Fulfillment | None = None
    paid: bool | None = None
    action: Action | None = None


class NativeStatus(NativeLabels):
    """One native status code and the canonical status it means (spec §4)."""

    canonical: Code
    detail: str | None = None
    payment: Payment | None = None
    fulfillment: Fulfillment | None = None
    paid: bool | None = None
    provisional: bool = False
    action: Action | None = None
    settable: bool = True
    variants: dict[str, Variant] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> Self:
        if self.canonical is Code.UNKNOWN:
            raise ValueError("a table row cannot map to 'unknown'")
        return self


class PaymentStatus(NativeLabels):
    """CloudCart payment status → payment axis."""

    payment: Payment


class FulfillmentStatus(NativeLabels):
    """CloudCart fulfilment status → goods axis, and the headline it refines to."""

    fulfillment: Fulfillment
    refines: Code | None = None
    completes_when_paid: bool = False


class Target(_Row):
    """Canonical → native: the code a system of the platform should set (spec §5)."""

    code: str
    exact: bool
    by_detail: dict[str, str] = Field(default_factory=dict)


class PlatformFile(_Row):
    """mappings/<platform>.toml."""

    platform: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    aliases: tuple[str, ...] = ()
    source: str
    original_lang: Lang
    case: Literal["upper", "lower", "as_is"] = "as_is"
    prefix: str | None = None
    statuses: dict[str, NativeStatus]
    payment_statuses: dict[str, PaymentStatus] = Field(default_factory=dict)
    fulfillment_statuses: dict[str, FulfillmentStatus] = Field(default_factory=dict)
    targets: dict[Code, Target] = Field(default_factory=dict)
    no_target: tuple[Code, ...] = ()
    # Tracking rule (spec §4 CloudCart): once paid, the payment axis may only move on to refunded
    # or disputed; any other move is recorded on the order as a violation and not applied.
    payment_is_final: bool = False

    def normalize(self, code: str) -> str:
        """The table's spelling of an incoming code: case folded, optional prefix added."""
        code = code.strip()
        if self.case == "upper":
            code = code.upper()
        elif self.case == "lower":
            code = code.lower()
        if self.prefix and not code.startswith(self.prefix):
            code = self.prefix + code
        return code

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for table in (self.statuses, self.payment_statuses, self.fulfillment_statuses):
            for code in table:
                if self.normalize(code) != code:
                    raise ValueError(f"{code!r} is not in normal form ({self.normalize(code)!r})")
        self._check_labels_unique()
        self._check_targets()
        return self

    def _check_labels_unique(self) -> None:
        # Labels are gettext msgids within one context: two codes with the same English label
        # would be forced to share every translation.
        groups: list[tuple[str, list[tuple[str, NativeLabels]]]] = [
            (
                "statuses",
                [(c, r) for c, r in self.statuses.items()]
                + [
                    (f"{c}.variants.{v}", vr)
                    for c, r in self.statuses.items()
                    for v, vr in r.variants.items()
                ],
            ),
            ("payment_statuses", list(self.payment_statuses.items())),
            ("fulfillment_statuses", list(self.fulfillment_statuses.items())),
        ]
        for group, rows in groups:
            seen: dict[str, str] = {}
            for code, row in rows:
                if row.label in seen:
                    raise ValueError(
                        f"{group}.{code}: label {row.label!r} is already used by {seen[row.label]}"
                    )
                seen[row.label] = code

    def _check_targets(self) -> None:
        overlap = set(self.targets) & set(self.no_target)
        if overlap:
            raise ValueError(f"in both [targets] and no_target: {', '.join(sorted(overlap))}")
        missing = [
            c.value
            for c in Code
            if c is not Code.UNKNOWN and c not in self.targets and c not in self.no_target
        ]
        if missing:
            raise ValueError(f"no target and not in no_target: {', '.join(missing)}")
        for canonical, target in self.targets.items():
            where = f"targets.{canonical}"
            row = self._settable(where, target.code)
            if target.exact and row.canonical is not canonical:
                raise ValueError(
                    f"{where}: exact, but {target.code!r} means {row.canonical.value!r}"
                )
            for detail, code in target.by_detail.items():
                row = self._settable(f"{where}.by_detail.{detail}", code)
                if row.canonical is not canonical or row.detail != detail:
                    raise ValueError(
                        f"{where}.by_detail.{detail}: {code!r} means "
                        f"{row.canonical.value}/{row.detail}, not {canonical.value}/{detail}"
                    )

    def _settable(self, where: str, code: str) -> NativeStatus:
        row = self.statuses.get(code)
        if row is None:
            raise ValueError(f"{where}: {code!r} is not a {self.platform} status")
        if not row.settable:
            raise ValueError(f"{where}: {code!r} cannot be set on {self.platform}")
        return row
