"""Secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256): connector credentials
(required) and webhook signing secrets (when a key is set).

The key is GATEWAY_SECRET_KEY: a Fernet key as `Fernet.generate_key()` prints it, or any other
text, from which a key is derived with SHA-256 (use a long random passphrase then). To change it,
the keys it replaces go in GATEWAY_SECRET_KEY_PREVIOUS: what they sealed still opens, and
`gateway seal-secrets` seals it again under the new key (`reseal`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from gateway.errors import SecretKeyMissing
from gateway.settings import Settings


class SecretBox:
    """Seals and opens JSON documents and texts with the gateway's secret key; `what` names
    what it keeps, for the errors."""

    def __init__(
        self, key: str | None, what: str = "connector credentials", previous: Sequence[str] = ()
    ) -> None:
        self._fernet = Fernet(_fernet_key(key)) if key else None
        self._what = what
        # opens with the current key first, then with each key it replaced
        self._opener = (
            MultiFernet([self._fernet, *(Fernet(_fernet_key(k)) for k in previous)])
            if self._fernet is not None
            else None
        )

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

    def _open_box(self) -> MultiFernet:
        self._box()  # no key at all: the error that names the setting
        assert self._opener is not None
        return self._opener

    def open_text(self, token: str) -> str:
        try:
            return self._open_box().decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise self._unopened() from exc

    def reseal(self, token: str) -> str | None:
        """`token` sealed under the current key, or None when it already is."""
        try:
            self._box().decrypt(token.encode())
        except InvalidToken:
            pass
        else:
            return None
        try:
            return self._open_box().rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise self._unopened() from exc

    def _unopened(self) -> SecretKeyMissing:
        return SecretKeyMissing(
            f"the stored {self._what} do not open with GATEWAY_SECRET_KEY (was the key "
            "changed? put the one they were stored with in GATEWAY_SECRET_KEY_PREVIOUS), or "
            "store them again"
        )

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


def box_for(settings: Settings, what: str) -> SecretBox:
    """The box GATEWAY_SECRET_KEY (and GATEWAY_SECRET_KEY_PREVIOUS) give, for `what`."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    older = settings.secret_key_previous.get_secret_value() if settings.secret_key_previous else ""
    return SecretBox(key, what, [k.strip() for k in older.split(",") if k.strip()])
