"""The mapping tables in memory: the canonical model, one table per platform, their version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.errors import UnknownPlatform
from gateway.tables.schema import CanonicalFile, PlatformFile

if TYPE_CHECKING:
    from gateway.translate import Translation

__all__ = ["Tables"]


@dataclass(frozen=True)
class Tables:
    """Every mapping file, validated and cross-checked (see `gateway.tables.loader`)."""

    canonical: CanonicalFile
    platforms: dict[str, PlatformFile]
    version: str
    names: dict[str, str] = field(init=False)
    # Translations of the tables' own rows, by (platform, code, variant) or, for three-part
    # statuses, (platform, order, payment, fulfillment) codes: a pure function of the tables,
    # kept once made (`gateway.translate.to_canonical`). Bounded: only the rows' codes are keys.
    translations: dict[tuple[str | None, ...], Translation] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "translations", {})
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
