"""Share tokens, pure: issued tokens verify; altered, foreign-keyed and expired ones do not."""

from __future__ import annotations

import pytest

from gateway.shares import PREFIX, ShareClaims, issue, new_key, read, verify

CLAIMS = ShareClaims("shop-1", "cscart", "1207/a", "sh_0123456789abcdef", 2_000_000_000)
KEY = new_key()


def test_an_issued_token_verifies_to_its_claims() -> None:
    token = issue(CLAIMS, KEY)
    assert token.startswith(PREFIX)
    assert verify(token, KEY, now=1_900_000_000) == CLAIMS


def test_an_expired_token_does_not_verify() -> None:
    token = issue(CLAIMS, KEY)
    assert verify(token, KEY, now=CLAIMS.expires) is None


def test_another_key_does_not_verify() -> None:
    assert verify(issue(CLAIMS, KEY), new_key(), now=0) is None


def test_claims_swapped_into_a_genuine_tag_do_not_verify() -> None:
    genuine = issue(CLAIMS, KEY)
    other = issue(ShareClaims("shop-1", "cscart", "9999", CLAIMS.share_id, CLAIMS.expires), KEY)
    forged = other.split(".")[0] + "." + genuine.split(".")[1]
    assert read(forged) is not None
    assert verify(forged, KEY, now=0) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "gws_",
        "gws_abc",
        "gws_a.b.c",
        "gwk_" + "A" * 40,
        "gws_!!!.AAAA",
        "gws_bnVsbA.AAAA",  # "null"
        "gws_WzEsMiwzLDQsNV0.AAAA",  # [1,2,3,4,5]
        "gws_WyJhIiwiYiIsImMiLCJkIiwiZSJd.AAAA",  # expiry not a number
    ],
)
def test_a_malformed_token_reads_as_nothing(token: str) -> None:
    assert read(token) is None
    assert verify(token, KEY, now=0) is None
