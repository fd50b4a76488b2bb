"""The built-in `http_request` task: one HTTP request per run, to an allowed host only.

Only hosts in `HTTP_TASK_ALLOWED_HOSTS` may be called. A job's URL is checked when the
job is created or changed, and every request of a run is checked again as it is sent
(the setting may have changed since, and a redirect may point anywhere), so a run never
sends a request to a host that is not listed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Annotated, Any, Literal

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import Invalid
from app.schemas.types import FiniteFloat, JsonObject, String
from app.tasks.registry import TaskContext, TaskTimeout, registry

logger = logging.getLogger(__name__)

SETTING = "HTTP_TASK_ALLOWED_HOSTS"
MAX_REDIRECTS = 5
MAX_TIMEOUT_SECONDS = 3600
# How much of an unexpected answer's body the error quotes, and how much is read for it.
EXCERPT_CHARS = 300
EXCERPT_READ_BYTES = 4096
DEFAULT_PORTS = {"http": 80, "https": 443}

HTTP_TOKEN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"


def _http_url(value: str) -> str:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if url.scheme not in DEFAULT_PORTS:
        raise ValueError("must be an http:// or https:// URL")
    if not url.host:
        raise ValueError("must name a host")
    return value


def _header_value(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("a header value cannot contain a line break")
    return value


HttpUrl = Annotated[String, Field(min_length=1, max_length=2048), AfterValidator(_http_url)]
HeaderName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=HTTP_TOKEN)]
HeaderValue = Annotated[String, Field(max_length=4096), AfterValidator(_header_value)]
StatusCode = Annotated[int, Field(strict=True, ge=100, le=599)]


class HttpRequestParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: HttpUrl
    headers: Annotated[dict[HeaderName, HeaderValue], Field(max_length=50)] = Field(
        default_factory=dict
    )
    # A string is sent as it is; a JSON object is sent as JSON.
    body: String | JsonObject | None = None
    # The statuses that count as success: from the first to the second, both included.
    expected_status: tuple[StatusCode, StatusCode] = (200, 299)
    timeout_seconds: Annotated[FiniteFloat, Field(gt=0, le=MAX_TIMEOUT_SECONDS)] = 30.0

    @field_validator("expected_status")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] > value[1]:
            raise ValueError("[lowest, highest]: the first cannot be larger")
        return value


class HostNotAllowed(Exception):
    pass


class UnexpectedStatus(Exception):
    pass


def host_allowed(url: httpx.URL, allowed: list[str]) -> bool:
    """Whether `url` is on a listed host: `host` allows every port, `host:port` one."""
    host = url.host.lower()
    shown = f"[{host}]" if ":" in host else host
    port = url.port or DEFAULT_PORTS.get(url.scheme)
    return shown in allowed or f"{shown}:{port}" in allowed


def _host_of(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port}" if url.port else host


def _refusal(url: httpx.URL, allowed: list[str]) -> str:
    listed = ", ".join(allowed) if allowed else "empty"
    return f"host {_host_of(url)} is not in {SETTING} (listed: {listed})"


async def url_host_allowed(_: AsyncSession, settings: Settings, params: HttpRequestParams) -> None:
    url = httpx.URL(params.url)
    if not host_allowed(url, settings.HTTP_TASK_ALLOWED_HOSTS):
        raise Invalid(_refusal(url, settings.HTTP_TASK_ALLOWED_HOSTS), field="params.url")


def _excerpt(data: bytes) -> str:
    text = re.sub(r"\s+", " ", data.decode("utf-8", errors="replace")).strip()
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


@registry.task(
    "http_request",
    "Send one HTTP request to an allowed host; fail on an unexpected status",
    HttpRequestParams,
    check=url_host_allowed,
)
async def http_request(ctx: TaskContext, params: HttpRequestParams) -> dict[str, Any]:
    allowed = ctx.settings.HTTP_TASK_ALLOWED_HOSTS
    sent_at = time.perf_counter()

    async def on_request(request: httpx.Request) -> None:
        nonlocal sent_at
        # Redirects come here too, before they are sent.
        if not host_allowed(request.url, allowed):
            raise HostNotAllowed(
                f"{request.method} {request.url} not sent: " + _refusal(request.url, allowed)
            )
        sent_at = time.perf_counter()
        logger.info("request: %s %s", request.method, request.url)

    async def on_response(response: httpx.Response) -> None:
        elapsed_ms = (time.perf_counter() - sent_at) * 1000
        request = response.request
        logger.info(
            "response: %s %s: %d in %.0f ms",
            request.method,
            request.url,
            response.status_code,
            elapsed_ms,
        )

    low, high = params.expected_status
    started = time.perf_counter()
    content = params.body if isinstance(params.body, str) else None
    json_body = params.body if isinstance(params.body, dict) else None
    # No proxy from the environment: the request goes to the listed host and nowhere else.
    async with httpx.AsyncClient(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=params.timeout_seconds,
        trust_env=False,
        event_hooks={"request": [on_request], "response": [on_response]},
    ) as client:
        try:
            async with (
                asyncio.timeout(params.timeout_seconds),
                client.stream(
                    params.method,
                    params.url,
                    headers=params.headers,
                    content=content,
                    json=json_body,
                ) as response,
            ):
                status = response.status_code
                excerpt = ""
                if not low <= status <= high:
                    body = b""
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) >= EXCERPT_READ_BYTES:
                            break
                    excerpt = _excerpt(body[:EXCERPT_READ_BYTES])
        except (TimeoutError, httpx.TimeoutException):
            raise TaskTimeout(params.timeout_seconds, "the HTTP request") from None
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    if not low <= status <= high:
        raise UnexpectedStatus(
            f"{params.method} {response.url} answered {status}, expected {low}-{high}: "
            f"{excerpt or '(empty body)'}"
        )
    return {"status_code": status, "elapsed_ms": elapsed_ms, "url": str(response.url)}
