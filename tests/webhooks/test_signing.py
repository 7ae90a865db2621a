"""Signatures checked as a receiver would: `v1` by the reference Standard Webhooks library, `v1a`
by the README's verifier (on `cryptography`) and against RFC 8032's key derivation."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.webhooks.readme_verifier import verify_v1a
from webhooks.signing import (
    PUBLIC_KEY_PREFIX,
    SECRET_PREFIX,
    SIGNING_KEY_PREFIX,
    headers,
    new_secret,
    new_signing_key,
    public_key,
    secret_key,
    signature,
)

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


# ---------------------------------------------------------------- v1a (Ed25519)

# RFC 8032 §7.1, TEST 1: a seed and the public key it must give.
RFC_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
KEY = new_signing_key()
OLD_KEY = new_signing_key()


def test_the_public_key_is_the_rfc_8032_one_of_the_seed() -> None:
    key = SIGNING_KEY_PREFIX + base64.b64encode(RFC_SEED).decode()
    assert public_key(key) == PUBLIC_KEY_PREFIX + base64.b64encode(RFC_PUBLIC).decode()


def test_a_v1a_signature_verifies_with_cryptography_over_the_signed_content() -> None:
    sent = signed([KEY])
    scheme, _, encoded = sent["webhook-signature"].partition(",")
    assert scheme == "v1a"
    raw = base64.b64decode(public_key(KEY).removeprefix(PUBLIC_KEY_PREFIX))
    content = f"{sent['webhook-id']}.{sent['webhook-timestamp']}.".encode() + BODY
    Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(encoded), content)


@pytest.mark.parametrize(
    "secrets", [[KEY], [KEY, OLD_KEY], [NEW, KEY]], ids=["one", "rotation", "both"]
)
@pytest.mark.parametrize("receiver_has", [KEY, OLD_KEY])
def test_the_readme_verifier_accepts_exactly_the_keys_that_signed(
    secrets: list[str], receiver_has: str
) -> None:
    assert verify_v1a([public_key(receiver_has)], BODY, signed(secrets)) is (
        receiver_has in secrets
    )


def test_both_schemes_in_one_header_each_receiver_checks_its_own() -> None:
    sent = signed([NEW, KEY])
    assert [p.split(",")[0] for p in sent["webhook-signature"].split(" ")] == ["v1", "v1a"]
    assert Webhook(NEW).verify(BODY, sent)["order_id"] == "A-1"  # skips the v1a entry
    assert verify_v1a([public_key(KEY)], BODY, sent)
    assert not verify_v1a([public_key(KEY)], BODY, signed([NEW]))  # a v1 alone is no v1a


@pytest.mark.parametrize(
    "body",
    [BODY.replace(b"A-1", b"A-2"), BODY + b" "],
    ids=["changed", "appended"],
)
def test_a_tampered_v1a_body_fails(body: bytes) -> None:
    assert not verify_v1a([public_key(KEY)], body, signed([KEY]))


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp"])
def test_a_tampered_v1a_header_fails(header: str) -> None:
    sent = signed([KEY])
    sent[header] = sent[header] + "1"
    assert not verify_v1a([public_key(KEY)], BODY, sent)


def test_a_v1a_signature_is_deterministic() -> None:
    # Ed25519 signs deterministically (RFC 8032): the same content gives the same value.
    assert signature([KEY], "msg_1", 1, b"{}") == signature([KEY], "msg_1", 1, b"{}")
    assert signature([KEY], "msg_1", 1, b"{}") != signature([KEY], "msg_1", 2, b"{}")


def test_new_signing_keys_are_distinct_32_byte_seeds() -> None:
    made = [new_signing_key() for _ in range(50)]
    assert len(set(made)) == len(made)
    for key in made:
        assert len(base64.b64decode(key.removeprefix(SIGNING_KEY_PREFIX), validate=True)) == 32
        assert public_key(key).startswith(PUBLIC_KEY_PREFIX)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("whsk_", "32-byte Ed25519 seed"),
        ("whsk_" + base64.b64encode(bytes(31)).decode(), "32-byte Ed25519 seed"),
        ("whsk_" + base64.b64encode(bytes(64)).decode(), "32-byte Ed25519 seed"),
        ("whsk_not*base64!", "standard base64"),
        ("whpk_" + base64.b64encode(RFC_PUBLIC).decode(), "must start with 'whsec_'"),
    ],
    ids=["empty", "short", "long", "garbage", "public-key"],
)
def test_a_malformed_signing_key_says_what_is_wrong(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        signature([key], "msg_1", 1, b"{}")
