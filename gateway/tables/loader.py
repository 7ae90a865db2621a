"""Read, validate and cross-check every mapping file; errors name the file and the row."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.errors import MappingFileError
from gateway.tables import Tables
from gateway.tables.schema import CanonicalFile, PlatformFile

CANONICAL_FILE = "canonical.toml"


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingFileError(f"{path.name}: cannot read: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingFileError(f"{path.name}: not valid TOML: {exc}") from exc


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def load_canonical(path: Path) -> CanonicalFile:
    try:
        return CanonicalFile.model_validate(_read(path))
    except ValidationError as exc:
        raise MappingFileError(f"{path.name}:\n{_describe(exc)}") from exc


def load_platform(path: Path) -> PlatformFile:
    try:
        table = PlatformFile.model_validate(_read(path))
    except ValidationError as exc:
        raise MappingFileError(f"{path.name}:\n{_describe(exc)}") from exc
    if table.platform != path.stem:
        raise MappingFileError(
            f"{path.name}: platform = {table.platform!r}, expected {path.stem!r}"
        )
    return table


def mapping_version(declared: str, paths: Iterable[Path]) -> str:
    """The declared version plus a digest of every table: it changes exactly when a table does."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return f"{declared}+{digest.hexdigest()[:12]}"


def _cross_check(canonical: CanonicalFile, platforms: dict[str, PlatformFile]) -> None:
    details = set(canonical.details)
    names: dict[str, str] = {}
    for name, table in platforms.items():
        for alias in (name, *table.aliases):
            if alias in names:
                raise MappingFileError(
                    f"{name}.toml: name or alias {alias!r} is already used by {names[alias]}.toml"
                )
            names[alias] = name
        for code, row in table.statuses.items():
            used = [row.detail, *(v.detail for v in row.variants.values())]
            for detail in used:
                if detail is not None and detail not in details:
                    raise MappingFileError(
                        f"{name}.toml: statuses.{code}: detail {detail!r} is not declared in "
                        f"{CANONICAL_FILE} [details]"
                    )
        for canonical_code, target in table.targets.items():
            for detail in target.by_detail:
                if detail not in details:
                    raise MappingFileError(
                        f"{name}.toml: targets.{canonical_code}.by_detail: {detail!r} is not "
                        f"declared in {CANONICAL_FILE} [details]"
                    )


def load_tables(directory: Path) -> Tables:
    """Load mappings/: canonical.toml and every other *.toml as a platform table."""
    canonical_path = directory / CANONICAL_FILE
    if not canonical_path.is_file():
        raise MappingFileError(f"{canonical_path}: missing")
    canonical = load_canonical(canonical_path)
    paths = sorted(p for p in directory.glob("*.toml") if p.name != CANONICAL_FILE)
    if not paths:
        raise MappingFileError(f"{directory}: no platform tables")
    platforms = {p.stem: load_platform(p) for p in paths}
    _cross_check(canonical, platforms)
    version = mapping_version(canonical.version, [canonical_path, *paths])
    return Tables(canonical=canonical, platforms=platforms, version=version)
