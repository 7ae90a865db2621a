"""RFC 9457 problem documents: the one place that turns errors into HTTP answers.

Every error answer is `application/problem+json` with `type`, `title`, `status`, `detail` and
`instance`; a domain error that points at one input adds `pointer` (JSON pointer into the body) or
`parameter` (path or query parameter), and validation errors list every offending field in
`errors`. Problem documents are in English (`Content-Language: en`): they are for integrators.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
    TimeoutError as RedisTimeoutError,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import GatewayError, MalformedJson, StorageUnavailable, UnsupportedMediaType

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "/problems/"  # a URI reference; GET /problems/{slug} documents each type
log = logging.getLogger("gateway.problems")


class FieldError(BaseModel):
    """One offending input of a validation error."""

    model_config = ConfigDict(extra="forbid")
    detail: str
    pointer: str | None = Field(None, description="JSON pointer into the request body.")
    parameter: str | None = Field(None, description="Path or query parameter.")
    header: str | None = Field(None, description="Request header.")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/unknown-status-code",
                    "title": "Unknown status code",
                    "status": 422,
                    "detail": "'Q' is not a cscart status; use one of: N, O, P, C, F, D, B, I, Y"
                    " (or lenient mode to get code 'unknown')",
                    "instance": "/v1/translate/cscart/Q",
                    "parameter": "code",
                    "valid": ["N", "O", "P", "C", "F", "D", "B", "I", "Y"],
                }
            ]
        },
    )
    type: str = Field("about:blank", description="URI reference naming the problem type.")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(None, description="What went wrong this time, and how to fix it.")
    instance: str | None = Field(None, description="The request path, or a correlation id.")
    pointer: str | None = Field(None, description="JSON pointer to the offending body member.")
    parameter: str | None = Field(None, description="The offending path or query parameter.")
    valid: list[str] | None = Field(None, description="The values that would have been valid.")
    errors: list[FieldError] | None = Field(None, description="Every offending input.")


# Tags of the `status` union (string code | CloudCart object): pydantic puts them into error
# locations, where they mean nothing to a client, so pointers leave them out.
STATUS_CODE_TAG = "status-code"
STATUS_OBJECT_TAG = "status-object"
_UNION_TAGS = frozenset({STATUS_CODE_TAG, STATUS_OBJECT_TAG})


def _error_classes(base: type[GatewayError]) -> list[type[GatewayError]]:
    found = []
    for cls in base.__subclasses__():
        found += [cls, *_error_classes(cls)]
    return found


VALIDATION_SLUG = "validation-error"
# Every problem type of our own, documented at GET /problems/{slug}: derived from the error
# classes, so a type is documented before any request has raised it.
DOCUMENTED: dict[str, str] = {
    VALIDATION_SLUG: "The request does not match the documented schema.",
    **{cls.slug: (cls.__doc__ or cls.title).strip() for cls in _error_classes(GatewayError)},
}


def _where(where: str | None) -> dict[str, str]:
    if where is None:
        return {}
    return {"pointer": where} if where.startswith("#") else {"parameter": where}


def problem_from_error(exc: GatewayError, instance: str | None = None) -> dict[str, Any]:
    """The problem document of a domain error, as a JSON-ready dict (also used by the batch)."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + exc.slug,
        "title": exc.title,
        "status": exc.http_status,
        "detail": exc.detail,
    }
    if instance:
        body["instance"] = instance
    body.update(_where(exc.where))
    body.update(exc.extensions)
    return body


def respond(body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        dict(body),
        status_code=int(body["status"]),
        media_type=PROBLEM_JSON,
        headers={"Content-Language": "en", **(headers or {})},
    )


# RFC 9110 names; Python 3.11's http.HTTPStatus still has the older phrases for these.
PHRASES = {413: "Content Too Large", 422: "Unprocessable Content"}


def _phrase(status: int) -> str:
    try:
        return PHRASES.get(status) or HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _http_problem(status: int, detail: str, instance: str) -> dict[str, Any]:
    # about:blank: the title is the HTTP status phrase (RFC 9457 §4.2.1); the detail says why.
    return {
        "type": "about:blank",
        "title": _phrase(status),
        "status": status,
        "detail": detail,
        "instance": instance,
    }


def _locate(loc: Sequence[int | str]) -> dict[str, str]:
    where, *path = [part for part in loc if part not in _UNION_TAGS]
    if where == "body":
        return {"pointer": "#" + "".join(f"/{p}" for p in path)}
    if where in ("query", "path"):
        return {"parameter": str(path[0]) if path else str(where)}
    return {"header": str(path[0]) if path else str(where)}


def validation_problem(errors: Sequence[Mapping[str, Any]], instance: str) -> dict[str, Any]:
    """422 listing every offending field (RFC 9457 §3 `errors` style)."""
    listed = [_locate(err["loc"]) | {"detail": str(err["msg"])} for err in errors]
    first = listed[0]
    where = first.get("pointer") or first.get("parameter") or first.get("header")
    plural = "s" if len(listed) > 1 else ""
    detail = f"{len(listed)} invalid input{plural}; first: {where}: {first['detail']}"
    return {
        "type": TYPE_BASE + VALIDATION_SLUG,
        "title": "Invalid request",
        "status": 422,
        "detail": detail,
        "instance": instance,
        "errors": listed,
    }


async def on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return respond(problem_from_error(exc, request.url.path), exc.headers)


async def on_storage_error(request: Request, exc: Exception) -> JSONResponse:
    """Redis unreachable or timing out: 503 with Retry-After; nothing was stored."""
    log.warning("storage error on %s %s: %r", request.method, request.url.path, exc)
    error = StorageUnavailable("the storage cannot be reached right now; retry later")
    return respond(problem_from_error(error, request.url.path), {"Retry-After": "1"})


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    path = request.url.path
    invalid_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if invalid_json is not None:
        reason = (invalid_json.get("ctx") or {}).get("error", "invalid JSON")
        return respond(problem_from_error(malformed_json(reason, invalid_json["loc"][-1]), path))
    content_type = request.headers.get("content-type", "")
    body_missing = any(tuple(e["loc"]) == ("body",) for e in errors)
    if request.method in ("POST", "PUT", "PATCH") and body_missing and "json" not in content_type:
        return respond(problem_from_error(not_json(content_type), path))
    return respond(validation_problem(errors, path))


def malformed_json(reason: str, position: object = None) -> MalformedJson:
    at = "" if position is None else f" (at character {position})"
    return MalformedJson(f"the body is not valid JSON: {reason}{at}")


def unparsable_body(exc: StarletteHTTPException) -> MalformedJson | None:
    """FastAPI's answer to a JSON body its parser fails on other than by a JSONDecodeError
    (bytes that do not decode, nesting past the recursion limit, an integer too long to
    convert) is a bare 400 raised from the parser's error: the same problem as any other body
    that is not JSON, as `read_json` answers."""
    cause = exc.__cause__
    if exc.status_code != 400 or not isinstance(cause, ValueError | RecursionError):
        return None
    if isinstance(cause, UnicodeDecodeError):
        return malformed_json(f"byte {cause.start} is not {cause.encoding} ({cause.reason})")
    if isinstance(cause, RecursionError):
        return malformed_json("arrays or objects nested too deeply")
    # e.g. an integer past Python's digit limit; what follows ';' is advice for Python code
    return malformed_json(str(cause).split(";", 1)[0])


def not_json(content_type: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"send the body as application/json, not {content_type or 'a body without Content-Type'}"
    )


def _leaf_routes(routes: Iterable[Any]) -> Iterator[Any]:
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        else:
            yield route


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette's 405 names only the first)."""
    methods: set[str] = set()
    path = request.url.path
    for route in _leaf_routes(request.app.router.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def _raw_path(request: Request) -> str:
    """The path as the client sent it (percent-escapes kept), else the decoded one."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1").split("?", 1)[0] if raw else request.url.path


def _no_route(request: Request) -> str:
    path = _raw_path(request)
    detail = f"no route matches the path {path}"
    if "%2f" in path.lower():
        detail += "; an encoded slash (%2F) is read as '/', so it cannot be part of a path segment"
    return detail


async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path
    unparsable = unparsable_body(exc)
    if unparsable is not None:
        return respond(problem_from_error(unparsable, path))
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else ""
    headers = dict(exc.headers or {})
    if status == 405:
        allowed = allowed_methods(request) or headers.get("Allow", "")
        headers["Allow"] = allowed
        detail = f"{request.method} is not allowed on {_raw_path(request)}; allowed: {allowed}"
    elif status == 404 and detail in ("", _phrase(404)):  # the router's: no route matched
        detail = _no_route(request)
    elif not detail or detail == _phrase(status):
        detail = f"the request was refused: {_phrase(status)}"
    return respond(_http_problem(status, detail, path), headers)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:  # noqa: ARG001
    # The request id of the access log, so that a 500 reported by a client can be found there.
    request_id = str(getattr(request.state, "request_id", None) or uuid.uuid4().hex)
    log.exception("unhandled error %s on %s %s", request_id, request.method, request.url.path)
    return respond(
        {
            "type": "about:blank",
            "title": "Internal Server Error",
            "status": 500,
            "instance": request.url.path,
            "request_id": request_id,
        },
        {"X-Request-Id": request_id},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RedisConnectionError, on_storage_error)
    app.add_exception_handler(RedisTimeoutError, on_storage_error)
    app.add_exception_handler(Exception, on_unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:  # FastAPI's own type
    """OpenAPI `responses` entries for the non-200 answers a route can give (304, problems)."""
    described = {
        400: "Malformed body (JSON or XML), or a refused XML construct.",
        401: "Missing, unknown or revoked API key (or ingest token).",
        409: "Conflicts with the resource's current state.",
        503: "Storage unavailable; retry later (Retry-After).",
        404: "Unknown platform or resource.",
        405: "Method not allowed.",
        413: "Request body too large.",
        415: "The body is not JSON.",
        422: "Invalid input: unknown status code, unsupported language, invalid field.",
    }
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        if status == 304:
            documented[status] = {"description": "Not modified: the If-None-Match copy is current."}
        else:
            documented[status] = {
                "description": described[status],
                "model": Problem,
                "content": {PROBLEM_JSON: {}},
            }
    return documented
