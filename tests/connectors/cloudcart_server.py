"""A CloudCart-like JSON:API v2 on 127.0.0.1 for tests, built from the documented shapes
(`../shared/reference/platform-apis.md` §4.1): the `X-CloudCart-ApiKey` header, `/api/v2/orders`
with `page[number]` / `page[size]` (1 to 100), `sort` on `updated_at` (`-` for newest first),
exact-equality `filter[column]`, `include=payment`, JSON:API errors (401), and switches for
faults (429, 503, 500 on any request or on a given page, a body that is not JSON)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from aiohttp import web

from tests.loopback import serving

SOFIA = timezone(timedelta(hours=3))


@dataclass
class Order:
    status: str
    payment: str | None
    fulfillment: str
    updated: int  # epoch seconds


@dataclass
class CloudcartServer:
    api_key: str = "9F3K" + "x" * 60
    url: str = ""
    orders: dict[str, Order] = field(default_factory=dict)
    naive_times: bool = False  # updated_at without an offset (in UTC)
    requests: list[dict[str, str]] = field(default_factory=list)  # the query of each request
    keys_seen: list[str | None] = field(default_factory=list)
    fail_next: list[int | str] = field(default_factory=list)  # HTTP codes, or "json"
    fail_pages: dict[int, int] = field(default_factory=dict)  # page[number] -> 500s to answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(
        self,
        order_id: str,
        status: str,
        payment: str | None = None,
        fulfillment: str = "not_fulfilled",
        updated: int | None = None,
    ) -> None:
        with self.lock:
            at = int(time.time()) if updated is None else updated
            self.orders[order_id] = Order(status, payment, fulfillment, at)

    def _time(self, at: int) -> str:
        if self.naive_times:
            return datetime.fromtimestamp(at, tz=UTC).replace(tzinfo=None).isoformat()
        return datetime.fromtimestamp(at, tz=SOFIA).isoformat()

    def _resource(self, order_id: str, order: Order) -> dict[str, Any]:
        return {
            "type": "orders",
            "id": order_id,
            "attributes": {
                "status": order.status,
                "status_fulfillment": order.fulfillment,
                "abandoned": False,
                "currency": "EUR",
                "date_added": self._time(order.updated - 3600),
                "updated_at": self._time(order.updated),
            },
            "relationships": {
                "payment": {
                    "data": None
                    if order.payment is None
                    else {"type": "order-payment", "id": f"p{order_id}"}
                }
            },
        }

    def answer(self, query: dict[str, str], key: str | None) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append(query)
            self.keys_seen.append(key)
            if self.fail_next:
                fault = self.fail_next.pop(0)
                if fault == "json":
                    return 200, b'{"data": [{"type": "orders", "id": "1", '
                assert isinstance(fault, int)
                body = {"errors": [{"status": str(fault), "title": "Failed"}]}
                return fault, orjson.dumps(body)
            if key != self.api_key:
                return 401, b'{"errors":[{"status":"401","title":"Unauthenticated"}]}'
            number = int(query.get("page[number]", "1"))
            if self.fail_pages.get(number, 0) > 0:
                self.fail_pages[number] -= 1
                return 500, b'{"errors":[{"status":"500","title":"Server Error"}]}'
            size = int(query.get("page[size]", "20"))
            if not 1 <= size <= 100:
                return 400, b'{"errors":[{"status":"400","title":"Invalid page size"}]}'
            rows = list(self.orders.items())
            for name, value in query.items():  # exact equality on any column
                if name.startswith("filter[") and name.endswith("]"):
                    column = name[len("filter[") : -1]
                    rows = [
                        (i, o)
                        for i, o in rows
                        if str(self._resource(i, o)["attributes"].get(column)) == value
                    ]
            sort = query.get("sort", "id")
            if sort.lstrip("-") == "updated_at":
                rows.sort(key=lambda r: (r[1].updated, int(r[0])), reverse=sort.startswith("-"))
            else:
                rows.sort(key=lambda r: int(r[0]), reverse=sort.startswith("-"))
            chunk = rows[(number - 1) * size : number * size]
            data = [self._resource(i, o) for i, o in chunk]
            included = [
                {
                    "type": "order-payment",
                    "id": f"p{i}",
                    "attributes": {
                        "order_id": int(i),
                        "provider": "stripe",
                        "status": "succeeded",  # provider-side
                        "payment_status": o.payment,
                    },
                }
                for i, o in chunk
                if o.payment is not None and query.get("include") == "payment"
            ]
            last_page = max(1, -(-len(rows) // size))
            following = f"{self.url}api/v2/orders?page[number]={number + 1}"
            doc = {
                "data": data,
                "included": included,
                "meta": {"page": {"current-page": number, "last-page": last_page}},
                "links": {"next": following if number < last_page else None},
            }
            return 200, orjson.dumps(doc)

    def pages(self) -> list[str]:
        return [q.get("page[number]", "") for q in self.requests]


@contextmanager
def cloudcart_api() -> Iterator[CloudcartServer]:
    server = CloudcartServer()

    async def handle(request: web.Request) -> web.Response:
        status, body = server.answer(dict(request.query), request.headers.get("X-CloudCart-ApiKey"))
        headers = {"Retry-After": "120"} if status in (429, 503) else {}
        return web.Response(
            status=status, body=body, content_type="application/vnd.api+json", headers=headers
        )

    def routes(app: web.Application) -> None:
        app.router.add_get("/api/v2/orders", handle)

    with serving(routes) as base:
        server.url = f"{base}/"
        yield server
