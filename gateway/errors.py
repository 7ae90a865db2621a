"""Domain errors: what went wrong, in words an integrator can act on.

Every error a client may see is a `GatewayError`; `gateway.problems` alone turns them into
RFC 9457 documents. `where` says which input was wrong: a JSON pointer into the request body
(``#/items/3/status``) or the name of a path or query parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar


class GatewayError(Exception):
    """Base class of every error a client may see as a problem document."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, detail: str, *, where: str | None = None, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.where = where
        self.extensions = extensions

    @property
    def http_status(self) -> int:
        return self.status


def _sorted(values: Iterable[str]) -> list[str]:
    return sorted(values)


class UnknownPlatform(GatewayError):
    """A platform name (or alias) the gateway does not know."""

    status = 404
    slug = "unknown-platform"
    title = "Unknown platform"

    def __init__(self, name: str, valid: Iterable[str], *, where: str | None = None) -> None:
        super().__init__(
            f"{name!r} is not a platform; use one of: {', '.join(_sorted(valid))}",
            where=where,
            valid=_sorted(valid),
        )

    @property
    def http_status(self) -> int:
        # In a path it names a missing resource; in a body it is an invalid field value.
        return 422 if self.where and self.where.startswith("#") else 404


class UnknownStatusCode(GatewayError):
    """A native status code the platform's table does not know (and lenient mode is off)."""

    status = 422
    slug = "unknown-status-code"
    title = "Unknown status code"

    def __init__(
        self,
        platform: str,
        code: str,
        valid: Iterable[str],
        *,
        part: str = "status",
        where: str | None = None,
    ) -> None:
        what = "status" if part == "status" else f"{part} status"
        super().__init__(
            f"{code!r} is not a {platform} {what}; use one of: {', '.join(valid)}"
            " (or lenient mode to get code 'unknown')",
            where=where,
            valid=list(valid),
        )


class UnknownVariant(GatewayError):
    """A status variant (such as Kak2c's FBO reading of PACKED) that does not exist."""

    status = 422
    slug = "unknown-variant"
    title = "Unknown status variant"


class NotFound(GatewayError):
    """The resource named in the path does not exist."""

    status = 404
    slug = "not-found"
    title = "Not found"


class UnsupportedLanguage(GatewayError):
    """A `lang` value that is not one of the supported languages."""

    status = 422
    slug = "unsupported-language"
    title = "Unsupported language"

    def __init__(self, value: str, supported: Iterable[str], *, where: str | None = None) -> None:
        super().__init__(
            f"{value!r} is not a supported language; use one of: {', '.join(supported)}",
            where=where,
            valid=list(supported),
        )


class InvalidStatus(GatewayError):
    """A status value of the wrong shape for its platform."""

    status = 422
    slug = "invalid-status"
    title = "Invalid status"


class MalformedJson(GatewayError):
    """The request body is not valid JSON."""

    status = 400
    slug = "malformed-json"
    title = "Malformed JSON"


class UnsupportedMediaType(GatewayError):
    """The request body is not sent as JSON."""

    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class MappingFileError(Exception):
    """A mapping table or catalog that does not validate; the message names the file and row.

    Raised at start-up and by `gateway check-mappings`, never in answer to a request.
    """


class MalformedXml(GatewayError):
    """The request body is not well-formed XML."""

    status = 400
    slug = "malformed-xml"
    title = "Malformed XML"


class ForbiddenXml(GatewayError):
    """The XML body uses a construct refused for safety (a DTD, entity declarations)."""

    status = 400
    slug = "forbidden-xml"
    title = "Forbidden XML construct"


class InvalidPayload(GatewayError):
    """A native platform payload that parses but does not have the shape the platform sends."""

    status = 422
    slug = "invalid-payload"
    title = "Invalid platform payload"


class Unauthorized(GatewayError):
    """No API key, or one that is unknown or revoked."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="gateway"'}


class Conflict(GatewayError):
    """The request conflicts with the current state of the resource."""

    status = 409
    slug = "conflict"
    title = "Conflict"


class IdempotencyKeyInUse(GatewayError):
    """A retry with an `Idempotency-Key` while the first request with it still runs."""

    status = 409
    slug = "idempotency-key-in-use"
    title = "Idempotency key in use"
    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


class IdempotencyKeyReused(GatewayError):
    """An `Idempotency-Key` sent again with another request."""

    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency key reused"


class InvalidTenantName(GatewayError):
    """A tenant name that cannot be a tenant id."""

    status = 422
    slug = "invalid-tenant-name"
    title = "Invalid tenant name"


class InvalidCursor(GatewayError):
    """A pagination `cursor` that this API did not hand out."""

    status = 422
    slug = "invalid-cursor"
    title = "Invalid cursor"


class StorageUnavailable(GatewayError):
    """The storage (Redis) cannot be reached right now; retry later, nothing was stored."""

    status = 503
    slug = "storage-unavailable"
    title = "Storage unavailable"
    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


class InvalidWebhookUrl(GatewayError):
    """A webhook URL that the gateway will not deliver to (scheme, form, or an address that is
    not public: the SSRF guard)."""

    status = 422
    slug = "invalid-webhook-url"
    title = "Invalid webhook URL"


class InvalidFilter(GatewayError):
    """A webhook filter naming a platform, status, stage or event type that does not exist."""

    status = 422
    slug = "invalid-filter"
    title = "Invalid webhook filter"


class InvalidInput(GatewayError):
    """A field whose value is well-formed but not acceptable (a date in the past, a time zone
    that does not exist, a flag the gateway does not know)."""

    status = 422
    slug = "invalid-input"
    title = "Invalid input"


class SecretKeyMissing(GatewayError):
    """Secrets stored encrypted cannot be stored or opened: no (or another) GATEWAY_SECRET_KEY."""

    status = 503
    slug = "secret-key-missing"
    title = "Secret key not configured"


class ConnectorUnavailable(GatewayError):
    """The platform's API could not be reached or refused the request (a poll that failed)."""

    status = 502
    slug = "connector-failed"
    title = "The platform's API failed"
