"""The fake Reddit server, and the app's settings pointed at it: every test in this
folder that uses `client` talks to the real app, whose Reddit client talks to the fake
over real sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from tests.conftest import wait_for
from tests.fakes.reddit import FakeReddit

FINISHED = ("completed", "failed")


@pytest.fixture
def fake_reddit() -> Iterator[FakeReddit]:
    fake = FakeReddit().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], fake_reddit: FakeReddit) -> Settings:
    return settings_factory(**fake_reddit.settings())


def bot_config_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "python watcher",
        "subreddits": ["python"],
        "posts_limit": 25,
        "include_comments": True,
        "comments_limit": 50,
    }
    body.update(overrides)
    return body


async def create_bot(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/bot-configs", headers=headers, json=bot_config_body(**overrides)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def scrape(
    client: httpx.AsyncClient, headers: dict[str, str], bot_config_id: int
) -> dict[str, Any]:
    """Start a manual scrape and wait until its session has finished."""
    response = await client.post(f"/api/v1/bot-configs/{bot_config_id}/scrape", headers=headers)
    assert response.status_code == 202, response.text
    session_id = response.json()["session_id"]

    async def finished() -> dict[str, Any] | None:
        polled = await client.get(f"/api/v1/scrape-sessions/{session_id}", headers=headers)
        assert polled.status_code == 200, polled.text
        body: dict[str, Any] = polled.json()
        return body if body["status"] in FINISHED else None

    result: dict[str, Any] = await wait_for(finished, timeout=30)
    return result
