"""gateway.render and the catalogs' label lookups, over every status the tables can produce."""

from __future__ import annotations

import pytest

from gateway import i18n, render
from gateway.canonical import CanonicalStatus
from gateway.i18n import LANGUAGES, Catalogs
from gateway.render import Renderer
from gateway.runtime import Runtime
from gateway.tables import Tables
from gateway.tables.loader import load_tables
from gateway.tracking import CANONICAL_FIELDS, canonical_doc
from gateway.translate import row_status
from tests.conftest import ROOT

LABELS = ("label", "description", "stage_label", "detail_label", "detail_description")


def every_status() -> list[tuple[str, CanonicalStatus]]:
    tables: Tables = load_tables(ROOT / "mappings")
    found: dict[str, CanonicalStatus] = {}
    for platform, table in tables.platforms.items():
        for code, row in table.statuses.items():
            found[f"{platform}.{code}"] = row_status(tables.canonical, row)
            for name, variant in row.variants.items():
                found[f"{platform}.{code}.{name}"] = row_status(tables.canonical, row, variant)
    return sorted(found.items())


STATUSES = every_status()


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("where", "status"), STATUSES, ids=[w for w, _ in STATUSES])
def test_a_stored_status_renders_like_the_status_itself(
    runtime: Runtime, where: str, status: CanonicalStatus, lang: str
) -> None:
    renderer = runtime.renderer
    stored = canonical_doc(status)
    assert tuple(stored) == CANONICAL_FIELDS
    rendered = renderer.canonical(status, lang)
    assert renderer.stored_canonical(stored, lang) == rendered, where
    assert tuple(rendered) == CANONICAL_FIELDS + LABELS
    assert rendered["label"], where


def test_a_stored_status_renders_only_its_own_fields(runtime: Runtime) -> None:
    _, status = STATUSES[0]
    stored = {**canonical_doc(status), "leftover": "from another version"}
    assert "leftover" not in runtime.renderer.stored_canonical(stored, "en")


def test_each_caller_gets_its_own_copy_of_a_kept_document(runtime: Runtime) -> None:
    _, status = STATUSES[0]
    stored = canonical_doc(status)
    first = runtime.renderer.stored_canonical(stored, "en")
    first["label"] = "changed by a caller"
    assert runtime.renderer.stored_canonical(stored, "en")["label"] != "changed by a caller"
    native = {"code": "P", "context": "cscart", "label": "Processed", "description": "x"}
    runtime.renderer.stored_native(native, "en")["label"] = "changed by a caller"
    assert runtime.renderer.stored_native(native, "en")["label"] != "changed by a caller"


def test_kept_documents_are_per_language(runtime: Runtime) -> None:
    _, status = STATUSES[0]
    stored = canonical_doc(status)
    labels = {lang: runtime.renderer.stored_canonical(stored, lang)["label"] for lang in LANGUAGES}
    assert labels == {lang: runtime.renderer.canonical(status, lang)["label"] for lang in LANGUAGES}
    assert len(set(labels.values())) == len(LANGUAGES)


def test_a_tenants_own_texts_are_not_taken_for_the_tables_code(runtime: Runtime) -> None:
    """The same code and msgids with a tenant's texts renders the tenant's label."""
    ref = {"code": "ZZ", "context": "cscart", "label": "Own", "description": "Own code"}
    plain = runtime.renderer.stored_native(ref, "en")
    own = runtime.renderer.stored_native({**ref, "texts": [["en", "Mine", "My own"]]}, "en")
    assert own["label"] == "Mine"
    assert runtime.renderer.stored_native(ref, "en") == plain


def test_kept_documents_stay_bounded(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    renderer = Renderer(runtime.tables, runtime.catalogs)
    monkeypatch.setattr(render, "KEPT_LABELLED", 5)
    for n in range(20):  # known codes as sources spell them: each spelling is its own key
        doc = {"code": f"p{n}", "context": "cscart", "label": "Processed", "description": "x"}
        assert renderer.stored_native(doc, "en")["code"] == f"p{n}"
    assert len(renderer._labelled_kept) <= 5


def test_catalog_lookups_are_remembered_and_stay_bounded(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalogs: Catalogs = i18n.load_catalogs(ROOT / "locales")
    direct = runtime.catalogs.translations["el"].pgettext("canonical", "Draft")
    assert direct != "Draft"
    assert catalogs.pgettext("el", "canonical", "Draft") == direct
    assert catalogs.pgettext("el", "canonical", "Draft") == direct  # from the memo
    monkeypatch.setattr(i18n, "MEMO_LIMIT", 3)
    for n in range(10):  # msgids no catalog has (a tenant's own codes) come back as they are
        assert catalogs.pgettext("fr", "cscart", f"Own status {n}") == f"Own status {n}"
    assert len(catalogs._memo) <= 3
