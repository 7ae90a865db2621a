"""Localize translation results and vocabularies into the JSON the API answers with.

Pure functions of (tables, catalogs, language): the same inputs always give the same document,
which is what lets the HTTP layer cache answers and send ETags.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.canonical import CanonicalStatus, Code, Stage
from gateway.i18n import Catalogs
from gateway.tables import Tables
from gateway.tables.schema import Labelled, NativeLabels, NativeStatus, PlatformFile
from gateway.tracking import CANONICAL_FIELDS, OrderState, canonical_doc
from gateway.translate import NativeRef, TargetChoice, Translation, row_status

Json = dict[str, Any]
KEPT_LABELLED = 4096  # labelled stored statuses a renderer keeps (every one comes from the tables)


@dataclass(frozen=True)
class Renderer:
    """Turns msgids into labels of one language and results into wire documents.

    Stored statuses repeat (a batch of 500 events names a handful of codes), so the labelled
    documents of known codes are kept, by language and the stored fields: a pure function's
    answers, so keeping them changes nothing but the time (about a tenth of the API's CPU per
    event of `POST /v1/events/batch`). Each caller gets its own copy.
    """

    tables: Tables
    catalogs: Catalogs
    _labelled_kept: dict[tuple[Any, ...], Json] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _kept(self, key: tuple[Any, ...], make: Callable[[], Json]) -> Json:
        kept = self._labelled_kept.get(key)
        if kept is None:
            if len(self._labelled_kept) >= KEPT_LABELLED:
                self._labelled_kept.clear()
            kept = self._labelled_kept[key] = make()
        return dict(kept)

    def _t(self, lang: str, context: str, msgid: str) -> str:
        return self.catalogs.pgettext(lang, context, msgid)

    def canonical(self, status: CanonicalStatus, lang: str) -> Json:
        return self._labelled(canonical_doc(status), lang)

    def _labelled(self, doc: Json, lang: str) -> Json:
        """A canonical status document (`canonical_doc`'s shape) with its labels added."""
        model = self.tables.canonical
        code = model.codes[Code(doc["code"])]
        detail = model.details.get(doc["detail"]) if doc["detail"] else None
        stage = model.stages[Stage(doc["stage"])] if doc["stage"] else None
        return {
            **doc,
            "label": self._t(lang, "canonical", code.label),
            "description": self._t(lang, "canonical", code.description),
            "stage_label": self._t(lang, "stage", stage.label) if stage else None,
            "detail_label": self._t(lang, "detail", detail.label) if detail else None,
            "detail_description": self._t(lang, "detail", detail.description) if detail else None,
        }

    def native(self, ref: NativeRef, lang: str) -> Json:
        for text_lang, label, description in ref.texts:
            if text_lang == lang:
                return {"code": ref.code, "label": label, "description": description}
        if ref.context is None or ref.label is None or ref.description is None:
            return {"code": ref.code, "label": None, "description": None}
        return {
            "code": ref.code,
            "label": self._t(lang, ref.context, ref.label),
            "description": self._t(lang, ref.context, ref.description),
        }

    def target(self, choice: TargetChoice, lang: str) -> Json:
        label = choice.label
        return {
            "platform": choice.platform,
            "code": choice.code,
            "label": self._t(lang, choice.platform, label) if label is not None else None,
            "exact": choice.exact,
        }

    def translation(self, result: Translation, target: TargetChoice | None, lang: str) -> Json:
        native = self.native(result.native, lang)
        for part, ref in result.parts:
            native[part] = self.native(ref, lang)
        body: Json = {
            "platform": result.platform,
            "lang": lang,
            "native": native,
            "canonical": self.canonical(result.canonical, lang),
        }
        if target is not None:
            body["target"] = self.target(target, lang)
        body["mapping_version"] = self.tables.version
        return body

    # ---- stored orders ----

    def stored_native(self, doc: Json, lang: str) -> Json:
        """A native reference as `gateway.recording` stored it, localized."""
        if doc["context"] is not None and not doc.get("texts") and not doc.get("parts"):
            key = ("native", lang, doc["code"], doc["context"], doc["label"], doc["description"])
            return self._kept(key, lambda: self._stored_native(doc, lang))
        return self._stored_native(doc, lang)

    def _stored_native(self, doc: Json, lang: str) -> Json:
        texts = tuple((t[0], t[1], t[2]) for t in doc.get("texts") or ())
        ref = NativeRef(
            doc["code"],
            doc["context"],
            doc["label"],
            doc["description"],
            known=doc["context"] is not None,
            texts=texts,
        )
        out = self.native(ref, lang)
        for part, sub in (doc.get("parts") or {}).items():
            out[part] = self.stored_native(sub, lang)
        return out

    def stored_canonical(self, doc: Json, lang: str) -> Json:
        """A canonical status as `gateway.tracking` stored it, labelled (only its own fields)."""
        key = (lang, *(doc[name] for name in CANONICAL_FIELDS))
        return self._kept(
            key, lambda: self._labelled({name: doc[name] for name in CANONICAL_FIELDS}, lang)
        )

    def order(self, state: OrderState, timeline: list[Json], lang: str) -> Json:
        """An order's current state and its whole timeline, localized."""
        superseded = {e["supersedes"]: e["n"] for e in timeline if e.get("supersedes")}
        current = state.current
        return {
            "platform": state.platform,
            "order_id": state.order_id,
            "lang": lang,
            "sequence": state.sequence,
            "current": self.stored_canonical(current.canonical, lang),
            "native": self.stored_native(current.native, lang),
            "occurred_at": current.occurred_at,
            "created_at": state.created_at,
            "updated_at": state.updated_at,
            "violations": state.violations,
            "timeline": [
                {
                    "n": e["n"],
                    "native": self.stored_native(e["native"], lang),
                    "canonical": self.stored_canonical(e["canonical"], lang),
                    "occurred_at": e["occurred_at"],
                    "received_at": e["received_at"],
                    "time_source": e["time_source"],
                    "event_id": e["event_id"],
                    "applied": e["applied"],
                    "changed": e["changed"],
                    "sequence": e["sequence"],
                    "regression": e["regression"],
                    "late": e["late"],
                    "violation": e["violation"],
                    "supersedes": e["supersedes"],
                    "superseded_by": superseded.get(e["n"]),
                }
                for e in timeline
            ],
            "mapping_version": self.tables.version,
        }

    def public_order(self, state: OrderState, timeline: list[Json], lang: str) -> Json:
        """What a buyer may see of an order: its canonical states over time, localized; no
        native codes, no event ids, no other order."""
        changes = sorted(
            (e for e in timeline if e["changed"] and e["sequence"] is not None),
            key=lambda e: int(e["sequence"]),
        )
        return {
            "lang": lang,
            "order_id": state.order_id,
            "sequence": state.sequence,
            "current": self.stored_canonical(state.current.canonical, lang),
            "occurred_at": state.current.occurred_at,
            "updated_at": state.updated_at,
            "timeline": [
                {
                    "sequence": e["sequence"],
                    "occurred_at": e["occurred_at"],
                    "status": self.stored_canonical(e["canonical"], lang),
                }
                for e in changes
            ],
        }

    # ---- vocabularies ----

    def _labels(self, context: str, row: NativeLabels | Labelled, lang: str) -> Json:
        return {
            "label": self._t(lang, context, row.label),
            "description": self._t(lang, context, row.description),
        }

    def _status_entry(self, table: PlatformFile, code: str, row: NativeStatus, lang: str) -> Json:
        model = self.tables.canonical
        entry: Json = {
            "code": code,
            **self._labels(table.platform, row, lang),
            "settable": row.settable,
            "canonical": self.canonical(row_status(model, row), lang),
        }
        if row.variants:
            entry["variants"] = [
                {
                    "variant": name,
                    **self._labels(table.platform, v, lang),
                    "canonical": self.canonical(row_status(model, row, v), lang),
                }
                for name, v in row.variants.items()
            ]
        return entry

    def platform_summary(self, table: PlatformFile) -> Json:
        parts = ["order"]
        if table.payment_statuses:
            parts.append("payment")
        if table.fulfillment_statuses:
            parts.append("fulfillment")
        return {
            "platform": table.platform,
            "name": table.name,
            "aliases": list(table.aliases),
            "source": table.source,
            "status_parts": parts,
            "code_prefix": table.prefix,
            "status_count": len(table.statuses),
            "variants": sorted({v for r in table.statuses.values() for v in r.variants}),
        }

    def platforms(self) -> Json:
        return {
            "platforms": [self.platform_summary(t) for t in self.tables.platforms.values()],
            "mapping_version": self.tables.version,
        }

    def platform_statuses(self, table: PlatformFile, lang: str) -> Json:
        body: Json = {
            **self.platform_summary(table),
            "lang": lang,
            "statuses": [self._status_entry(table, c, r, lang) for c, r in table.statuses.items()],
        }
        for part, rows, axis in (
            ("payment", table.payment_statuses, "payment"),
            ("fulfillment", table.fulfillment_statuses, "fulfillment"),
        ):
            if rows:
                context = f"{table.platform}.{part}"
                body[f"{part}_statuses"] = [
                    {"code": c, **self._labels(context, r, lang), axis: getattr(r, axis).value}
                    for c, r in rows.items()
                ]
        body["targets"] = {
            code.value: {"code": t.code, "exact": t.exact, "by_detail": dict(t.by_detail)}
            for code, t in table.targets.items()
        }
        body["mapping_version"] = self.tables.version
        return body

    def vocabulary(self, lang: str) -> Json:
        model = self.tables.canonical

        def listing(context: str, rows: dict[Any, Any]) -> list[Json]:
            return [
                {"code": str(getattr(k, "value", k)), **self._labels(context, r, lang)}
                for k, r in rows.items()
            ]

        return {
            "lang": lang,
            "codes": [
                {
                    "code": code.value,
                    "stage": row.stage.value if row.stage else None,
                    "terminal": row.terminal,
                    "payment": row.payment.value,
                    "fulfillment": row.fulfillment.value,
                    **self._labels("canonical", row, lang),
                }
                for code, row in model.codes.items()
            ],
            "stages": listing("stage", model.stages),
            "details": listing("detail", model.details),
            "payment": listing("payment", model.payment),
            "fulfillment": listing("fulfillment", model.fulfillment),
            "actions": listing("action", model.actions),
            "mapping_version": self.tables.version,
        }
