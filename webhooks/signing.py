"""Standard Webhooks v1 signatures: what a receiver checks to trust that a webhook is ours.

The scheme is the one in https://www.standardwebhooks.com: the signed content is
``{webhook-id}.{webhook-timestamp}.{body}``, signed with HMAC-SHA256 under a secret shared with
the receiver (``whsec_`` + base64 of the key). Receivers can use any Standard Webhooks library,
so nothing here may drift from the spec; the tests verify with the reference implementation.

During a secret rotation both the new and the old secret sign, so receivers still holding the
old one keep accepting messages until they switch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
USER_AGENT = "status-gateway-webhooks/1"

_KEY_BYTES = 32
# The spec asks for keys of 24 to 64 bytes; anything shorter is too easy to guess.
_MIN_KEY_BYTES = 24


def new_secret() -> str:
    """A fresh signing secret in the ``whsec_`` format receivers' libraries expect."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(_KEY_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret; ValueError says what is wrong with a bad one.

    Missing ``=`` padding is tolerated because people copy secrets out of UIs and lose it; the
    reference libraries tolerate it too.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret must start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError(
            f"a webhook secret must be {SECRET_PREFIX!r} followed by standard base64"
        ) from None
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(
            f"a webhook secret must hold at least {_MIN_KEY_BYTES} bytes of key, "
            f"this one holds {len(key)}"
        )
    return key


def signature(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per secret, space separated.

    Signing the exact bytes that are sent (not a re-serialisation) is what lets a receiver
    verify before it parses anything.
    """
    if not secrets:
        raise ValueError("at least one secret is needed to sign a webhook")
    content = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1,"
        + base64.b64encode(hmac.new(secret_key(s), content, hashlib.sha256).digest()).decode(
            "ascii"
        )
        for s in secrets
    )


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
