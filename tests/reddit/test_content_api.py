"""Reading what was scraped: posts with filters and search, comments, sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fakes.reddit import FakeComment, FakeReddit
from tests.reddit.conftest import create_bot, scrape


@pytest.fixture
async def scraped(
    client: httpx.AsyncClient, make_user: Callable[..., Any], fake_reddit: FakeReddit
) -> dict[str, Any]:
    """Alice's bot scraped r/python and r/learnpython; Bob's scraped r/rust."""
    fake_reddit.add_post(
        "python",
        "Asyncio tips",
        selftext="Use TaskGroup 100% of the time",
        comments=[FakeComment("first", replies=[FakeComment("second")])],
    )
    fake_reddit.add_post("python", "Typing news", selftext="asyncio typing stubs")
    fake_reddit.add_post("learnpython", "Where to start", selftext="beginner_question")
    fake_reddit.add_post("rust", "Borrow checker", comments=[FakeComment("ownership")])
    _, alice = await make_user()
    _, bob = await make_user()
    alice_bot = await create_bot(client, alice, subreddits=["python", "learnpython"])
    bob_bot = await create_bot(client, bob, subreddits=["rust"])
    assert (await scrape(client, alice, alice_bot["id"]))["status"] == "completed"
    assert (await scrape(client, bob, bob_bot["id"]))["status"] == "completed"
    return {"alice": alice, "bob": bob, "alice_bot": alice_bot, "bob_bot": bob_bot}


async def titles(client: httpx.AsyncClient, headers: dict[str, str], query: str = "") -> list[str]:
    response = await client.get(f"/api/v1/reddit/posts{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [p["title"] for p in response.json()["items"]]


async def test_posts_are_filtered_searched_and_paginated(
    client: httpx.AsyncClient, scraped: dict[str, Any]
) -> None:
    alice = scraped["alice"]
    assert await titles(client, alice) == ["Where to start", "Typing news", "Asyncio tips"]
    bot_id = scraped["alice_bot"]["id"]
    assert len(await titles(client, alice, f"?bot_config_id={bot_id}")) == 3
    assert await titles(client, alice, "?subreddit=r/LearnPython") == ["Where to start"]
    assert await titles(client, alice, "?subreddit=PYTHON") == ["Typing news", "Asyncio tips"]
    assert await titles(client, alice, "?q=ASYNCIO") == ["Typing news", "Asyncio tips"]
    assert await titles(client, alice, "?q=100%25") == ["Asyncio tips"]
    assert await titles(client, alice, "?q=_question") == ["Where to start"]
    assert await titles(client, alice, "?q=beginner%25") == []
    assert await titles(client, alice, "?q=borrow") == []

    page = (await client.get("/api/v1/reddit/posts?limit=2&offset=1", headers=alice)).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert [p["title"] for p in page["items"]] == ["Typing news", "Asyncio tips"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
        ("subreddit=a", "subreddit"),
        ("subreddit=bad%20name", "subreddit"),
        ("bot_config_id=abc", "bot_config_id"),
    ],
)
async def test_post_filters_are_validated(
    client: httpx.AsyncClient, user_headers: dict[str, str], query: str, field: str
) -> None:
    response = await client.get(f"/api/v1/reddit/posts?{query}", headers=user_headers)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["query", field]]


async def test_owners_see_their_content_and_superusers_all(
    client: httpx.AsyncClient, admin_headers: dict[str, str], scraped: dict[str, Any]
) -> None:
    alice, bob = scraped["alice"], scraped["bob"]
    assert await titles(client, bob) == ["Borrow checker"]
    assert len(await titles(client, admin_headers)) == 4

    bob_post = (await client.get("/api/v1/reddit/posts", headers=bob)).json()["items"][0]
    for url in (
        f"/api/v1/reddit/posts/{bob_post['id']}",
        f"/api/v1/reddit/posts/{bob_post['id']}/comments",
        "/api/v1/reddit/posts/999999/comments",
    ):
        response = await client.get(url, headers=alice)
        assert response.status_code == 404, url
    response = await client.get(f"/api/v1/reddit/posts/{bob_post['id']}", headers=admin_headers)
    assert response.status_code == 200

    bob_sessions = (await client.get("/api/v1/scrape-sessions", headers=bob)).json()
    assert bob_sessions["total"] == 1
    assert bob_sessions["items"][0]["bot_config_id"] == scraped["bob_bot"]["id"]
    session_id = bob_sessions["items"][0]["id"]
    response = await client.get(f"/api/v1/scrape-sessions/{session_id}", headers=alice)
    assert response.status_code == 404
    assert (await client.get("/api/v1/scrape-sessions/999999", headers=bob)).status_code == 404
    all_sessions = (await client.get("/api/v1/scrape-sessions", headers=admin_headers)).json()
    assert all_sessions["total"] == 2


async def test_comments_of_a_post(client: httpx.AsyncClient, scraped: dict[str, Any]) -> None:
    alice = scraped["alice"]
    posts = (await client.get("/api/v1/reddit/posts?q=TaskGroup", headers=alice)).json()
    post = posts["items"][0]
    response = await client.get(f"/api/v1/reddit/posts/{post['id']}/comments", headers=alice)
    assert response.status_code == 200, response.text
    comments = response.json()
    assert comments["total"] == 2
    first, second = comments["items"]
    assert (first["body"], first["parent_reddit_id"]) == ("first", None)
    assert (second["body"], second["parent_reddit_id"]) == ("second", first["reddit_id"])
    assert first["post_id"] == post["id"]

    response = await client.get(
        f"/api/v1/reddit/posts/{post['id']}/comments?limit=501", headers=alice
    )
    assert response.status_code == 422
