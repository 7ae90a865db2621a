"""SecretBox: what GATEWAY_SECRET_KEY seals opens with that key alone, and every failure says
which setting to look at."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from gateway.errors import SecretKeyMissing
from gateway.sealing import SecretBox, box_for
from gateway.settings import Settings

KEYS = [Fernet.generate_key().decode(), "a long random passphrase, not a Fernet key"]


@pytest.mark.parametrize("key", KEYS)
def test_a_text_and_a_document_open_as_they_were_sealed(key: str) -> None:
    box = SecretBox(key)
    token = box.seal_text("whsec_abc")
    assert "whsec_abc" not in token
    assert box.open_text(token) == "whsec_abc"
    assert box.open(box.seal({"login": "shop", "n": 1})) == {"login": "shop", "n": 1}
    assert box.seal_text("same") != box.seal_text("same")  # a fresh IV each time


def test_without_a_key_nothing_is_sealed_or_opened_and_the_error_names_the_setting() -> None:
    box = SecretBox(None, "webhook secrets")
    assert not box.ready
    with pytest.raises(SecretKeyMissing, match=r"webhook secrets .* GATEWAY_SECRET_KEY"):
        box.seal_text("x")
    with pytest.raises(SecretKeyMissing, match="GATEWAY_SECRET_KEY"):
        box.open_text(SecretBox(KEYS[0]).seal_text("x"))


def test_another_key_does_not_open_it() -> None:
    token = SecretBox(KEYS[0], "webhook secrets").seal_text("whsec_abc")
    with pytest.raises(SecretKeyMissing, match="stored webhook secrets do not open"):
        SecretBox(KEYS[1], "webhook secrets").open_text(token)


def test_a_previous_key_opens_what_it_sealed_and_reseal_moves_it_to_the_current_one() -> None:
    old, new = KEYS
    token = SecretBox(old).seal_text("whsec_abc")
    rotating = SecretBox(new, previous=[old])
    assert rotating.open_text(token) == "whsec_abc"
    moved = rotating.reseal(token)
    assert moved is not None
    assert SecretBox(new).open_text(moved) == "whsec_abc"
    assert rotating.reseal(moved) is None  # already under the current key
    with pytest.raises(SecretKeyMissing, match="GATEWAY_SECRET_KEY_PREVIOUS"):
        SecretBox(new).reseal(token)  # no key given opens it


def test_the_settings_give_the_box_both_keys() -> None:
    old, new = KEYS
    token = SecretBox(old).seal_text("x")
    settings = Settings(
        _env_file=None, secret_key=SecretStr(new), secret_key_previous=SecretStr(f" {old} ,")
    )
    assert box_for(settings, "webhook secrets").open_text(token) == "x"
    assert not box_for(Settings(_env_file=None), "webhook secrets").ready
