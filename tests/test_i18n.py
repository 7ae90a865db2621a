"""Language choice: explicit lang > Accept-Language (q-values, regional variants) > English."""

from __future__ import annotations

import pytest

from gateway.errors import UnsupportedLanguage
from gateway.i18n import choose_language, parse_accept_language


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        ("el-GR,el;q=0.9,en;q=0.8", ["el-GR", "el", "en"]),
        ("en;q=0.5, fr;q=0.9", ["fr", "en"]),
        ("ru;q=0, en", ["en"]),
        ("fr;q=abc, el", ["el"]),
        ("*", []),
        ("", []),
        (" , ;q=1", []),
        ("de;q=2", []),
        ("de, fr", ["de", "fr"]),
    ],
)
def test_accept_language_is_parsed_best_first(header: str, tags: list[str]) -> None:
    assert parse_accept_language(header) == tags


@pytest.mark.parametrize(
    ("explicit", "header", "lang"),
    [
        (None, None, "en"),
        (None, "el-GR,el;q=0.9", "el"),
        (None, "fr-CA", "fr"),
        (None, "pt-BR, de;q=0.9", "en"),
        (None, "de, ru;q=0.5", "ru"),
        (None, "en-US;q=0.1, ru-RU;q=0.8", "ru"),
        (None, "garbage;;;", "en"),
        ("fr", "el", "fr"),
        ("EL", None, "el"),
        ("el-GR", None, "el"),
        ("fr_CA", "ru", "fr"),
        ("ru-RU", "en", "ru"),
    ],
)
def test_language_choice(explicit: str | None, header: str | None, lang: str) -> None:
    assert choose_language(explicit, header) == lang


@pytest.mark.parametrize("value", ["de", "pt-BR", "", "!!", "e", "english"])
def test_unsupported_lang_lists_the_supported_ones(value: str) -> None:
    with pytest.raises(UnsupportedLanguage) as info:
        choose_language(value, "ru")
    assert info.value.extensions["valid"] == ["ru", "en", "fr", "el"]
    assert info.value.where == "lang"
