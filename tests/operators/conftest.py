"""Fixtures for the operator features: the app served on a real port (for the browser),
a local webhook receiver, and API helpers."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, expect, sync_playwright

from app.core.config import Settings
from app.main import create_app
from tests.conftest import PASSWORD, free_port
from tests.tasks import sample_tasks  # noqa: F401  (registers the test tasks)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A page shows what the API answers, and beside the suite's other xdist worker the two
# share two cores: a cancel's round trip through the leader and the page's refresh once
# took longer than Playwright's default 5 s to show (PostgreSQL).
expect.set_options(timeout=15_000)


class LiveServer:
    """The real app under uvicorn on 127.0.0.1, on a thread of this process, with its
    scheduler thread leading (the test database is the only one, so it always wins)."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)
        self.headers: dict[str, str] = {}

    def start(self, timeout: float = 30) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise AssertionError("the live server stopped while starting")
            try:
                health = httpx.get(self.url + "/health", timeout=2).json()
                if health.get("scheduler", {}).get("leader", {}).get("alive"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the live server did not come up with a scheduler leader")
        tokens = httpx.post(
            self.url + "/api/v1/auth/login",
            data={"username": "admin@example.com", "password": PASSWORD},
            timeout=10,
        ).json()
        self.headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=40)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, f"{self.url}/api/v1{path}", headers=self.headers, timeout=30, **kwargs
        )


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Delivery:
    path: str
    body: dict[str, Any]
    at: float


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1. `/ok` answers 200, `/fail` 500, and `/slow`
    answers 200 only after `slow_seconds`, past any sensible alert timeout."""

    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    slow_seconds: float = 3.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Called on the server's thread as each request arrives, before it is answered.
    on_delivery: Callable[[Delivery], None] | None = None

    def received(self, path: str | None = None) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if path is None or d.path == path]

    def events(self, path: str | None = None) -> list[str]:
        return [d.body["event"] for d in self.received(path)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    target = Receiver(url=f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            delivery = Delivery(self.path, body, time.monotonic())
            with target.lock:
                target.deliveries.append(delivery)
            if target.on_delivery is not None:
                target.on_delivery(delivery)
            if self.path == "/slow":
                time.sleep(target.slow_seconds)
            status = 500 if self.path == "/fail" else 200
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up waiting: that is the point of /slow

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield target
    finally:
        server.shutdown()
        server.server_close()


# Headless Chromium for the browser tests: with CI set, a missing binary fails them.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True
        )
        yield launched
        launched.close()
