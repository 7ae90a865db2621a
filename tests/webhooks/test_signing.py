"""Signatures checked by the reference Standard Webhooks library, exactly as a receiver would."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks.signing import SECRET_PREFIX, headers, new_secret, secret_key, signature

BODY = json.dumps(
    {"type": "order.status", "label": "Παραδόθηκε", "order_id": "A-1"}, ensure_ascii=False
).encode()
OLD = new_secret()
NEW = new_secret()


def signed(secrets: list[str], body: bytes = BODY) -> dict[str, str]:
    # The receiver refuses timestamps more than 5 minutes off, so sign "now".
    return headers("msg_2abc", int(time.time()), body, secrets, "el")


@pytest.mark.parametrize("secrets", [[NEW], [NEW, OLD]], ids=["one", "rotation"])
@pytest.mark.parametrize("receiver_has", [NEW, OLD])
def test_receiver_verifies(secrets: list[str], receiver_has: str) -> None:
    sent = signed(secrets)
    if receiver_has in secrets:
        assert Webhook(receiver_has).verify(BODY, sent)["label"] == "Παραδόθηκε"
    else:
        with pytest.raises(WebhookVerificationError):
            Webhook(receiver_has).verify(BODY, sent)


def test_rotation_signs_with_each_secret_once() -> None:
    value = signed([NEW, OLD])["webhook-signature"]
    assert len(value.split(" ")) == 2
    assert all(part.startswith("v1,") for part in value.split(" "))
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, signed([NEW, OLD]))


@pytest.mark.parametrize(
    "body",
    [BODY.replace(b"A-1", b"A-2"), BODY + b" ", BODY.replace("Παραδόθηκε".encode(), b"x")],
    ids=["changed", "appended", "replaced"],
)
def test_tampered_body_fails(body: bytes) -> None:
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(body, signed([NEW]))


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp"])
def test_tampered_header_fails(header: str) -> None:
    sent = signed([NEW])
    sent[header] = sent[header] + "1"
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(BODY, sent)


def test_headers() -> None:
    sent = headers("msg_1", 1_700_000_000, b"{}", [NEW], "fr")
    assert sent["webhook-id"] == "msg_1"
    assert sent["webhook-timestamp"] == "1700000000"
    assert sent["webhook-signature"] == signature([NEW], "msg_1", 1_700_000_000, b"{}")
    assert sent["content-type"] == "application/json"
    assert sent["content-language"] == "fr"
    assert sent["user-agent"] == "status-gateway-webhooks/1"


def test_signature_is_deterministic_and_known() -> None:
    # A fixed vector so a change of the signed content is caught even if both sides moved.
    secret = SECRET_PREFIX + base64.b64encode(bytes(range(32))).decode()
    at = datetime.fromtimestamp(1_700_000_000, UTC)
    expected = Webhook(secret).sign("msg_1", at, "{}")
    assert signature([secret], "msg_1", 1_700_000_000, b"{}") == expected


def test_new_secret() -> None:
    made = [new_secret() for _ in range(50)]
    assert len(set(made)) == len(made)
    for secret in made:
        assert secret.startswith("whsec_")
        encoded = secret.removeprefix("whsec_")
        assert len(base64.b64decode(encoded, validate=True)) == 32
        assert secret_key(secret) == base64.b64decode(encoded)


def test_secret_without_padding_is_accepted() -> None:
    secret = new_secret()
    assert secret_key(secret.rstrip("=")) == secret_key(secret)


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "whsec_",
        base64.b64encode(bytes(32)).decode(),  # no prefix
        "whsec_" + base64.b64encode(bytes(23)).decode(),  # too short
        "whsec_not*base64!",
        "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),  # URL-safe alphabet
    ],
    ids=["empty", "prefix-only", "no-prefix", "short", "garbage", "urlsafe"],
)
def test_malformed_secret(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        secret_key(secret)
    with pytest.raises(ValueError, match="webhook secret"):
        signature([secret], "msg_1", 1, b"{}")


def test_no_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        signature([], "msg_1", 1, b"{}")
