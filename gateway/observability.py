"""Observability: Prometheus metrics, request ids and one structured access-log line per request."""

from __future__ import annotations

import itertools
import logging
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import unquote_plus
from uuid import uuid4

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.server_timing import timing_header

# Results a tracking observation can have; pre-created so every series exists from the start.
EVENT_RESULTS = (
    "changed",
    "unchanged",
    "late",
    "duplicate",
    "regression",
    "violation",
    "refused",  # its own time is out of range or ahead of the clock (gateway.recording)
)
# Results of a webhook delivery attempt, pre-created alike.
DELIVERY_RESULTS = ("delivered", "retrying", "failed", "gone", "dropped")
# A fast API: most answers take well under 10 ms, so the resolution is at the bottom.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# An incoming id is kept only when it cannot break a log line or a header.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Query parameters whose values never reach the log.
SECRET_PARAMS = frozenset({"token", "key", "api_key", "secret", "password"})
UNMATCHED = "unmatched"


class Metrics:
    """The gateway's metrics, in a registry of their own (tests build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "gateway_events_total",
            "Tracking observations applied to orders, by result"
            " (changed, unchanged, late, duplicate, regression, violation).",
            ["result"],
            registry=self.registry,
        )
        # Each series by its result, looked up once: `labels()` costs four times an `inc()`.
        self.event_results = {result: self.events.labels(result) for result in EVENT_RESULTS}
        self.unknown_codes = Counter(
            "gateway_unknown_codes_total",
            "Native status codes received that the platform's mapping table does not know.",
            ["platform"],
            registry=self.registry,
        )
        self.ingest_payloads = Counter(
            "gateway_ingest_payloads_total",
            "Native payloads received on the ingest endpoints, by outcome (accepted, rejected).",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "gateway_webhook_attempts_total",
            "Webhook delivery attempts by result (delivered, retrying, failed, gone, dropped).",
            ["result"],
            registry=self.registry,
        )
        self.delivery_results = {r: self.deliveries.labels(r) for r in DELIVERY_RESULTS}
        self.delivery_seconds = Histogram(
            "gateway_webhook_attempt_duration_seconds",
            "Time of one webhook delivery attempt, connection included.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.webhook_holds = Counter(
            "gateway_webhook_holds_total",
            "Times a receiver asked its whole endpoint to wait (429 or 503 with Retry-After).",
            ["status"],
            registry=self.registry,
        )
        self.webhook_connections = Gauge(
            "gateway_webhook_connections",
            "Connections to webhook receivers this process holds open (in use or idle).",
            registry=self.registry,
        )
        self.webhook_unqueued = Gauge(
            "gateway_webhook_unqueued_events",
            "Change-feed entries no worker has queued for delivery or settled yet, those held "
            "for sending straight from the feed included (all tenants; sampled by the delivery "
            "workers every few seconds).",
            registry=self.registry,
        )
        self.webhook_held = Gauge(
            "gateway_webhook_held_deliveries",
            "Deliveries this process holds to send straight from the change feed (in flight or "
            "waiting for a slot; each feed entry stays pending in Redis until settled).",
            registry=self.registry,
        )
        self.webhook_unopened = Gauge(
            "gateway_webhook_unopened_tenants",
            "Tenants whose endpoint secrets this worker cannot open (no GATEWAY_SECRET_KEY, or "
            "another): their deliveries are left to other workers; anything above 0 is a "
            "misconfigured worker.",
            registry=self.registry,
        )
        self.webhook_waiting_lanes = Gauge(
            "gateway_webhook_waiting_lanes",
            "Delivery lanes (one order of one endpoint) with anything waiting: due, backing off "
            "or in flight.",
            registry=self.registry,
        )
        self.webhook_due_lanes = Gauge(
            "gateway_webhook_due_lanes",
            "Delivery lanes due now that no worker has started.",
            registry=self.registry,
        )
        self.webhook_oldest_due = Gauge(
            "gateway_webhook_oldest_due_seconds",
            "How long the most overdue delivery lane has been due (0 when none is): the delivery "
            "lag to alert on.",
            registry=self.registry,
        )
        self.connector_polls = Counter(
            "gateway_connector_polls_total",
            "Polls of platforms' APIs by pull connectors, by platform and result (ok, failed).",
            ["platform", "result"],
            registry=self.registry,
        )
        self.connector_events = Counter(
            "gateway_connector_events_total",
            "Status observations pulled by connectors, by platform.",
            ["platform"],
            registry=self.registry,
        )
        self.connector_rejected = Counter(
            "gateway_connector_rejected_total",
            "Orders (or listed items) a pull connector set aside as unreadable, counted the first "
            "time each is seen, by platform.",
            ["platform"],
            registry=self.registry,
        )
        self.requests = Histogram(
            "gateway_http_request_duration_seconds",
            "Time from receiving an HTTP request to the end of its response body,"
            " by method, route template and status.",
            ["method", "route", "status"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> tuple[bytes, str]:
        """The exposition text of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestTelemetry:
    """Give each HTTP request an id, time it into `metrics.requests` and `Server-Timing`, and log
    one line for it.

    The id is the caller's `X-Request-Id` when it is safe (1-128 of `[A-Za-z0-9._:-]`), else a
    fresh one; it lands in `request.state.request_id` and in the `x-request-id` answer header.
    Headers are never logged: they carry API keys and ingest tokens.
    """

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, logger: logging.Logger | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.logger = logger or logging.getLogger("gateway.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())
        status: int | None = None
        finished: float | None = None

        async def tagged(message: Message) -> None:
            nonlocal status, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                message["headers"] = [*headers, id_header, timing_header(started)]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Stop here, not when the app returns: background tasks run after the body.
                finished = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        except BaseException:
            # An answer that was fully sent stays what the client saw (a failing background task);
            # anything else is a server error, as ServerErrorMiddleware will answer it.
            if finished is None:
                status = 500
            raise
        finally:
            ended = finished if finished is not None else time.perf_counter()
            self._record(scope, request_id, status or 500, ended - started)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        # Routing sets scope["route"] on the way in, so it is readable once the app returns.
        route = getattr(scope.get("route"), "path", None)
        method: str = scope["method"]
        self.metrics.requests.labels(
            method=method,
            route=route if isinstance(route, str) else UNMATCHED,
            status=str(status),
        ).observe(seconds)
        duration_ms = round(seconds * 1000, 2)
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": method,
            "path": scope["path"],
            "query": redact_query(scope.get("query_string", b"")),
            "status": status,
            "duration_ms": duration_ms,
        }
        tenant = scope["state"].get("tenant")
        if isinstance(tenant, str):
            fields["tenant"] = tenant
        client = scope.get("client")
        fields["client"] = client[0] if client else None
        self.logger.info(
            "%s %s %d %.2fms",
            method,
            scope["path"],
            status,
            duration_ms,
            extra={"fields": fields},
        )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return _fresh_id()


def _ids() -> Iterator[str]:
    """Unique request ids: 16 random hex digits per process, then a counter (as unique as
    uuid4 within a process and across processes, without a system call per request)."""
    prefix = uuid4().hex[:16]
    for n in itertools.count(1):
        yield f"{prefix}{n:016x}"


_fresh_id = _ids().__next__


def redact_query(query_string: bytes) -> str:
    """The query string as sent, with the values of secret parameters replaced by `***`."""
    text = query_string.decode("latin-1")
    if not text:
        return ""
    parts = []
    for part in text.split("&"):
        name, sep, _ = part.partition("=")
        if sep and unquote_plus(name).lower() in SECRET_PARAMS:
            part = f"{name}=***"
        parts.append(part)
    return "&".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the record's `fields`, and exc."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                doc.setdefault(str(key), value)  # the fixed members win over a clashing field
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(doc, default=str).decode()


class _GatewayHandler(logging.StreamHandler[TextIO]):
    """The root handler configure_logging installs; its class marks it for replacement."""


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    """Log to stderr from the root logger, as JSON lines unless `json` is False; idempotent.

    uvicorn's error log propagates to the root; its access log is silenced because
    RequestTelemetry logs every request (on `gateway.access`).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _GatewayHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _GatewayHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        server = logging.getLogger(name)
        server.handlers.clear()
        server.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
