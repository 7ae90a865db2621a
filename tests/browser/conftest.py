"""Real headless Chromium (Debian's package) driven by Playwright, against a real gateway.

The gateway runs under uvicorn in a thread on 127.0.0.1 with its in-process webhook worker, on
the suite's Redis. Chromium comes from Debian's `chromium` package; when it is missing and the
tests run as root with apt, the fixture installs it (that is how a fresh CI machine gets it).
Playwright only drives it: no browser is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.connectors.conftest import KEY
from tests.factories import Tenant, free_port, make_tenant

CHROMIUM = Path(os.environ.get("GATEWAY_TEST_CHROMIUM", "/usr/bin/chromium"))
# The flags a closed network needs: no background calls home, no component updates.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def ensure_chromium() -> Path:
    """Debian's Chromium, installed with apt when it is not there yet."""
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} is missing; install Debian's `chromium` package (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    if not CHROMIUM.exists():
        pytest.fail(f"apt installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and any other test's `asyncio.run` would then be refused.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=ensure_chromium(), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab in a fresh context (own storage), failing the test on a page error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def live_url(settings: Settings, runtime: Runtime) -> Iterator[str]:
    """A gateway serving on 127.0.0.1 with its in-process worker (fast retries), as
    `gateway serve` runs it. Module scope: its worker serves every tenant of the suite's Redis
    (polls their connectors too), so it must not outlive the browser tests."""
    live = settings.model_copy(
        update={
            "worker_in_process": True,
            "webhook_retry_base_s": 0.05,
            "webhook_timeout_s": 2.0,
            "secret_key": KEY,  # connectors can be stored
        }
    )
    port = free_port()
    config = uvicorn.Config(
        create_app(live, runtime), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the live gateway did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


@pytest.fixture
def shop(settings: Settings) -> Tenant:
    """A fresh tenant, made in a thread of its own: `asyncio.run` (in make_tenant) is refused
    in this one while Playwright's loop runs here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(make_tenant, settings).result()


def screenshot(page: Page, name: str) -> None:
    """Save a picture for the README when GATEWAY_SCREENSHOTS=1 (kept out of normal runs)."""
    if os.environ.get("GATEWAY_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
