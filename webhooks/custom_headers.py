"""An endpoint's own request headers, sent with every delivery (a receiver behind an API gateway
that wants a static token, a routing header): what may be set, as a pure rule.

They may not replace what the gateway itself sends or what HTTP needs to stay correct: the
Standard Webhooks headers (anything `webhook-…`), the body's description, the connection's
framing and the proxy headers. Values are one line of visible ASCII (no header injection).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_HEADERS = 10
MAX_NAME = 64
MAX_VALUE = 1_000
MAX_TOTAL = 4_096  # bytes of names and values together: receivers refuse large headers
NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # an RFC 9110 token
VALUE = re.compile(r"[\x20-\x7e]*")  # visible ASCII and spaces: no CR, LF or NUL
RESERVED = frozenset(
    {
        "connection",
        "content-encoding",
        "content-language",
        "content-length",
        "content-type",
        "expect",
        "host",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
    }
)
RESERVED_PREFIXES = ("webhook-", "proxy-")


def checked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` as they will be sent (values stripped of outer spaces); ValueError says what
    is wrong with the first one that may not be sent."""
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers, not {len(headers)}")
    seen: set[str] = set()
    out: dict[str, str] = {}
    for name, value in headers.items():
        folded = name.lower()
        if not NAME.fullmatch(name) or len(name) > MAX_NAME:
            raise ValueError(
                f"{name!r} is not a header name: 1 to {MAX_NAME} letters, digits or !#$%&'*+.^_`|~-"
            )
        if folded in RESERVED or folded.startswith(RESERVED_PREFIXES):
            raise ValueError(f"{name!r} is set by the gateway itself; choose another header")
        if folded in seen:
            raise ValueError(f"{name!r} is named twice (header names ignore case)")
        seen.add(folded)
        if not VALUE.fullmatch(value) or len(value) > MAX_VALUE:
            raise ValueError(
                f"the value of {name!r} must be one line of visible ASCII characters and "
                f"spaces, at most {MAX_VALUE}"
            )
        out[name] = value.strip()
    if sum(len(n) + len(v) for n, v in out.items()) > MAX_TOTAL:
        raise ValueError(f"the headers hold more than {MAX_TOTAL} bytes in all")
    return out
