"""The in-process response cache and Server-Timing: replayed answers equal fresh ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.response_cache import ResponseCache, etag_matches
from gateway.runtime import Runtime
from gateway.settings import Settings


def _cache(app: FastAPI) -> ResponseCache:
    stack: object = app.middleware_stack  # the stack built for the first request
    while not isinstance(stack, ResponseCache):
        stack = getattr(stack, "app")  # noqa: B009 - middlewares keep the next one as .app
    return stack


def test_a_replayed_answer_equals_the_first(client: TestClient) -> None:
    url = "/v1/translate/cscart/P?lang=fr&target=kak2c"
    first = client.get(url)
    second = client.get(url)
    assert second.status_code == 200
    assert second.content == first.content
    for header in ("etag", "content-language", "cache-control", "vary", "content-type"):
        assert second.headers[header] == first.headers[header]


def test_the_cache_keys_on_accept_language(client: TestClient) -> None:
    url = "/v1/translate/measoft/DELIVERY"
    ru = client.get(url, headers={"Accept-Language": "ru"})
    el = client.get(url, headers={"Accept-Language": "el"})
    assert (ru.json()["lang"], el.json()["lang"]) == ("ru", "el")
    assert client.get(url, headers={"Accept-Language": "ru"}).json()["lang"] == "ru"
    assert client.get(url).json()["lang"] == "en"


def test_a_cached_answer_still_gives_304_and_cors(client: TestClient) -> None:
    url = "/v1/statuses?lang=fr"
    etag = client.get(url).headers["etag"]
    cached = client.get(url, headers={"If-None-Match": etag, "Origin": "https://shop.example"})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    assert "content-type" not in cached.headers
    assert cached.headers["access-control-allow-origin"] == "*"


def test_errors_and_posts_are_not_cached(app: FastAPI, client: TestClient) -> None:
    client.get("/v1/translate/cscart/Q")
    client.post("/v1/translate", json={"platform": "cscart", "status": "P"})
    client.get("/v1/translate/cscart/C")
    cache = _cache(app)
    assert list(cache._entries) == [("/v1/translate/cscart/C", b"", None)]


def test_the_cache_is_bounded(runtime: Runtime) -> None:
    settings = Settings(_env_file=None, response_cache_entries=2)
    app = create_app(settings, runtime)
    with TestClient(app) as c:
        for code in ("P", "C", "O"):
            assert c.get(f"/v1/translate/cscart/{code}").status_code == 200
        assert len(_cache(app)._entries) == 1


def test_the_cache_can_be_turned_off(runtime: Runtime) -> None:
    settings = Settings(_env_file=None, response_cache_entries=0)
    app = create_app(settings, runtime)
    with TestClient(app) as c:
        assert c.get("/v1/translate/cscart/P").status_code == 200
    stack: object = app.middleware_stack
    while hasattr(stack, "app"):
        assert not isinstance(stack, ResponseCache)
        stack = getattr(stack, "app")  # noqa: B009


def test_etag_matching() -> None:
    assert etag_matches(b'"a"', b'"a"')
    assert etag_matches(b'W/"a"', b'"a"')
    assert etag_matches(b'"x", "a"', b'"a"')
    assert etag_matches(b"*", b'"a"')
    assert not etag_matches(b'"b"', b'"a"')


def test_every_answer_has_server_timing(client: TestClient) -> None:
    for response in (
        client.get("/v1/translate/cscart/P"),
        client.get("/v1/translate/cscart/P"),
        client.get("/v1/translate/cscart/Q"),
        client.post("/v1/translate/batch", json={"items": []}),
    ):
        name, _, duration = response.headers["server-timing"].partition(";dur=")
        assert name == "app"
        assert float(duration) >= 0


async def _ok(
    scope: dict[str, object], receive: object, send: Callable[..., Awaitable[None]]
) -> None:
    body = str(scope["path"]).encode() * 10
    await send({"type": "http.response.start", "status": 200, "headers": [(b"etag", b'"e"')]})
    await send({"type": "http.response.body", "body": body})


def test_the_cache_is_bounded_in_bytes() -> None:
    cache = ResponseCache(_ok, prefixes=("/",), limit=100, max_bytes=250)  # type: ignore[arg-type]
    c = TestClient(cache)  # no lifespan: the stand-in app only speaks HTTP
    for path in ("/aaaaaaaaaa", "/bbbbbbbbbb", "/cccccccccc"):  # 110 bytes each
        assert c.get(path).status_code == 200
    assert len(cache._entries) == 1
    assert cache._bytes == 110
