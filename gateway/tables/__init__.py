"""The mapping tables in memory: the canonical model, one table per platform, their version."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.errors import UnknownPlatform
from gateway.tables.schema import CanonicalFile, PlatformFile

__all__ = ["Tables"]


@dataclass(frozen=True)
class Tables:
    """Every mapping file, validated and cross-checked (see `gateway.tables.loader`)."""

    canonical: CanonicalFile
    platforms: dict[str, PlatformFile]
    version: str
    names: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        names = {name: name for name in self.platforms}
        for name, table in self.platforms.items():
            for alias in table.aliases:
                names[alias] = name
        object.__setattr__(self, "names", names)

    def platform(self, name: str, *, where: str | None = None) -> PlatformFile:
        """The table of a platform by name or alias (case-insensitive)."""
        table = self.find_platform(name)
        if table is None:
            raise UnknownPlatform(name, self.names, where=where)
        return table

    def find_platform(self, name: str) -> PlatformFile | None:
        """`platform()` without the error: None for a name that is no platform."""
        canonical_name = self.names.get(name.strip().lower())
        return None if canonical_name is None else self.platforms[canonical_name]
