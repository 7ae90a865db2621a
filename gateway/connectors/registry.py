"""The pull connectors the gateway knows, by platform name."""

from __future__ import annotations

from gateway.connectors import cloudcart, cscart, measoft
from gateway.connectors.base import Connector
from gateway.errors import NotFound

CONNECTORS: dict[str, Connector] = {
    "measoft": measoft,
    "cscart": cscart,
    "cloudcart": cloudcart,
}
PLATFORMS = tuple(CONNECTORS)


def check_platform(platform: str) -> Connector:
    found = CONNECTORS.get(platform)
    if found is None:
        raise NotFound(
            f"no connector for {platform!r}; available: {', '.join(PLATFORMS)}",
            where="platform",
            valid=list(PLATFORMS),
        )
    return found
