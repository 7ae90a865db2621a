"""Connector credentials encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key is GATEWAY_SECRET_KEY: a Fernet key as `Fernet.generate_key()` prints it, or any other
text, from which a key is derived with SHA-256 (use a long random passphrase then).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from gateway.errors import SecretKeyMissing


class SecretBox:
    """Seals and opens JSON documents with the gateway's secret key."""

    def __init__(self, key: str | None) -> None:
        self._fernet = Fernet(_fernet_key(key)) if key else None

    @property
    def ready(self) -> bool:
        return self._fernet is not None

    def _box(self) -> Fernet:
        if self._fernet is None:
            raise SecretKeyMissing(
                "connector credentials are stored encrypted, and this gateway has no key: set "
                "GATEWAY_SECRET_KEY (a Fernet key, or a long random passphrase) and restart"
            )
        return self._fernet

    def seal(self, doc: dict[str, Any]) -> str:
        return self._box().encrypt(orjson.dumps(doc)).decode()

    def open(self, token: str) -> dict[str, Any]:
        try:
            opened: dict[str, Any] = orjson.loads(self._box().decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretKeyMissing(
                "the stored connector credentials do not open with GATEWAY_SECRET_KEY (was the "
                "key changed?): store them again"
            ) from exc
        return opened


def _fernet_key(key: str) -> bytes:
    raw = key.encode()
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())
