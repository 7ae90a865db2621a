"""The committed catalogs: complete in four languages, no English left, seeds' wording kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from gateway.catalog_check import check_catalogs, expected_messages, seed_wording
from gateway.i18n import LANGUAGES, load_catalogs
from tests.conftest import ROOT

MAPPINGS = ROOT / "mappings"
LOCALES = ROOT / "locales"


def test_catalogs_are_complete_and_true_to_the_seeds() -> None:
    assert check_catalogs(MAPPINGS, LOCALES) == []


def test_every_canonical_detail_and_native_code_has_both_texts_in_every_language() -> None:
    catalogs = load_catalogs(LOCALES)
    for context, msgid in expected_messages(MAPPINGS):
        for lang in LANGUAGES:
            assert catalogs.pgettext(lang, context, msgid).strip(), (lang, context, msgid)


@pytest.mark.parametrize(
    ("lang", "key", "original", "where"),
    list(seed_wording(MAPPINGS)),
    ids=lambda v: v if isinstance(v, str) and v.endswith("original") else "",
)
def test_seed_wording_is_what_the_catalog_says(
    lang: str, key: tuple[str, str], original: str, where: str
) -> None:
    assert load_catalogs(LOCALES, [lang]).pgettext(lang, *key) == original, where


def test_seed_wording_covers_each_platforms_original_language() -> None:
    langs = {(lang, key[0].split(".")[0]) for lang, key, _, _ in seed_wording(MAPPINGS)}
    assert {("ru", "kak2c"), ("ru", "measoft"), ("fr", "cscart"), ("el", "cloudcart")} <= langs


@pytest.fixture
def locales(tmp_path: Path) -> Path:
    target = tmp_path / "locales"
    shutil.copytree(LOCALES, target)
    return target


def _edit(locales: Path, lang: str, context: str, msgid: str, string: str) -> None:
    path = locales / lang / "LC_MESSAGES" / "gateway.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    message = catalog.get(msgid, context=context)
    assert message is not None
    message.string = string
    with path.open("wb") as f:
        write_po(f, catalog, width=0)


@pytest.mark.parametrize(
    ("lang", "context", "msgid", "string", "complaint"),
    [
        ("ru", "canonical", "Delivered", "", "empty msgstr"),
        ("ru", "canonical", "Delivered", "Delivered", "is not written in ru"),
        ("el", "detail", "Chargeback", "Chargeback", "is not written in el"),
        ("fr", "canonical", "Lost", "lost", "left in English"),
        ("ru", "kak2c", "Draft", "Набросок", "must be the seed's wording"),
        ("fr", "cscart", "Open", "Ouverte", "must be the seed's wording"),
        ("el", "cloudcart", "Paid", "Εξοφλημένη", "must be the seed's wording"),
    ],
)
def test_a_broken_catalog_is_reported_with_file_and_entry(
    locales: Path, lang: str, context: str, msgid: str, string: str, complaint: str
) -> None:
    _edit(locales, lang, context, msgid, string)
    problems = check_catalogs(MAPPINGS, locales)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{lang}/LC_MESSAGES/gateway.po: [{context}] {msgid!r}")
    assert complaint in problems[0]


def test_a_label_missing_from_the_template_is_reported(locales: Path) -> None:
    pot = locales / "gateway.pot"
    with pot.open("rb") as f:
        catalog = read_po(f)
    catalog.delete("Lost", context="canonical")
    with pot.open("wb") as f:
        write_po(f, catalog, width=0)
    problems = check_catalogs(MAPPINGS, locales)
    assert any(p.startswith("gateway.pot: missing [canonical] 'Lost'") for p in problems)
