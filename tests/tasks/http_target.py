"""A real HTTP server on 127.0.0.1 for the `http_request` task to call, which answers as
its path says and keeps what it gets (`requests`, `count`):

- `/ok`: 200 with a short body;
- `/status/<code>`: that status, with a body saying so;
- `/slow/<seconds>`: 200 after that many seconds;
- `/redirect?to=<url>`: 302 to that URL;
- `/fail-first/<n>`: 503 for the first n calls of that path, then 200;
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.conftest import free_port


class HttpTarget:
    def __init__(self) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.calls: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with target.lock:
                    target.calls[parts.path] += 1
                    target.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body.decode(errors="replace"),
                        }
                    )
                status, headers, content = target.answer(
                    self.command, parts.path, parse_qs(parts.query), dict(self.headers), body
                )
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except OSError:
                    pass  # the caller gave up waiting (the timeout tests)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, dict[str, str], bytes]:
        if path == "/ok":
            return 200, {}, b"all good"
        if path.startswith("/status/"):
            code = int(path.removeprefix("/status/"))
            return code, {}, f"status {code} on purpose\n  with   spaces".encode()
        if path.startswith("/slow/"):
            time.sleep(float(path.removeprefix("/slow/")))
            return 200, {}, b"late"
        if path.startswith("/fail-first/"):
            if self.count(path) <= int(path.removeprefix("/fail-first/")):
                return 503, {}, b"failing on purpose"
            return 200, {}, b"recovered"
        if path == "/redirect":
            return 302, {"Location": query["to"][0]}, b""
        return 404, {}, b"no such page"

    def count(self, path: str) -> int:
        with self.lock:
            return self.calls[path]

    def total(self) -> int:
        with self.lock:
            return sum(self.calls.values())

    def start(self) -> HttpTarget:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
