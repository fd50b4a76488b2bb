"""A fake Reddit for tests: a real HTTP server on 127.0.0.1 (an ephemeral port, a
background thread) that speaks the parts of Reddit's API our client uses, in Reddit's
JSON formats:

- `POST /api/v1/access_token`: the client credentials grant, checking HTTP basic auth;
- `GET /r/{subreddit}/{sort}`: a listing (`kind: Listing`, `t3` children), paginated
  with `limit` and `after`, needing a bearer token;
- `GET /comments/{post_id}`: the post listing and the comment listing, with nested
  `replies` and a `more` stub.

Several clients (Reddit apps) may sign in; `enforce_budget` gives each its own
request budget over a short window, as Reddit does (the `X-Ratelimit-*` headers on every
API answer, 429 past it), and counts every API request per client and per window.

Faults can be switched on: any status with any headers (a 429 with `Retry-After` and
`X-Ratelimit-*`, a 500), garbage instead of JSON, for a number of requests or until
cleared. Every request is recorded with the time it arrived.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"
BASE_TIME = 1_800_000_000.0

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):x}"


@dataclass
class FakeComment:
    body: str
    id: str = field(default_factory=lambda: _next_id("c"))
    author: str | None = "commenter"
    score: int = 1
    created_utc: float = BASE_TIME
    replies: list[FakeComment] = field(default_factory=list)


@dataclass
class FakePost:
    subreddit: str
    title: str
    selftext: str = ""
    id: str = field(default_factory=lambda: _next_id("p"))
    author: str | None = "poster"
    score: int = 1
    num_comments: int = 0
    created_utc: float = BASE_TIME
    comments: list[FakeComment] = field(default_factory=list)
    # Reddit ends a long comment listing with a "load more" stub.
    more_stub: bool = True

    @property
    def fullname(self) -> str:
        return f"t3_{self.id}"


@dataclass
class Fault:
    status: int
    body: bytes
    headers: dict[str, str]
    path: str | None
    remaining: int | None
    delay: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


class FakeReddit:
    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        page_size: int = 100,
        token_lifetime: int = 86400,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.clients: dict[str, str] = {client_id: client_secret}
        self.page_size = page_size
        self.token_lifetime = token_lifetime
        # Headers sent with every successful API answer (to simulate a spent rate limit).
        self.rate_limit_headers: dict[str, str] = {}
        self.posts: dict[str, list[FakePost]] = {}
        self.requests: list[RecordedRequest] = []
        # Each token issued, with the client it was issued to.
        self.tokens: dict[str, str] = {}
        self.budget: int | None = None
        self.window_seconds = 10.0
        self._started = time.monotonic()
        # API requests per (client id, window number), 429s per client id.
        self.window_counts: Counter[tuple[str, int]] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle -----------------------------------------------------------------

    def start(self) -> FakeReddit:
        fake = self

        class Handler(_Handler):
            reddit = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-reddit", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The settings that point our client at this fake."""
        values: dict[str, Any] = {
            "REDDIT_CLIENT_ID": self.client_id,
            "REDDIT_CLIENT_SECRET": self.client_secret,
            "REDDIT_API_URL": self.url,
            "REDDIT_AUTH_URL": self.url,
            "REDDIT_BACKOFF_SECONDS": 0.01,
            "REDDIT_TIMEOUT_SECONDS": 5.0,
        }
        values.update(overrides)
        return values

    def add_client(self, client_id: str, client_secret: str) -> None:
        """Another Reddit app that may sign in, with a budget of its own."""
        with self._lock:
            self.clients[client_id] = client_secret

    def enforce_budget(self, requests: int, *, window_seconds: float) -> None:
        """Allow each client `requests` API requests per window of `window_seconds`
        (windows start when the fake does); answer 429 past that."""
        with self._lock:
            self.budget = requests
            self.window_seconds = window_seconds
            self._started = time.monotonic()
            self.window_counts.clear()
            self.rate_limited.clear()

    def requests_of(self, client_id: str) -> int:
        with self._lock:
            return sum(n for (client, _), n in self.window_counts.items() if client == client_id)

    def max_per_window(self, client_id: str) -> int:
        with self._lock:
            return max(
                (n for (client, _), n in self.window_counts.items() if client == client_id),
                default=0,
            )

    # --- content --------------------------------------------------------------------

    def add_subreddit(self, name: str) -> None:
        with self._lock:
            self.posts.setdefault(name.lower(), [])

    def add_post(self, subreddit: str, title: str, **values: Any) -> FakePost:
        """A post on top of the subreddit's listing (the newest)."""
        post = FakePost(subreddit=subreddit, title=title, **values)
        if "created_utc" not in values:
            post.created_utc = BASE_TIME + next(_ids)
        if "num_comments" not in values:
            post.num_comments = _count(post.comments)
        with self._lock:
            self.posts.setdefault(subreddit.lower(), []).insert(0, post)
        return post

    def find_post(self, post_id: str) -> FakePost | None:
        for posts in self.posts.values():
            for post in posts:
                if post.id == post_id:
                    return post
        return None

    # --- faults ---------------------------------------------------------------------

    def fail(
        self,
        status: int = 500,
        *,
        path: str | None = None,
        times: int | None = 1,
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` requests whose path contains `path` (any, if None)
        with this status, after `delay` seconds; `times=None` until `clear_faults()`."""
        if body is None:
            body = json.dumps({"message": f"fake error {status}", "error": status})
        with self._lock:
            self._faults.append(
                Fault(
                    status=status,
                    body=body.encode() if isinstance(body, str) else body,
                    headers=dict(headers or {"Content-Type": "application/json"}),
                    path=path,
                    remaining=times,
                    delay=delay,
                )
            )

    def rate_limit(
        self, *, retry_after: float = 1, path: str | None = None, times: int = 1
    ) -> None:
        """A 429 as Reddit sends it, with `Retry-After` and the rate-limit headers."""
        self.fail(
            429,
            path=path,
            times=times,
            headers={
                "Content-Type": "application/json",
                "Retry-After": f"{retry_after:g}",
                "X-Ratelimit-Used": "600",
                "X-Ratelimit-Remaining": "0",
                "X-Ratelimit-Reset": f"{retry_after:g}",
            },
            body=json.dumps({"message": "Too Many Requests", "error": 429}),
        )

    def garbage(self, *, path: str | None = None, times: int | None = None) -> None:
        """A 200 whose body is not JSON (an HTML error page, as proxies send)."""
        self.fail(
            200,
            path=path,
            times=times,
            headers={"Content-Type": "text/html"},
            body="<html><body>upstream hiccup</body></html>",
        )

    def hang(self, seconds: float, *, path: str | None = None, times: int | None = None) -> None:
        """Answer only after `seconds` (longer than the client's timeout, to make it
        give up)."""
        self.fail(200, path=path, times=times, body="{}", delay=seconds)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or fault.path in path:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # --- what was asked -------------------------------------------------------------

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path)]

    @property
    def api_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path != "/api/v1/access_token"]

    # --- answers --------------------------------------------------------------------

    def _token(self, headers: dict[str, str], form: dict[str, str]) -> tuple[int, Any]:
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            client_id, secret = "", ""
        with self._lock:
            known = self.clients.get(client_id)
        if scheme != "Basic" or known is None or secret != known:
            return 401, {"message": "Unauthorized", "error": 401}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        token = f"fake-token-{next(_ids)}"
        with self._lock:
            self.tokens[token] = client_id
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_lifetime,
            "scope": "*",
        }

    def _client_of(self, headers: dict[str, str]) -> str | None:
        """The client whose bearer token this request has, if any."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        with self._lock:
            return self.tokens.get(token) if scheme.lower() == "bearer" else None

    def _spend(self, client_id: str) -> tuple[bool, dict[str, str]]:
        """Count an API request against the client's budget: whether it is within it, and
        the rate-limit headers to answer with."""
        with self._lock:
            if self.budget is None:
                return True, dict(self.rate_limit_headers)
            elapsed = time.monotonic() - self._started
            window = int(elapsed // self.window_seconds)
            self.window_counts[(client_id, window)] += 1
            used = self.window_counts[(client_id, window)]
            # Whole seconds, rounded up, as Reddit sends them.
            reset = math.ceil((window + 1) * self.window_seconds - elapsed)
            allowed = used <= self.budget
            if not allowed:
                self.rate_limited[client_id] += 1
            return allowed, {
                "X-Ratelimit-Used": str(used),
                "X-Ratelimit-Remaining": str(max(self.budget - used, 0)),
                "X-Ratelimit-Reset": str(reset),
            }

    def _listing(self, subreddit: str, sort: str, query: dict[str, str]) -> tuple[int, Any]:
        with self._lock:
            posts = self.posts.get(subreddit.lower())
            posts = list(posts) if posts is not None else None
        if posts is None:
            return 404, {"message": "Not Found", "error": 404, "reason": "banned"}
        if sort not in ("new", "hot", "top", "rising"):
            return 404, {"message": "Not Found", "error": 404}
        if sort == "new":
            posts.sort(key=lambda p: p.created_utc, reverse=True)
        elif sort == "top":
            posts.sort(key=lambda p: p.score, reverse=True)
        start = 0
        after = query.get("after")
        if after:
            names = [p.fullname for p in posts]
            start = names.index(after) + 1 if after in names else len(posts)
        limit = min(int(query.get("limit", 25)), 100, self.page_size)
        page = posts[start : start + limit]
        more = start + limit < len(posts)
        return 200, {
            "kind": "Listing",
            "data": {
                "after": page[-1].fullname if page and more else None,
                "before": None,
                "dist": len(page),
                "children": [{"kind": "t3", "data": _post_json(p)} for p in page],
            },
        }

    def _comments(self, post_id: str) -> tuple[int, Any]:
        with self._lock:
            post = self.find_post(post_id)
        if post is None:
            return 404, {"message": "Not Found", "error": 404}
        children: list[dict[str, Any]] = [_comment_json(c, post.fullname) for c in post.comments]
        if post.more_stub:
            children.append(
                {
                    "kind": "more",
                    "data": {
                        "count": 3,
                        "name": "t1__",
                        "id": "_",
                        "parent_id": post.fullname,
                        "depth": 0,
                        "children": ["zz1", "zz2", "zz3"],
                    },
                }
            )
        return 200, [
            {
                "kind": "Listing",
                "data": {"after": None, "children": [{"kind": "t3", "data": _post_json(post)}]},
            },
            {"kind": "Listing", "data": {"after": None, "children": children}},
        ]


def _count(comments: list[FakeComment]) -> int:
    return sum(1 + _count(c.replies) for c in comments)


def _post_json(post: FakePost) -> dict[str, Any]:
    return {
        "id": post.id,
        "name": post.fullname,
        "subreddit": post.subreddit,
        "title": post.title,
        "selftext": post.selftext,
        "author": post.author,
        "url": f"https://www.reddit.com/r/{post.subreddit}/comments/{post.id}/",
        "permalink": f"/r/{post.subreddit}/comments/{post.id}/",
        "score": post.score,
        "num_comments": post.num_comments,
        "created_utc": post.created_utc,
        "over_18": False,
    }


def _comment_json(comment: FakeComment, parent: str) -> dict[str, Any]:
    name = f"t1_{comment.id}"
    return {
        "kind": "t1",
        "data": {
            "id": comment.id,
            "name": name,
            "parent_id": parent,
            "author": comment.author,
            "body": comment.body,
            "score": comment.score,
            "created_utc": comment.created_utc,
            "replies": {
                "kind": "Listing",
                "data": {
                    "after": None,
                    "children": [_comment_json(r, name) for r in comment.replies],
                },
            }
            if comment.replies
            else "",
        },
    }


class _Handler(BaseHTTPRequestHandler):
    reddit: FakeReddit

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        reddit = self.reddit
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        with reddit._lock:
            reddit.requests.append(
                RecordedRequest(method, url.path, query, headers, time.monotonic())
            )
        fault = reddit._take_fault(url.path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            # The client may have given up waiting and closed the connection.
            with contextlib.suppress(OSError):
                self._send(fault.status, fault.body, fault.headers)
            return
        parts = [p for p in url.path.split("/") if p]
        status: int
        payload: Any
        extra: dict[str, str] = {}
        if method == "POST" and url.path == "/api/v1/access_token":
            status, payload = reddit._token(headers, dict(parse_qsl(body.decode())))
        elif method != "GET":
            status, payload = 405, {"message": "Method Not Allowed", "error": 405}
        elif (client_id := reddit._client_of(headers)) is None:
            status, payload = 401, {"message": "Unauthorized", "error": 401}
        elif not (spent := reddit._spend(client_id))[0]:
            extra = {**spent[1], "Retry-After": spent[1]["X-Ratelimit-Reset"]}
            status, payload = 429, {"message": "Too Many Requests", "error": 429}
        elif len(parts) == 3 and parts[0] == "r":
            status, payload = reddit._listing(parts[1], parts[2], query)
            extra = spent[1]
        elif len(parts) == 2 and parts[0] == "comments":
            status, payload = reddit._comments(parts[1])
            extra = spent[1]
        else:
            status, payload = 404, {"message": "Not Found", "error": 404}
        self._send(
            status, json.dumps(payload).encode(), {"Content-Type": "application/json", **extra}
        )

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
