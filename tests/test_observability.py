"""Request ids, the request histogram, the JSON access log and logging setup."""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gateway.observability import (
    JsonFormatter,
    Metrics,
    RequestTelemetry,
    configure_logging,
    redact_query,
)

DURATION = "gateway_http_request_duration_seconds"
HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def log_stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def logger(log_stream: io.StringIO) -> logging.Logger:
    # A logger outside the manager's tree: nothing else writes to it, nothing is left behind.
    logger = logging.Logger("test.access", logging.INFO)
    handler = logging.StreamHandler(log_stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    return logger


def fail_later() -> None:
    raise RuntimeError("background task failed")


@pytest.fixture
def app(metrics: Metrics, logger: logging.Logger) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, request: Request) -> dict[str, Any]:
        return {"item_id": item_id, "request_id": request.state.request_id}

    @app.get("/tenants/{name}")
    async def as_tenant(name: str, request: Request) -> dict[str, str]:
        request.state.tenant = name
        return {"tenant": name}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @app.get("/after")
    async def after(tasks: BackgroundTasks) -> dict[str, bool]:
        tasks.add_task(fail_later)
        return {"ok": True}

    app.add_middleware(RequestTelemetry, metrics=metrics, logger=logger)
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # ServerErrorMiddleware answers 500 and then re-raises; keep the answer, drop the raise.
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    return lines


def observed(metrics: Metrics, route: str, status: str, method: str = "GET") -> float | None:
    labels = {"method": method, "route": route, "status": status}
    return metrics.registry.get_sample_value(f"{DURATION}_count", labels)


def test_request_id_is_generated_and_echoed(client: TestClient) -> None:
    response = client.get("/items/1")
    request_id = response.headers["x-request-id"]
    assert HEX_ID.fullmatch(request_id)
    assert response.json()["request_id"] == request_id


def test_each_request_gets_its_own_id(client: TestClient) -> None:
    first = client.get("/items/1").headers["x-request-id"]
    second = client.get("/items/1").headers["x-request-id"]
    assert first != second


@pytest.mark.parametrize("incoming", ["abc-123_x.y:Z", "7" * 128], ids=["mixed", "128-chars"])
def test_a_good_incoming_request_id_is_kept(client: TestClient, incoming: str) -> None:
    response = client.get("/items/1", headers={"X-Request-Id": incoming})
    assert response.headers["x-request-id"] == incoming
    assert response.json()["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["x" * 129, "has space", "semi;colon", "a/b", "<script>", ""],
    ids=["too-long", "space", "semicolon", "slash", "markup", "empty"],
)
def test_a_bad_incoming_request_id_is_replaced(client: TestClient, incoming: str) -> None:
    response = client.get("/items/1", headers={"X-Request-Id": incoming})
    assert HEX_ID.fullmatch(response.headers["x-request-id"])


def test_histogram_is_labelled_with_the_route_template(
    client: TestClient, metrics: Metrics
) -> None:
    client.get("/items/1")
    client.get("/items/2")
    assert observed(metrics, "/items/{item_id}", "200") == 2
    assert observed(metrics, "/items/1", "200") is None


def test_a_validation_error_keeps_the_route_template(client: TestClient, metrics: Metrics) -> None:
    assert client.get("/items/not-a-number").status_code == 422
    assert observed(metrics, "/items/{item_id}", "422") == 1


def test_an_unrouted_path_is_labelled_unmatched(client: TestClient, metrics: Metrics) -> None:
    assert client.get("/nowhere/at/all").status_code == 404
    assert observed(metrics, "unmatched", "404") == 1


def test_an_exception_is_counted_as_500(client: TestClient, metrics: Metrics) -> None:
    response = client.get("/boom")
    assert response.status_code == 500
    assert observed(metrics, "/boom", "500") == 1


def test_an_exception_is_reraised(app: FastAPI, metrics: Metrics) -> None:
    with TestClient(app) as c, pytest.raises(RuntimeError, match="kaboom"):
        c.get("/boom")
    assert observed(metrics, "/boom", "500") == 1


def test_a_failing_background_task_keeps_the_status_sent(
    client: TestClient, metrics: Metrics
) -> None:
    assert client.get("/after").status_code == 200
    assert observed(metrics, "/after", "200") == 1
    assert observed(metrics, "/after", "500") is None


def test_one_json_log_line_per_request(client: TestClient, log_stream: io.StringIO) -> None:
    response = client.get("/items/7?lang=fr")
    client.get("/nowhere")
    first, second = log_lines(log_stream)
    assert first["level"] == "INFO"
    assert first["logger"] == "test.access"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert first["msg"].startswith("GET /items/7 200 ")
    assert first["request_id"] == response.headers["x-request-id"]
    assert (first["method"], first["path"], first["query"]) == ("GET", "/items/7", "lang=fr")
    assert first["status"] == 200
    assert isinstance(first["duration_ms"], float)
    assert first["duration_ms"] == round(first["duration_ms"], 2)
    assert first["client"] == "testclient"
    assert "tenant" not in first
    assert (second["path"], second["query"], second["status"]) == ("/nowhere", "", 404)


def test_the_tenant_is_logged_when_the_app_sets_it(
    client: TestClient, log_stream: io.StringIO
) -> None:
    client.get("/tenants/acme")
    (line,) = log_lines(log_stream)
    assert line["tenant"] == "acme"


def test_an_exception_is_logged_as_500(client: TestClient, log_stream: io.StringIO) -> None:
    client.get("/boom")
    (line,) = log_lines(log_stream)
    assert (line["path"], line["status"]) == ("/boom", 500)


def test_the_lifespan_passes_through_unlogged(app: FastAPI, log_stream: io.StringIO) -> None:
    with TestClient(app):
        pass
    assert log_stream.getvalue() == ""


def test_secret_query_values_are_redacted(client: TestClient, log_stream: io.StringIO) -> None:
    client.get(
        "/items/1?token=t0k3n&lang=fr&API_KEY=k3y&key=kk9&secret=s3cr3t&password=p%40ss&keyword=ok"
    )
    (line,) = log_lines(log_stream)
    assert line["query"] == (
        "token=***&lang=fr&API_KEY=***&key=***&secret=***&password=***&keyword=ok"
    )
    for secret in ("t0k3n", "k3y", "kk9", "s3cr3t", "p%40ss"):
        assert secret not in log_stream.getvalue()


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        (b"", ""),
        (b"token", "token"),
        (b"token=", "token=***"),
        (b"a=1&&b=2", "a=1&&b=2"),
        (b"api%5Fkey=x&api+key=y", "api%5Fkey=***&api+key=y"),
    ],
)
def test_redact_query_keeps_the_query_as_sent(query: bytes, logged: str) -> None:
    assert redact_query(query) == logged


def test_no_header_value_reaches_the_log(client: TestClient, log_stream: io.StringIO) -> None:
    client.get(
        "/items/1",
        headers={
            "Authorization": "Bearer sekrit",
            "X-CloudCart-ApiKey": "cc-sekrit-key",
            "User-Agent": "agent-sekrit",
        },
    )
    text = log_stream.getvalue()
    assert text
    assert "sekrit" not in text


def test_render_exposes_every_metric_in_parseable_text(
    client: TestClient, metrics: Metrics
) -> None:
    client.get("/items/1")
    metrics.events.labels("changed").inc()
    metrics.unknown_codes.labels("cscart").inc()
    metrics.ingest_payloads.labels("kak2c", "accepted").inc()
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    text = body.decode()
    for name in (
        "gateway_events_total",
        "gateway_unknown_codes_total",
        "gateway_ingest_payloads_total",
        DURATION,
    ):
        assert name in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families[DURATION].type == "histogram"
    assert families["gateway_events"].type == "counter"
    events = {
        s.labels["result"]: s.value
        for s in families["gateway_events"].samples
        if s.name == "gateway_events_total"
    }
    assert events == {
        "changed": 1,
        "unchanged": 0,
        "late": 0,
        "duplicate": 0,
        "regression": 0,
        "violation": 0,
        "refused": 0,
    }


def test_every_delivery_result_is_a_series_from_the_start() -> None:
    metrics = Metrics()
    metrics.delivery_results["delivered"].inc()
    families = {f.name: f for f in text_string_to_metric_families(metrics.render()[0].decode())}
    attempts = {
        s.labels["result"]: s.value
        for s in families["gateway_webhook_attempts"].samples
        if s.name == "gateway_webhook_attempts_total"
    }
    assert attempts == {"delivered": 1, "retrying": 0, "failed": 0, "gone": 0, "dropped": 0}
    assert metrics.event_results["late"] is metrics.events.labels("late")


def test_metrics_are_private_to_each_instance() -> None:
    first, second = Metrics(), Metrics()
    first.events.labels("late").inc()
    assert first.registry.get_sample_value("gateway_events_total", {"result": "late"}) == 1
    assert second.registry.get_sample_value("gateway_events_total", {"result": "late"}) == 0


def test_json_formatter_adds_the_traceback() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.LogRecord(
            "gateway.test", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info()
        )
    record.fields = {"request_id": "r1", "msg": "clash"}
    doc = orjson.loads(JsonFormatter().format(record))
    assert doc["msg"] == "failed x"
    assert doc["level"] == "ERROR"
    assert doc["request_id"] == "r1"
    assert "ValueError: broken" in doc["exc"]


@pytest.fixture
def restore_logging() -> Iterator[list[logging.Handler]]:
    """Yield the root's handlers before the test (pytest's own); put everything back after."""
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    root = logging.getLogger()
    before, root_level = root.handlers[:], root.level
    saved = {
        name: (lg.handlers[:], lg.propagate, lg.disabled, lg.level)
        for name in names
        for lg in [logging.getLogger(name)]
    }
    yield before
    for handler in root.handlers:
        if handler not in before:
            handler.close()
    root.handlers[:] = before
    root.setLevel(root_level)
    for name, (handlers, propagate, disabled, level) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.propagate, lg.disabled = propagate, disabled
        lg.setLevel(level)


def added_handlers(before: list[logging.Handler]) -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if h not in before]


def test_configure_logging_twice_leaves_one_handler(restore_logging: list[logging.Handler]) -> None:
    configure_logging()
    configure_logging()
    (handler,) = added_handlers(restore_logging)
    assert isinstance(handler.formatter, JsonFormatter)
    configure_logging("debug", json=False)
    (handler,) = added_handlers(restore_logging)
    assert not isinstance(handler.formatter, JsonFormatter)
    assert logging.getLogger().level == logging.DEBUG


def test_configure_logging_writes_json_to_stderr(
    restore_logging: list[logging.Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info")
    logging.getLogger("gateway.test").info("hello %s", "world", extra={"fields": {"n": 1}})
    logging.getLogger("gateway.test").debug("not at info")
    (line,) = capsys.readouterr().err.splitlines()
    doc = orjson.loads(line)
    assert (doc["msg"], doc["n"], doc["logger"]) == ("hello world", 1, "gateway.test")


def test_configure_logging_routes_uvicorn(restore_logging: list[logging.Handler]) -> None:
    logging.getLogger("uvicorn.access").addHandler(logging.NullHandler())
    configure_logging()
    error, access = logging.getLogger("uvicorn.error"), logging.getLogger("uvicorn.access")
    assert error.propagate
    assert not error.handlers
    assert logging.getLogger("uvicorn").propagate
    assert access.disabled
    assert not access.handlers
    assert not access.propagate
