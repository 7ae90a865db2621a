"""The pages load in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page


def test_widget_script_loads(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/demo")
    assert page.evaluate("typeof fetch") == "function"
