"""webhooks.sender: what each kind of answer (or its absence) becomes in the delivery log."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import free_port
from tests.webhooks.scripted import HANG, Responder, serving
from webhooks.sender import RESPONSE_EXCERPT, Attempt, Sender

HEADERS = {"content-type": "application/json", "webhook-id": "msg_1"}


def send(responder: Responder, *, allow_private: bool = True, port: int | None = None) -> Attempt:
    async def run() -> Attempt:
        async with serving(responder) as server:
            sender = Sender(allow_private=allow_private, connect_timeout_s=1.0, timeout_s=0.5)
            try:
                return await sender.send(f"http://127.0.0.1:{port or server.port}/", HEADERS, b"{}")
            finally:
                await sender.close()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("raw", "status", "response", "retry_after"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, "", None),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nthanks \xce\xb1",
            200,
            "thanks \u03b1",
            None,
        ),
        (b"HTTP/1.1 503 Busy\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n", 503, "", 30.0),
        (b"HTTP/1.1 429 Later\r\nRetry-After: soon\r\nContent-Length: 0\r\n\r\n", 429, "", None),
        (
            b"HTTP/1.1 500 Oops\r\nContent-Length: 3000\r\n\r\n" + b"e" * 3000,
            500,
            "e" * RESPONSE_EXCERPT,
            None,
        ),
    ],
)
def test_an_answer_is_logged_with_its_status_excerpt_and_retry_after(
    raw: bytes, status: int, response: str, retry_after: float | None
) -> None:
    attempt = send(lambda _r: raw)
    assert (attempt.status, attempt.response, attempt.retry_after) == (
        status,
        response,
        retry_after,
    )
    assert attempt.error is None
    assert not attempt.timed_out
    assert attempt.duration_ms >= 0


@pytest.mark.parametrize(
    ("responder", "error", "timed_out"),
    [
        (lambda _r: HANG, "Timeout: no answer within 0.5 s", True),
        (lambda _r: None, "Disconnected: the receiver closed the connection before", False),
        (lambda _r: b"SMTP ready\r\n\r\n", "InvalidResponse: the receiver's answer is not", False),
    ],
)
def test_no_answer_is_logged_with_its_error_class(
    responder: Responder, error: str, timed_out: bool
) -> None:
    attempt = send(responder)
    assert attempt.status is None
    assert attempt.error is not None
    assert attempt.error.startswith(error), attempt.error
    assert attempt.timed_out is timed_out


def test_a_refused_connection_and_a_blocked_address_are_logged() -> None:
    refused = send(lambda _r: None, port=free_port())
    assert refused.error is not None
    assert refused.error.startswith("ConnectionRefusedError: ")
    blocked = send(lambda _r: None, allow_private=False)
    assert blocked.error is not None
    assert blocked.error.startswith("BlockedAddress: 127.0.0.1 is a non-public address")
