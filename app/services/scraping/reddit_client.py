"""A small client for Reddit's OAuth API (application-only), over httpx.

It reads listings and comment trees, nothing else. It gets its token with the client
credentials grant, honours Reddit's `X-Ratelimit-*` headers, retries 429 and 5xx
answers and network failures with exponential backoff, and turns anything else into a
`RedditError` whose message says what was asked and what went wrong.
See docs/reddit-client.md for why this is not asyncpraw.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx

from app.core import metrics
from app.core.config import Settings
from app.models.bot_config import SortOrder, TimeFilter
from app.services.scraping.budget import Permit, RateBudget

logger = logging.getLogger(__name__)

CREDENTIALS_MISSING = (
    "Reddit credentials are not configured: set REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET"
)
# What an owner is told when a scrape fails (see RedditError.reason).
CREDENTIALS_MISSING_REASON = "No Reddit app is configured for scraping"
CREDENTIALS_REFUSED_REASON = "Reddit refused the Reddit app's credentials"
UNREACHABLE_REASON = "Reddit could not be reached or kept failing; the scrape can be tried later"
UNEXPECTED_ANSWER = "Reddit sent an answer that could not be read"
# The budget key of the app configured by REDDIT_CLIENT_ID (stored apps use their id).
ENV_APP_KEY = "env"
# Reddit caps a listing page at 100 items.
PAGE_SIZE = 100
COMMENT_DEPTH = 10
# Reddit's rate-limit window is 10 minutes; no wait it asks for is longer.
MAX_WAIT_SECONDS = 600.0
# An access token is renewed this long before Reddit says it expires.
TOKEN_MARGIN_SECONDS = 60.0


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: loading the CA bundle costs
    tens of milliseconds of CPU, more than a scrape of a quiet subreddit."""
    return httpx.create_ssl_context()


class RedditError(Exception):
    """A Reddit request that failed for good (after retries, when retrying made sense).

    The message is the detail for the log and for superusers (URLs, upstream answers);
    `reason` is what a bot config's owner is told, with nothing of our internals in it.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.reason = reason or UNEXPECTED_ANSWER


@dataclass(frozen=True)
class RedditCredentials:
    """The Reddit app a client signs in as. `app_key` names its rate budget."""

    app_key: str
    client_id: str
    client_secret: str = field(repr=False)
    user_agent: str

    @classmethod
    def from_settings(cls, settings: Settings) -> RedditCredentials:
        if not settings.REDDIT_CLIENT_ID or not settings.REDDIT_CLIENT_SECRET:
            raise RedditError(CREDENTIALS_MISSING, reason=CREDENTIALS_MISSING_REASON)
        return cls(
            app_key=ENV_APP_KEY,
            client_id=settings.REDDIT_CLIENT_ID,
            client_secret=settings.REDDIT_CLIENT_SECRET,
            user_agent=settings.REDDIT_USER_AGENT,
        )


@dataclass(frozen=True)
class RedditPostData:
    reddit_id: str
    subreddit: str
    title: str
    selftext: str
    author: str | None
    url: str | None
    permalink: str | None
    score: int
    num_comments: int
    created_utc: datetime


@dataclass(frozen=True)
class RedditCommentData:
    reddit_id: str
    # The comment this one answers; None for a reply to the post itself.
    parent_reddit_id: str | None
    author: str | None
    body: str
    score: int
    created_utc: datetime


class RedditClient:
    """Use as `async with RedditClient(settings) as reddit: ...`. One instance serves
    one task at a time: it keeps the token and the rate-limit state between requests.
    Without `credentials` it signs in as the app of REDDIT_CLIENT_ID. With a `budget`,
    each API request first takes a permit of the app's shared budget; without one, the
    client only follows what the headers of its own answers say.

    `requests_made` counts the API requests sent (retries too; token requests go to
    reddit.com and count against no budget); `rate_limit_wait_seconds` the time spent
    waiting for a permit or for a 429's Retry-After."""

    def __init__(
        self,
        settings: Settings,
        credentials: RedditCredentials | None = None,
        *,
        budget: RateBudget | None = None,
    ) -> None:
        credentials = credentials or RedditCredentials.from_settings(settings)
        self._budget = budget
        self.requests_made = 0
        self.rate_limit_wait_seconds = 0.0
        self.app_key = credentials.app_key
        self._client_id = credentials.client_id
        self._client_secret = credentials.client_secret
        self._api_url = settings.REDDIT_API_URL.rstrip("/")
        self._auth_url = settings.REDDIT_AUTH_URL.rstrip("/")
        self._timeout = settings.REDDIT_TIMEOUT_SECONDS
        self._max_retries = settings.REDDIT_MAX_RETRIES
        self._backoff = settings.REDDIT_BACKOFF_SECONDS
        self._http = httpx.AsyncClient(
            verify=_tls_context(),
            timeout=httpx.Timeout(settings.REDDIT_TIMEOUT_SECONDS),
            headers={"User-Agent": credentials.user_agent, "Accept": "application/json"},
            follow_redirects=False,
        )
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._not_before = 0.0

    async def __aenter__(self) -> RedditClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- what the scraper asks for --------------------------------------------------

    async def subreddit_posts(
        self,
        subreddit: str,
        *,
        sort: SortOrder,
        time_filter: TimeFilter,
        limit: int,
        stop_at: datetime | None = None,
    ) -> list[RedditPostData]:
        """Up to `limit` posts of a subreddit's listing, following `after` across pages.
        With `stop_at` (for `new`, whose pages go back in time), no page is asked for
        after one that reaches a post created then or earlier."""
        path = f"/r/{subreddit}/{sort.value}"
        posts: list[RedditPostData] = []
        seen: set[str] = set()
        after: str | None = None
        while len(posts) < limit:
            params: dict[str, Any] = {"limit": min(PAGE_SIZE, limit - len(posts)), "raw_json": 1}
            if sort is SortOrder.TOP:
                params["t"] = time_filter.value
            if after:
                params["after"] = after
            payload = await self._api_get(path, params)
            children, after = _listing(payload, path)
            added = 0
            reached = False
            for child in children:
                if child.get("kind") != "t3":
                    continue
                post = _post(_data(child, path), path)
                reached = reached or (stop_at is not None and post.created_utc <= stop_at)
                if post.reddit_id not in seen and len(posts) < limit:
                    seen.add(post.reddit_id)
                    posts.append(post)
                    added += 1
            if not after or not added or reached:
                break
        return posts

    async def post_comments(self, post_id: str, *, limit: int) -> list[RedditCommentData]:
        """Up to `limit` comments of a post, parents before their replies. "Load more"
        stubs are skipped: following them costs a request per stub."""
        if limit <= 0:
            return []
        path = f"/comments/{post_id}"
        payload = await self._api_get(path, {"limit": limit, "depth": COMMENT_DEPTH, "raw_json": 1})
        if not isinstance(payload, list) or len(payload) < 2:
            raise RedditError(
                f"Reddit returned an unexpected response for GET {path}: expected the post "
                "and its comment listing"
            )
        children, _ = _listing(payload[1], path)
        comments: list[RedditCommentData] = []
        for child in _walk_comments(children, path):
            comments.append(_comment(child, path))
            if len(comments) >= limit:
                break
        return comments

    # --- HTTP ---------------------------------------------------------------------

    async def _api_get(self, path: str, params: Mapping[str, Any]) -> Any:
        url = f"{self._api_url}{path}"
        for attempt in range(2):
            token = await self._access_token()
            response = await self._send(
                "GET",
                url,
                params=params,
                headers={"Authorization": f"bearer {token}"},
                budgeted=True,
            )
            if response.status_code == 401 and attempt == 0:
                # The token was revoked or expired early: one more try with a new one.
                self._token = None
                continue
            break
        _raise_for_status(response, f"GET {path}")
        return _json(response, f"GET {path}")

    async def _access_token(self) -> str:
        if self._token is not None and time.monotonic() < self._token_expires_at:
            return self._token
        url = f"{self._auth_url}/api/v1/access_token"
        response = await self._send(
            "POST",
            url,
            data={"grant_type": "client_credentials"},
            auth=(self._client_id, self._client_secret),
        )
        if response.status_code in (401, 403):
            raise RedditError(
                f"Reddit rejected the client credentials (HTTP {response.status_code} from "
                f"{url}): "
                + (
                    "check REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET"
                    if self.app_key == ENV_APP_KEY
                    else f"check the client_id and client_secret of Reddit app {self.app_key}"
                ),
                status_code=response.status_code,
                reason=CREDENTIALS_REFUSED_REASON,
            )
        _raise_for_status(response, "POST /api/v1/access_token")
        payload = _json(response, "POST /api/v1/access_token")
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            reason = payload.get("error") if isinstance(payload, dict) else None
            raise RedditError(f"Reddit did not issue an access token: {reason or payload!r}")
        expires_in = _number(payload.get("expires_in"), 3600.0)
        margin = min(TOKEN_MARGIN_SECONDS, expires_in / 10)
        self._token = token
        self._token_expires_at = time.monotonic() + expires_in - margin
        return token

    async def _send(
        self, method: str, url: str, *, budgeted: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """One request, retried on 429, 5xx and network errors; any other answer is
        returned as it is. A `budgeted` request takes a permit of the budget first."""
        attempt = 0
        while True:
            wait: float | None = None
            try:
                response = await self._request(method, url, budgeted=budgeted, **kwargs)
            except httpx.TimeoutException:
                problem = f"no answer within {self._timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc or 'connection failed'}"
            else:
                if response.status_code == 429:
                    metrics.reddit_rate_limited(self.app_key)
                    problem = "HTTP 429 Too Many Requests"
                    wait = _retry_after(response.headers)
                elif response.status_code >= 500:
                    problem = f"HTTP {response.status_code}"
                else:
                    return response
            if attempt >= self._max_retries:
                raise RedditError(
                    f"Reddit request {method} {url} failed after {attempt + 1} attempt(s): "
                    f"{problem}",
                    reason=UNREACHABLE_REASON,
                )
            delay = wait if wait is not None else self._backoff * 2**attempt
            logger.warning(
                "Reddit %s %s: %s; retry %d of %d in %.2f s",
                method, url, problem, attempt + 1, self._max_retries, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)
            if wait is not None:
                self.rate_limit_wait_seconds += delay
            attempt += 1

    async def _request(
        self, method: str, url: str, *, budgeted: bool, **kwargs: Any
    ) -> httpx.Response:
        if not budgeted:
            return await self._http.request(method, url, **kwargs)
        permit: Permit | None = None
        if self._budget is None:
            await self._wait_for_rate_limit()
        else:
            permit = await self._budget.take()
            self.rate_limit_wait_seconds += permit.waited
        self.requests_made += 1
        metrics.reddit_request(self.app_key)
        headers: httpx.Headers | None = None
        try:
            response = await self._http.request(method, url, **kwargs)
            headers = response.headers
            self._note_rate_limit(headers)
            return response
        finally:
            if self._budget is not None and permit is not None:
                remaining, reset = _rate_limit(headers)
                await self._budget.answered(
                    permit, used=_used(headers), remaining=remaining, reset_seconds=reset
                )

    async def _wait_for_rate_limit(self) -> None:
        delay = self._not_before - time.monotonic()
        if delay > 0:
            logger.info("Reddit rate limit used up; waiting %.1f s for the window to reset", delay)
            await asyncio.sleep(delay)

    def _note_rate_limit(self, headers: httpx.Headers) -> None:
        remaining, reset = _rate_limit(headers)
        if remaining is not None:
            metrics.reddit_budget_remaining(self.app_key, remaining)
        if remaining is not None and reset is not None and remaining < 1:
            self._not_before = time.monotonic() + min(max(reset, 0.0), MAX_WAIT_SECONDS)


# --- parsing ------------------------------------------------------------------------


def _number(value: Any, default: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _rate_limit(headers: httpx.Headers | None) -> tuple[float | None, float | None]:
    """What an answer's headers say: requests left in the window, seconds until it ends."""
    if headers is None:
        return None, None
    remaining = _number(headers.get("x-ratelimit-remaining"), None)
    reset = _number(headers.get("x-ratelimit-reset"), None)
    if remaining is None or reset is None:
        return None, None
    return remaining, min(reset, MAX_WAIT_SECONDS)


def _used(headers: httpx.Headers | None) -> float | None:
    """The requests Reddit has counted in the window, this one included."""
    if headers is None:
        return None
    used: float | None = _number(headers.get("x-ratelimit-used"), None)
    return used


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait before retrying a 429: `Retry-After`, else the rate-limit reset."""
    for name in ("retry-after", "x-ratelimit-reset"):
        seconds = _number(headers.get(name), None)
        if seconds is not None:
            return float(min(max(seconds, 0.0), MAX_WAIT_SECONDS))
    return None


SUBREDDIT_HINTS = {
    403: ": the subreddit may be private or quarantined",
    404: ": the subreddit may not exist or be banned",
}


def _raise_for_status(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = ""
    if 300 <= status < 400:
        detail = f" (redirected to {response.headers.get('location', '?')})"
    else:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            reason = body.get("reason") or body.get("message") or body.get("error")
            if reason:
                detail = f" ({reason})"
    hint = ""
    reason = f"Reddit refused a request (HTTP {status})"
    if " /r/" in what:
        hint = ": the subreddit may not exist" if status < 400 else SUBREDDIT_HINTS.get(status, "")
        subreddit = what.split("/r/", 1)[1].split("/", 1)[0]
        reason = f"r/{subreddit} could not be read (HTTP {status}){hint}"
    raise RedditError(
        f"Reddit answered HTTP {status} to {what}{detail}{hint}",
        status_code=status,
        reason=reason,
    )


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        snippet = response.text[:120]
        raise RedditError(
            f"Reddit returned invalid JSON for {what} (HTTP {response.status_code}, "
            f"{response.headers.get('content-type', 'no content type')}): {snippet!r}",
            status_code=response.status_code,
        ) from None


def _unexpected(path: str, what: str) -> RedditError:
    return RedditError(f"Reddit returned an unexpected response for GET {path}: {what}")


def _listing(payload: Any, path: str) -> tuple[list[dict[str, Any]], str | None]:
    if not isinstance(payload, dict) or payload.get("kind") != "Listing":
        raise _unexpected(path, "expected a Listing")
    data = payload.get("data")
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(children, list):
        raise _unexpected(path, "a Listing without children")
    after = data.get("after") if isinstance(data, dict) else None
    return [c for c in children if isinstance(c, dict)], after if isinstance(after, str) else None


def _data(child: dict[str, Any], path: str) -> dict[str, Any]:
    data = child.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise _unexpected(path, f"a {child.get('kind')} item without an id")
    return data


def _text(value: Any, max_length: int | None = None) -> str:
    # PostgreSQL text cannot hold NUL characters.
    text = value.replace("\x00", "") if isinstance(value, str) else ""
    return text[:max_length] if max_length is not None else text


def _optional_text(value: Any, max_length: int | None = None) -> str | None:
    return _text(value, max_length) if isinstance(value, str) else None


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def _timestamp(value: Any, path: str) -> datetime:
    seconds = _number(value, None)
    if seconds is None:
        raise _unexpected(path, "an item without created_utc")
    return datetime.fromtimestamp(seconds, UTC)


def _post(data: dict[str, Any], path: str) -> RedditPostData:
    return RedditPostData(
        reddit_id=_text(data["id"], 20),
        subreddit=_text(data.get("subreddit"), 50),
        title=_text(data.get("title")),
        selftext=_text(data.get("selftext")),
        author=_optional_text(data.get("author"), 50),
        url=_optional_text(data.get("url")),
        permalink=_optional_text(data.get("permalink")),
        score=_int(data.get("score")),
        num_comments=_int(data.get("num_comments")),
        created_utc=_timestamp(data.get("created_utc"), path),
    )


def _comment(data: dict[str, Any], path: str) -> RedditCommentData:
    parent = data.get("parent_id")
    parent_id = parent[3:] if isinstance(parent, str) and parent.startswith("t1_") else None
    return RedditCommentData(
        reddit_id=_text(data["id"], 20),
        parent_reddit_id=_optional_text(parent_id, 20),
        author=_optional_text(data.get("author"), 50),
        body=_text(data.get("body")),
        score=_int(data.get("score")),
        created_utc=_timestamp(data.get("created_utc"), path),
    )


def _walk_comments(children: list[dict[str, Any]], path: str) -> Iterator[dict[str, Any]]:
    """The comments of a tree depth first, each before its replies; `more` stubs and
    anything else that is not a comment are left out."""
    stack: list[Iterator[dict[str, Any]]] = [iter(children)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            continue
        if child.get("kind") != "t1":
            continue
        data = _data(child, path)
        yield data
        replies = data.get("replies")
        if isinstance(replies, dict):
            nested, _ = _listing(replies, path)
            stack.append(iter(nested))
