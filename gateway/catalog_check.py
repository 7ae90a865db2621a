"""Checks that the catalogs in locales/ cover the tables in mappings/: complete, translated, true
to the seeds' own wording. Used by `gateway check-mappings` and by the test suite.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from gateway.i18n import DOMAIN, LANGUAGES
from gateway.tables.extract import PLATFORM_TABLES, iter_messages

Key = tuple[str, str]  # (msgctxt, msgid)

# A translation must be written in the language's own script (no English left behind).
SCRIPTS = {"ru": re.compile("[\u0401\u0410-\u044f\u0451]"), "el": re.compile("[\u0370-\u03ff]")}


# Texts that are not in a mapping table but are translated the same way.
FBO_MESSAGES = Path(__file__).resolve().parent / "fbo" / "messages.toml"
UI_MESSAGES = sorted((Path(__file__).resolve().parent / "web").glob("*_messages.toml"))


def expected_messages(mappings_dir: Path) -> dict[Key, str]:
    """Every (context, msgid) the tables (and the FBO and browser texts) need, with the file
    that needs it."""
    found: dict[Key, str] = {}
    for path in [*sorted(mappings_dir.glob("*.toml")), FBO_MESSAGES, *UI_MESSAGES]:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for _, _, (context, msgid), _ in iter_messages(data):
            found.setdefault((context, msgid), path.name)
    return found


def seed_wording(mappings_dir: Path) -> Iterator[tuple[str, Key, str, str]]:
    """(lang, key, original, where) for every `*_original` in the platform tables."""
    for path in sorted(mappings_dir.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        platform, lang = data.get("platform"), data.get("original_lang")
        if platform is None or lang is None:
            continue
        for table, suffix in PLATFORM_TABLES.items():
            for code, row in data.get(table, {}).items():
                rows = [(code, row)] + [
                    (f"{code}.variants.{n}", v) for n, v in row.get("variants", {}).items()
                ]
                for name, r in rows:
                    for field in ("label", "description"):
                        if r.get(f"{field}_original"):
                            yield (
                                lang,
                                (f"{platform}{suffix}", r[field]),
                                r[f"{field}_original"],
                                f"{path.name}: {table}.{name}.{field}_original",
                            )


def _has_words(text: str) -> bool:
    """Whether `text` has letters outside its {placeholders}."""
    return any(c.isalpha() for c in re.sub(r"\{[^}]*\}", "", text))


def _read(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=lang, domain=DOMAIN)


def _entries(catalog: Catalog) -> dict[Key, tuple[str, bool]]:
    out: dict[Key, tuple[str, bool]] = {}
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else str(message.id[0])
        raw = message.string
        string = raw if isinstance(raw, str) else (str(raw[0]) if raw else "")
        out[(message.context or "", msgid)] = (string or "", message.fuzzy)
    return out


def check_catalogs(mappings_dir: Path, locales_dir: Path) -> list[str]:
    """Every problem found, each naming the file and the entry; empty when all is well."""
    problems: list[str] = []
    expected = expected_messages(mappings_dir)
    pot_path = locales_dir / f"{DOMAIN}.pot"
    if not pot_path.is_file():
        return [f"{pot_path}: missing (run the extraction in the README)"]
    pot = set(_entries(_read(pot_path)))
    for key in sorted(set(expected) - pot):
        problems.append(
            f"{pot_path.name}: missing [{key[0]}] {key[1]!r} from {expected[key]} "
            "(re-run pybabel extract)"
        )
    for key in sorted(pot - set(expected)):
        problems.append(f"{pot_path.name}: [{key[0]}] {key[1]!r} is in no table (re-run extract)")

    originals: dict[str, dict[Key, tuple[str, str]]] = {}
    for lang, key, original, where in seed_wording(mappings_dir):
        originals.setdefault(lang, {})[key] = (original, where)

    for lang in LANGUAGES:
        po_path = locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        name = f"{lang}/LC_MESSAGES/{po_path.name}"
        if not po_path.is_file():
            problems.append(f"{name}: missing")
            continue
        entries = _entries(_read(po_path, lang))
        for key in sorted(expected):
            context, msgid = key
            string, fuzzy = entries.get(key, ("", False))
            label = f"{name}: [{context}] {msgid!r}"
            if key not in entries:
                problems.append(f"{label}: missing (run pybabel update)")
            elif not string.strip():
                problems.append(f"{label}: empty msgstr")
            elif fuzzy:
                problems.append(f"{label}: marked fuzzy")
            elif not _has_words(string):
                continue  # only placeholders and punctuation: nothing to write in a script
            elif lang in SCRIPTS and not SCRIPTS[lang].search(string):
                problems.append(f"{label}: {string!r} is not written in {lang}")
            elif lang == "fr" and string.strip().casefold() == msgid.strip().casefold():
                problems.append(f"{label}: left in English")
        for key, (original, where) in sorted(originals.get(lang, {}).items()):
            string = entries.get(key, ("", False))[0]
            if string != original:
                problems.append(
                    f"{name}: [{key[0]}] {key[1]!r} must be the seed's wording "
                    f"{original!r} ({where}), not {string!r}"
                )
        for key in sorted(set(entries) - set(expected)):
            problems.append(f"{name}: [{key[0]}] {key[1]!r} is obsolete (run pybabel update)")
    return problems
