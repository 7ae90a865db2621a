"""A MeaSoft-like API on 127.0.0.1 for tests, built from the documented shapes
(`../shared/reference/platform-apis.md` §1): `statusreq` with `changes=ONLY_LAST` answers the
orders changed since the last `commitlaststatus`; wrong credentials answer a root `error`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from aiohttp import web
from defusedxml import ElementTree

from tests.loopback import serving


@dataclass
class MeasoftServer:
    login: str = "shop-api"
    password: str = "s3cret"
    extra: str = "245"
    url: str = ""
    # orderno -> [(code, createtimegmt)], and which orders changed since the last commit
    orders: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)  # root tags, in order
    bodies: list[bytes] = field(default_factory=list)  # request bodies, in order
    fail_next: dict[str, int] = field(default_factory=dict)  # root tag -> HTTP 500s to answer
    broken_next: int = 0  # answers that are not XML
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, orderno: str, code: str, at: str) -> None:
        with self.lock:
            self.orders.setdefault(orderno, []).append((code, at))
            self.changed.add(orderno)

    def _status(self, code: str, at: str) -> str:
        return (
            f'<status eventstore="Склад Москва" eventtime={quoteattr(at)} '
            f'createtimegmt={quoteattr(at)} title="" country="RU">{code}</status>'
        )

    def answer(self, body: bytes) -> tuple[int, str]:
        root = ElementTree.fromstring(body)
        with self.lock:
            self.requests.append(root.tag)
            self.bodies.append(body)
            if self.fail_next.get(root.tag, 0) > 0:
                self.fail_next[root.tag] -= 1
                return 500, "internal error"
            if self.broken_next > 0:
                self.broken_next -= 1
                return 200, "<statusreq><order"
            auth = root.find("auth")
            if auth is None or (auth.get("login"), auth.get("pass"), auth.get("extra")) != (
                self.login,
                self.password,
                self.extra,
            ):
                return 200, f'<{root.tag} error="1" errormsg="Authorization error"/>'
            if root.tag == "commitlaststatus":
                self.changed.clear()
                return 200, '<commitlaststatus error="0"/>'
            orders = []
            # with `changes`: the change feed; without: every order (a date range)
            wanted = self.changed if root.find("changes") is not None else set(self.orders)
            for orderno in sorted(wanted):
                history = self.orders[orderno]
                statuses = "".join(self._status(c, t) for c, t in history)
                orders.append(
                    f'<order orderno={quoteattr(orderno)} awb="1">'
                    f"{self._status(*history[-1])}<statushistory>{statuses}</statushistory></order>"
                )
            return 200, f'<statusreq count="{len(orders)}">{"".join(orders)}</statusreq>'


@contextmanager
def measoft_api() -> Iterator[MeasoftServer]:
    server = MeasoftServer()

    async def handle(request: web.Request) -> web.Response:
        status, text = server.answer(await request.read())
        return web.Response(status=status, text=text, content_type="text/xml")

    def routes(app: web.Application) -> None:
        app.router.add_post("/api/", handle)

    with serving(routes) as base:
        server.url = f"{base}/api/"
        yield server
