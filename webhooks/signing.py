"""Standard Webhooks signatures: what a receiver checks to trust that a webhook is ours.

The scheme is the one in https://www.standardwebhooks.com: the signed content is
``{webhook-id}.{webhook-timestamp}.{body}``, signed in one of the spec's two ways:

* ``v1``: HMAC-SHA256 under a secret shared with the receiver (``whsec_`` + base64 of the key);
* ``v1a``: Ed25519 under a signing key only the gateway holds (``whsk_`` + base64 of its 32-byte
  seed); the receiver verifies with the public key (``whpk_`` + base64 of its 32 raw bytes), which
  can be shown any time because it cannot sign.

Receivers can use any Standard Webhooks library, so nothing here may drift from the spec; the
tests verify ``v1`` with the reference implementation and ``v1a`` with `cryptography` (the
reference Python library does not check ``v1a`` yet).

During a rotation both the new and the old secret (or key) sign, so receivers still holding the
old one keep accepting messages until they switch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal, get_args

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SECRET_PREFIX = "whsec_"
SIGNING_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"
USER_AGENT = "status-gateway-webhooks/1"
Scheme = Literal["v1", "v1a"]
SCHEMES: tuple[str, ...] = get_args(Scheme)

_KEY_BYTES = 32
# The spec asks for keys of 24 to 64 bytes; anything shorter is too easy to guess.
_MIN_KEY_BYTES = 24
_SEED_BYTES = 32  # an Ed25519 private key is its 32-byte seed


def new_secret() -> str:
    """A fresh signing secret in the ``whsec_`` format receivers' libraries expect."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(_KEY_BYTES)).decode("ascii")


def new_signing_key() -> str:
    """A fresh Ed25519 signing key, ``whsk_`` + base64 of its seed (it never leaves the
    gateway; receivers get `public_key` of it)."""
    return SIGNING_KEY_PREFIX + base64.b64encode(_secrets.token_bytes(_SEED_BYTES)).decode("ascii")


def _decoded(value: str, prefix: str, what: str) -> bytes:
    if not value.startswith(prefix):
        raise ValueError(f"{what} must start with {prefix!r}")
    encoded = value[len(prefix) :]
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError(f"{what} must be {prefix!r} followed by standard base64") from None


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret; ValueError says what is wrong with a bad one.

    Missing ``=`` padding is tolerated because people copy secrets out of UIs and lose it; the
    reference libraries tolerate it too.
    """
    key = _decoded(secret, SECRET_PREFIX, "a webhook secret")
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(
            f"a webhook secret must hold at least {_MIN_KEY_BYTES} bytes of key, "
            f"this one holds {len(key)}"
        )
    return key


@lru_cache(maxsize=4096)
def _private_key(signing_key: str) -> Ed25519PrivateKey:
    """The key object of a ``whsk_`` key, made once: making one costs about as much as a
    signature (18 µs against 20 here)."""
    seed = _decoded(signing_key, SIGNING_KEY_PREFIX, "a webhook signing key")
    if len(seed) != _SEED_BYTES:
        raise ValueError(
            f"a webhook signing key must hold a {_SEED_BYTES}-byte Ed25519 seed, "
            f"this one holds {len(seed)} bytes"
        )
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key(signing_key: str) -> str:
    """The ``whpk_`` public key receivers verify ``v1a`` signatures of `signing_key` with."""
    raw = _private_key(signing_key).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def _sign(secret: str, content: bytes) -> str:
    if secret.startswith(SIGNING_KEY_PREFIX):
        return "v1a," + base64.b64encode(_private_key(secret).sign(content)).decode("ascii")
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(
            f"a webhook secret must start with {SECRET_PREFIX!r} "
            f"(or {SIGNING_KEY_PREFIX!r} for an Ed25519 signing key)"
        )
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one entry per secret (``v1,<base64>`` for a ``whsec_``
    secret, ``v1a,<base64>`` for a ``whsk_`` key), space separated.

    Signing the exact bytes that are sent (not a re-serialisation) is what lets a receiver
    verify before it parses anything.
    """
    if not secrets:
        raise ValueError("at least one secret is needed to sign a webhook")
    content = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(_sign(s, content) for s in secrets)


def headers(
    msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str], lang: str
) -> dict[str, str]:
    """Every header of a webhook request, so callers cannot forget the signed ones."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": signature(secrets, msg_id, int(timestamp), body),
        "content-type": "application/json",
        "content-language": lang,
        "user-agent": USER_AGENT,
    }
