"""webhooks.custom_headers: which of an endpoint's own headers may be sent, over a table."""

from __future__ import annotations

import pytest

from webhooks.custom_headers import MAX_HEADERS, MAX_TOTAL, RESERVED, checked_headers

ACCEPTED = [
    {},
    {"Authorization": "Bearer shop-token"},
    {"X-Api-Key": "k", "x-route": "eu-1"},
    {"X-Empty": ""},
    {"X-Spaces": "  padded  "},
    {f"X-H{i}": "v" for i in range(MAX_HEADERS)},
]

REFUSED = [
    ({f"X-H{i}": "v" for i in range(MAX_HEADERS + 1)}, "at most"),
    ({"": "v"}, "not a header name"),
    ({"Bad Name": "v"}, "not a header name"),
    ({"X-Ünï": "v"}, "not a header name"),
    ({"X-" + "a" * 63: "v"}, "not a header name"),
    ({"X-A": "line\r\nInjected: yes"}, "one line"),
    ({"X-A": "tab\tinside"}, "one line"),
    ({"X-A": "naïve"}, "one line"),
    ({"X-A": "v" * 1_001}, "one line"),
    ({"X-A": "1", "x-a": "2"}, "named twice"),
    ({f"X-H{i}": "v" * 900 for i in range(5)}, f"more than {MAX_TOTAL}"),
    *[({name.title(): "v"}, "set by the gateway") for name in sorted(RESERVED)],
    ({"Webhook-Signature": "v1,forged"}, "set by the gateway"),
    ({"webhook-id": "msg_1"}, "set by the gateway"),
    ({"Proxy-Authorization": "x"}, "set by the gateway"),
]


@pytest.mark.parametrize("headers", ACCEPTED)
def test_headers_that_may_be_sent(headers: dict[str, str]) -> None:
    assert checked_headers(headers) == {n: v.strip() for n, v in headers.items()}


@pytest.mark.parametrize(("headers", "why"), REFUSED)
def test_headers_that_may_not_be_sent_say_why(headers: dict[str, str], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        checked_headers(headers)
