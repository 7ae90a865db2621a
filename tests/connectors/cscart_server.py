"""A CS-Cart-like REST API on 127.0.0.1 for tests, built from the documented shapes
(`../shared/reference/platform-apis.md` §3): HTTP Basic auth (admin e-mail : API key),
`/api/2/orders/` paginated, sorted by `sort_by=date` (the time placed, `timestamp`; the default)
or by id, in `sort_order` (default `desc`), filtered by `updated_at_from` unless it plays an older
version that ignores it, `/api/2/statuses/`, every value a string, and plain HTTP error codes
(401, 503 store closed, 509 rate limit)."""

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
    placed: dict[str, int] = field(default_factory=dict)  # id -> when placed (`timestamp`)
    ignores_updated_at_from: bool = False  # a version without the filter: every order listed
    lists_updated_at: bool = False  # rows carry `updated_at` (not in the documented list)
    statuses: list[tuple[str, str, str, str]] = field(default_factory=lambda: DEFAULT_STATUSES)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # path, query
    fail_next: list[int | str] = field(default_factory=list)  # HTTP codes, or "json"
    fail_pages: dict[int, int] = field(default_factory=dict)  # orders page -> 500s to answer
    delay_s: float = 0.0  # every answer waits this long (a slow store)
    on_orders: Callable[[int], None] | None = None  # called with each orders page asked for
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(
        self, order_id: str, letter: str, updated: int | None = None, placed: int | None = None
    ) -> None:
        """Create or change an order; a new one is placed when first updated (or at `placed`)."""
        with self.lock:
            at = int(time.time()) if updated is None else updated
            self.orders[order_id] = (letter, at)
            if placed is not None or order_id not in self.placed:
                self.placed[order_id] = at if placed is None else placed

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
                if self.ignores_updated_at_from:
                    since = 0
                rows = [(i, o) for i, o in self.orders.items() if o[1] >= since]
                if query.get("sort_by", "date") == "date":
                    rows.sort(key=lambda r: (self.placed[r[0]], int(r[0])))
                else:
                    rows.sort(key=lambda r: int(r[0]))
                if query.get("sort_order", "desc") == "desc":
                    rows.reverse()
                items: list[dict[str, Any]] = [
                    {
                        "order_id": i,
                        "issuer_id": None,
                        "user_id": "44",
                        "is_parent_order": "N",
                        "parent_order_id": "0",
                        "company_id": "1",
                        "timestamp": str(self.placed[i]),
                        "status": letter,
                        "total": "84.90",
                        **({"updated_at": str(at)} if self.lists_updated_at else {}),
                    }
                    for i, (letter, at) in rows
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
        return [p for p, q in self.requests if not is_probe(p, q)]

    def listings(self) -> list[dict[str, str]]:
        """The query of every orders page asked for, the connector's mode checks left out."""
        return [q for p, q in self.requests if p == "/api/2/orders/" and not is_probe(p, q)]

    def pages(self) -> list[str]:
        return [q["page"] for q in self.listings()]

    def probes(self) -> int:
        """How many times the connector asked whether the store filters by `updated_at_from`."""
        return sum(1 for p, q in self.requests if is_probe(p, q))


def is_probe(path: str, query: dict[str, str]) -> bool:
    """The connector's mode check: orders updated a day or more from now (none, on a store that
    honours the filter)."""
    return (
        path == "/api/2/orders/" and int(query.get("updated_at_from", "0")) > time.time() + 86_400
    )


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
