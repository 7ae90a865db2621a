"""A CS-Cart-like REST API on 127.0.0.1 for tests, built from the documented shapes
(`../shared/reference/platform-apis.md` §3): HTTP Basic auth (admin e-mail : API key),
`/api/2/orders/` paginated and filtered by `updated_at_from`, `/api/2/statuses/`, every value a
string, and plain HTTP error codes (401, 503 store closed, 509 rate limit)."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.loopback import serving

DEFAULT_STATUSES: list[tuple[str, str, str, str]] = [
    # letter, description, inventory, payment_received
    ("P", "Processed", "D", "Y"),
    ("C", "Complete", "D", "Y"),
    ("O", "Open", "D", "N"),
    ("F", "Failed", "I", "N"),
    ("D", "Declined", "I", "N"),
    ("B", "Backordered", "I", "N"),
    ("I", "Canceled", "I", "N"),
    ("Y", "Awaiting call", "D", "N"),
    # the store's own
    ("A", "Paid by bank transfer", "D", "Y"),
    ("E", "Returned to stock", "I", "N"),
    ("G", "Fraud checking", "D", "N"),
]


@dataclass
class CscartServer:
    email: str = "admin@example.com"
    api_key: str = "k3y-0f-the-admin"
    url: str = ""
    orders: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (letter, updated)
    statuses: list[tuple[str, str, str, str]] = field(default_factory=lambda: DEFAULT_STATUSES)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # path, query
    fail_next: list[int | str] = field(default_factory=list)  # HTTP codes, or "json"
    fail_pages: dict[int, int] = field(default_factory=dict)  # orders page -> 500s to answer
    delay_s: float = 0.0  # every answer waits this long (a slow store)
    on_orders: Callable[[int], None] | None = None  # called with each orders page asked for
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, order_id: str, letter: str, updated: int | None = None) -> None:
        with self.lock:
            self.orders[order_id] = (letter, int(time.time()) if updated is None else updated)

    def answer(self, path: str, query: dict[str, str], auth: str | None) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append((path, query))
            if self.fail_next:
                fault = self.fail_next.pop(0)
                if fault == "json":
                    return 200, b'{"orders": [{"order_id": "1", '
                assert isinstance(fault, int)
                return fault, b'{"message": "failed"}'
            page = int(query.get("page", "1"))
            if path == "/api/2/orders/" and self.fail_pages.get(page, 0) > 0:
                self.fail_pages[page] -= 1
                return 500, b'{"message": "failed"}'
            if path == "/api/2/orders/" and self.on_orders is not None:
                self.on_orders(page)
            expected = base64.b64encode(f"{self.email}:{self.api_key}".encode()).decode()
            if auth != f"Basic {expected}":
                return 401, b'{"message": "Unauthorized"}'
            page = int(query.get("page", "1"))
            per_page = int(query.get("items_per_page", "10"))
            if path == "/api/2/orders/":
                since = int(query.get("updated_at_from", "0"))
                rows = sorted(
                    (int(i), letter) for i, (letter, at) in self.orders.items() if at >= since
                )
                items: list[dict[str, Any]] = [
                    {
                        "order_id": str(i),
                        "issuer_id": None,
                        "user_id": "44",
                        "is_parent_order": "N",
                        "parent_order_id": "0",
                        "company_id": "1",
                        "timestamp": "1715689331",
                        "status": letter,
                        "total": "84.90",
                    }
                    for i, letter in rows
                ]
                member = "orders"
            else:
                items = [
                    {
                        "status_id": str(n),
                        "status": letter,
                        "type": "O",
                        "is_default": "Y",
                        "description": name,
                        "lang_code": "en",
                        "params": {"inventory": inventory, "payment_received": paid},
                    }
                    for n, (letter, name, inventory, paid) in enumerate(self.statuses, 1)
                ]
                items.append({"status_id": "90", "status": "S", "type": "S", "params": {}})
                member = "statuses"
            chunk = items[(page - 1) * per_page : page * per_page]
            params = {
                "page": page,
                "items_per_page": str(per_page),
                "total_items": str(len(items)),
            }
            return 200, orjson.dumps({member: chunk, "params": params})

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]


@contextmanager
def cscart_api() -> Iterator[CscartServer]:
    server = CscartServer()

    async def handle(request: web.Request) -> web.Response:
        if server.delay_s:
            await asyncio.sleep(server.delay_s)
        status, body = server.answer(
            request.path, dict(request.query), request.headers.get("Authorization")
        )
        headers = {"Retry-After": "3600"} if status == 509 else {}
        return web.Response(
            status=status, body=body, content_type="application/json", headers=headers
        )

    def routes(app: web.Application) -> None:
        app.router.add_get("/api/2/orders/", handle)
        app.router.add_get("/api/2/statuses/", handle)

    with serving(routes) as base:
        server.url = f"{base}/"
        yield server
