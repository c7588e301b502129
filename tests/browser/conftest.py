"""A real browser on a real server: Debian's chromium driven by Playwright, one browser
for the session, the API (mounted under ``/carbon``) served by uvicorn on 127.0.0.1
from the demo store.

Screenshots go to ``$CARBONTWIN_SCREENSHOTS`` (default: ``screenshots/`` in pytest's
base temporary folder); the session's summary names the folder. Without chromium at
``/usr/bin/chromium`` the browser tests are skipped, unless
``CARBONTWIN_REQUIRE_BROWSER=1`` (as ``.ci/run`` sets), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLIENT_ID, CLIENT_SECRET = "dashboard-client", "dashboard-secret-789"
PREFIX = "/carbon"
_shots: list[Path] = []


def _need_browser() -> None:
    if not (Path(CHROMIUM).is_file() and shutil.which(CHROMIUM)):
        if os.environ.get("CARBONTWIN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"no chromium at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"no chromium at {CHROMIUM}")


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    env = os.environ.get("CARBONTWIN_SCREENSHOTS")
    folder = Path(env) if env else tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# The fixtures below live for one test module, never the session: Playwright's sync
# API keeps an event loop running in this thread while the browser is open, and the
# tests after them call asyncio.run().


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(request, tmp_path_factory, demo_store):
    """(base URL of the mounted app, settings, demo store) on a live uvicorn; a test
    module's ``SERVER_SETTINGS`` (a dict) adds to its settings."""
    _need_browser()
    import uvicorn
    from fastapi import FastAPI

    from carbontwin.api import Settings, create_app

    built = demo_store
    settings = Settings(
        database_url=built["url"],
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        key_path=built["key_path"],  # the key the demo store's footprints were issued with
        require_https=False,
        **getattr(request.module, "SERVER_SETTINGS", {}),
    )
    host = FastAPI()
    host.mount(PREFIX, create_app(settings))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(host, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}{PREFIX}"
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield base, settings, built
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def api(server):
    """An httpx client on the same server, with a token: the numbers the pages must show."""
    base, _, _ = server
    with httpx.Client(base_url=base + "/", timeout=60) as client:
        r = client.post(
            "auth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
        )
        r.raise_for_status()
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield client


class Watched:
    """A page with its console errors and every URL it requested."""

    def __init__(self, page, base: str, folder: Path) -> None:
        self.page = page
        self.base = base
        self.folder = folder
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def clear(self) -> None:
        self.errors.clear()
        self.requests.clear()

    def open(self, view: str) -> None:
        """Go to dashboard view ``view`` (a hash, ``#orders``) and wait until it is drawn."""
        self.clear()
        self.page.evaluate("h => { location.hash = h; }", view)
        self.page.wait_for_function(
            "h => location.hash === h && document.querySelector('#view').dataset.ready === 'true'",
            arg=view,
        )

    def shoot(self, name: str, *, full_page: bool = True) -> Path:
        path = self.folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        _shots.append(path)
        return path

    def check_clean(self) -> None:
        """No console error; nothing requested from outside this server's app."""
        assert self.errors == [], self.errors
        origin = self.base.split(PREFIX)[0]
        for url in self.requests:
            if url.startswith(("blob:", "data:")):
                continue
            assert url.startswith(self.base + "/"), f"requested {url} outside {self.base}"
            assert url.startswith(origin)


@pytest.fixture
def fresh_page(browser, server, screenshots):
    """A new browser context and page (not logged in), closed after the test."""
    base, _, _ = server
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield Watched(context.new_page(), base, screenshots)
    context.close()


@pytest.fixture(scope="module")
def page(browser, server, screenshots):
    """One logged-in page for the session (logged in through the dashboard's own form)."""
    base, _, _ = server
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    p.set_default_timeout(20_000)
    watched = Watched(p, base, screenshots)
    p.goto(base + "/")
    p.wait_for_selector("#login-form", state="visible")
    watched.shoot("00-login")
    p.fill("input[name=client_id]", CLIENT_ID)
    p.fill("input[name=client_secret]", CLIENT_SECRET)
    p.click("#login-form button[type=submit]")
    p.wait_for_selector("#view[data-ready=true]")
    watched.check_clean()
    yield watched
    context.close()


def _summary() -> list[str]:
    return [f"dashboard screenshots: {f}" for f in sorted({str(shot.parent) for shot in _shots})]


def pytest_sessionfinish(session):
    """An xdist worker hands its summary lines to the controller (tests/conftest.py)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput.setdefault("carbontwin_summary", []).extend(_summary())


def pytest_terminal_summary(terminalreporter, config):
    if not hasattr(config, "workerinput"):
        for line in _summary():
            terminalreporter.write_line(line)
