"""The contender shape both peer processes serve, with the standard library only (the
peers' venvs hold nothing else of ours): `GET /health`, `POST /bench/reset` (a
`JobBatch` as JSON, or nothing), `GET /bench/runs?prefix=`."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


def server(
    port: int,
    alive: Callable[[], bool],
    reset: Callable[[dict[str, Any] | None], float],
    runs: Callable[[str], list[Any]],
) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:`port`, serving from a thread of its own."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/health":
                self._answer(200, {"scheduler": {"leader": {"alive": alive()}}})
            elif url.path == "/bench/runs":
                prefix = parse_qs(url.query).get("prefix", [""])[0]
                self._answer(200, {"runs": runs(prefix)})
            else:
                self._answer(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            if urlparse(self.path).path != "/bench/reset":
                self._answer(404, {"detail": "Not Found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            batch = json.loads(self.rfile.read(length) or b"null")
            self._answer(200, {"seconds": reset(batch or None)})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    return http
