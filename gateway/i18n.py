"""Catalogs and language choice: gettext catalogs from locales/, Accept-Language negotiation.

The committed `.po` files are compiled to `.mo` in memory at start-up (Babel's own technique), so
there is no build step and no binary in git. Domain code hands out msgids; rendering translates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from gateway.errors import MappingFileError, UnsupportedLanguage

LANGUAGES: tuple[str, ...] = ("ru", "en", "fr", "el")
DEFAULT_LANGUAGE = "en"
DOMAIN = "gateway"


MEMO_LIMIT = 100_000  # looked-up labels kept; far more than the catalogs hold in all


@dataclass(frozen=True)
class Catalogs:
    """One compiled catalog per supported language, and a digest of their sources."""

    translations: Mapping[str, Translations]
    version: str
    # Every answer renders labels: a dict lookup instead of three calls into Babel each.
    _memo: dict[tuple[str, str, str], str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def pgettext(self, lang: str, context: str, msgid: str) -> str:
        key = (lang, context, msgid)
        found = self._memo.get(key)
        if found is None:
            found = str(self.translations[lang].pgettext(context, msgid))
            if len(self._memo) >= MEMO_LIMIT:  # msgids beyond the catalogs' (tenant codes)
                self._memo.clear()
            self._memo[key] = found
        return found


def load_catalogs(directory: Path, languages: Iterable[str] = LANGUAGES) -> Catalogs:
    """Read locales/<lang>/LC_MESSAGES/gateway.po for every language and compile it in memory."""
    translations: dict[str, Translations] = {}
    digest = hashlib.sha256()
    for lang in languages:
        path = directory / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        try:
            raw = path.read_bytes()
            catalog = read_po(BytesIO(raw), locale=lang, domain=DOMAIN)
        except OSError as exc:
            raise MappingFileError(f"{path}: cannot read: {exc.strerror}") from exc
        except Exception as exc:  # babel raises assorted errors on a malformed .po
            raise MappingFileError(f"{path}: not a valid PO file: {exc}") from exc
        buffer = BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        translations[lang] = Translations(buffer, domain=DOMAIN)
        digest.update(raw)
    return Catalogs(translations, digest.hexdigest()[:12])


def parse_accept_language(header: str) -> list[str]:
    """Language tags of an Accept-Language header, best first (q=0 dropped, ties keep order)."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if 0.0 < q <= 1.0:
            ranked.append((-q, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def _negotiate(preferences: list[str]) -> str | None:
    # Babel matches "el-GR" to "el" only when the separator matches the preference strings.
    # It returns the preference's own spelling on an exact match ("EN"), so fold it back.
    normalized = [p.replace("_", "-") for p in preferences]
    found = negotiate_locale(normalized, list(LANGUAGES), sep="-")
    return None if found is None else found.lower().partition("-")[0]


@lru_cache(maxsize=1024)
def choose_language(explicit: str | None, accept_language: str | None, where: str = "lang") -> str:
    """`lang` (a supported language or a regional variant of one) > Accept-Language > English.

    Raises:
        UnsupportedLanguage: `explicit` names no supported language.
    """
    if explicit is not None:
        lang = _negotiate([explicit.strip()])
        if lang is None:
            raise UnsupportedLanguage(explicit, LANGUAGES, where=where)
        return lang
    if accept_language:
        return _negotiate(parse_accept_language(accept_language)) or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE
