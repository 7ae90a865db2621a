"""The browser pages' routes: texts from the catalogs, caching, CSP, clear 404s."""

from __future__ import annotations

import json
import re
from importlib.resources import files

import pytest
from fastapi.testclient import TestClient

from gateway.connectors.registry import PLATFORMS
from gateway.i18n import LANGUAGES
from gateway.runtime import Runtime
from gateway.web.routes import STRINGS_END, STRINGS_START
from gateway.web.texts import english, localized
from tests.factories import assert_problem
from webhooks.endpoints import EVENT_TYPES
from webhooks.signing import SCHEMES


def test_the_widget_carries_its_texts_in_every_language(
    client: TestClient, runtime: Runtime
) -> None:
    source = client.get("/widget.js").text
    blob = source[source.index(STRINGS_START) + len(STRINGS_START) : source.index(STRINGS_END)]
    texts = json.loads(blob)
    assert set(texts) == set(LANGUAGES)
    for lang in LANGUAGES:
        assert texts[lang] == localized(runtime.catalogs, "widget", lang)
    assert texts["ru"]["loading"] != english("widget")["loading"]


@pytest.mark.parametrize("path", ["/widget.js", "/demo", "/console", "/console/console.js"])
def test_a_current_copy_is_a_304_also_in_a_list_of_etags(client: TestClient, path: str) -> None:
    first = client.get(path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    again = client.get(path, headers={"If-None-Match": f'"stale", {etag}'})
    assert again.status_code == 304
    assert again.headers["etag"] == etag


@pytest.mark.parametrize("path", ["/demo", "/console"])
def test_pages_allow_no_inline_script_or_style(client: TestClient, path: str) -> None:
    policy = client.get(path).headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_console_texts_come_from_the_catalogs(
    client: TestClient, runtime: Runtime, lang: str
) -> None:
    answer = client.get(f"/console/i18n/{lang}.json")
    assert answer.json() == localized(runtime.catalogs, "console", lang)


@pytest.mark.parametrize(
    ("path", "where"),
    [("/console/i18n/de.json", "lang"), ("/console/secret.txt", "name")],
)
def test_an_unknown_console_file_is_a_404_problem(
    client: TestClient, path: str, where: str
) -> None:
    problem = assert_problem(client.get(path), 404)
    assert problem["parameter"] == where


def _js_list(name: str) -> list[str]:
    """A `const NAME = [...]` list of strings in console.js."""
    source = (files("gateway.web") / "static" / "console.js").read_text(encoding="utf-8")
    found = re.search(rf"^const {name} = \[(.*?)\];", source, flags=re.DOTALL | re.MULTILINE)
    assert found, f"console.js has no {name}"
    return re.findall(r'"([^"]+)"', found.group(1))


@pytest.mark.parametrize(
    ("name", "served"),
    [
        ("EVENT_TYPES", EVENT_TYPES),
        ("SCHEMES", SCHEMES),
        ("CONNECTORS", PLATFORMS),
    ],
)
def test_the_console_offers_what_the_api_accepts(name: str, served: tuple[str, ...]) -> None:
    """A type, scheme or connector the API gained shows up in the console's choices too."""
    assert tuple(_js_list(name)) == served
