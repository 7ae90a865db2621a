"""Secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256): connector credentials
(required) and webhook signing secrets (when a key is set).

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
    """Seals and opens JSON documents and texts with the gateway's secret key; `what` names
    what it keeps, for the errors."""

    def __init__(self, key: str | None, what: str = "connector credentials") -> None:
        self._fernet = Fernet(_fernet_key(key)) if key else None
        self._what = what

    @property
    def ready(self) -> bool:
        return self._fernet is not None

    def _box(self) -> Fernet:
        if self._fernet is None:
            raise SecretKeyMissing(
                f"{self._what} are stored encrypted, and this gateway has no key: set "
                "GATEWAY_SECRET_KEY (a Fernet key, or a long random passphrase) and restart"
            )
        return self._fernet

    def seal_text(self, text: str) -> str:
        return self._box().encrypt(text.encode()).decode()

    def open_text(self, token: str) -> str:
        try:
            return self._box().decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyMissing(
                f"the stored {self._what} do not open with GATEWAY_SECRET_KEY (was the key "
                "changed?): set the key they were stored with, or store them again"
            ) from exc

    def seal(self, doc: dict[str, Any]) -> str:
        return self.seal_text(orjson.dumps(doc).decode())

    def open(self, token: str) -> dict[str, Any]:
        opened: dict[str, Any] = orjson.loads(self.open_text(token))
        return opened


def _fernet_key(key: str) -> bytes:
    raw = key.encode()
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())
