"""The browser pages' own words: English msgids in `*_messages.toml`, translated by the catalogs.

Each file names its page (`ui = "widget"`) and lists `[texts]` key = English text; the gettext
context is `ui.<page>`. The widget gets all four languages baked into its script; the console
fetches one language at a time as JSON.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files

from gateway.i18n import LANGUAGES, Catalogs

PAGES = ("widget", "console")


def english(page: str) -> dict[str, str]:
    """key → English text (the msgid) of one page."""
    data = tomllib.loads((files("gateway.web") / f"{page}_messages.toml").read_text("utf-8"))
    texts: dict[str, str] = data["texts"]
    return texts


def localized(catalogs: Catalogs, page: str, lang: str) -> dict[str, str]:
    """key → text in `lang` of one page."""
    context = f"ui.{page}"
    return {key: catalogs.pgettext(lang, context, text) for key, text in english(page).items()}


def every_language(catalogs: Catalogs, page: str) -> dict[str, dict[str, str]]:
    return {lang: localized(catalogs, page, lang) for lang in LANGUAGES}
