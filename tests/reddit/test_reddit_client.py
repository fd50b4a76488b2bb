"""The Reddit client against the fake Reddit server, over real sockets."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from app.core.config import Settings
from app.models.bot_config import SortOrder, TimeFilter
from app.services.scraping.reddit_client import CREDENTIALS_MISSING, RedditClient, RedditError
from tests.conftest import free_port
from tests.fakes.reddit import FakeComment, FakeReddit

SettingsFactory = Callable[..., Settings]


def client_for(
    settings_factory: SettingsFactory, fake: FakeReddit, **overrides: Any
) -> RedditClient:
    return RedditClient(settings_factory(**fake.settings(**overrides)))


async def new_posts(reddit: RedditClient, subreddit: str = "python", limit: int = 25) -> list[str]:
    posts = await reddit.subreddit_posts(
        subreddit, sort=SortOrder.NEW, time_filter=TimeFilter.DAY, limit=limit
    )
    return [p.title for p in posts]


async def test_token_is_fetched_with_basic_auth_and_reused(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_post("python", "first")
    async with client_for(settings_factory, fake_reddit, REDDIT_USER_AGENT="ua-test/1.0") as reddit:
        assert await new_posts(reddit) == ["first"]
        assert await new_posts(reddit) == ["first"]

    token_requests = fake_reddit.requests_to("/api/v1/access_token")
    assert len(token_requests) == 1
    expected = base64.b64encode(b"fake-client-id:fake-client-secret").decode()
    assert token_requests[0].headers["authorization"] == f"Basic {expected}"
    listing_requests = fake_reddit.requests_to("/r/python/new")
    assert len(listing_requests) == 2
    for request in [*token_requests, *listing_requests]:
        assert request.headers["user-agent"] == "ua-test/1.0"
    assert listing_requests[0].headers["authorization"].startswith("bearer fake-token-")
    assert listing_requests[0].query["raw_json"] == "1"


async def test_a_revoked_token_is_replaced_once(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_post("python", "first")
    async with client_for(settings_factory, fake_reddit) as reddit:
        await new_posts(reddit)
        fake_reddit.tokens.clear()
        assert await new_posts(reddit) == ["first"]
    assert len(fake_reddit.requests_to("/api/v1/access_token")) == 2


async def test_wrong_credentials_are_a_clear_error(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_subreddit("python")
    async with client_for(settings_factory, fake_reddit, REDDIT_CLIENT_SECRET="wrong") as reddit:
        with pytest.raises(RedditError, match="rejected the client credentials"):
            await new_posts(reddit)


def test_missing_credentials_are_a_clear_error(settings_factory: SettingsFactory) -> None:
    with pytest.raises(RedditError) as raised:
        RedditClient(settings_factory(REDDIT_CLIENT_ID=None, REDDIT_CLIENT_SECRET=None))
    assert str(raised.value) == CREDENTIALS_MISSING
    assert "REDDIT_CLIENT_ID" in CREDENTIALS_MISSING
    assert "REDDIT_CLIENT_SECRET" in CREDENTIALS_MISSING


async def test_listing_follows_after_across_pages(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.page_size = 2
    for i in range(5):
        fake_reddit.add_post("python", f"post {i}")
    async with client_for(settings_factory, fake_reddit) as reddit:
        assert await new_posts(reddit) == [f"post {i}" for i in reversed(range(5))]
        assert await new_posts(reddit, limit=3) == ["post 4", "post 3", "post 2"]
    requests = fake_reddit.requests_to("/r/python/new")
    assert [r.query.get("after") is not None for r in requests[:3]] == [False, True, True]
    assert len(requests) == 3 + 2


async def test_top_sends_the_time_filter(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_post("python", "low", score=1)
    fake_reddit.add_post("python", "high", score=99)
    async with client_for(settings_factory, fake_reddit) as reddit:
        posts = await reddit.subreddit_posts(
            "python", sort=SortOrder.TOP, time_filter=TimeFilter.WEEK, limit=10
        )
    assert [p.title for p in posts] == ["high", "low"]
    assert fake_reddit.requests_to("/r/python/top")[0].query["t"] == "week"


async def test_post_fields_are_parsed(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    post = fake_reddit.add_post(
        "Python", "Title", selftext="body\x00text", author="alice", score=7, num_comments=3
    )
    async with client_for(settings_factory, fake_reddit) as reddit:
        (parsed,) = await reddit.subreddit_posts(
            "python", sort=SortOrder.NEW, time_filter=TimeFilter.DAY, limit=1
        )
    assert parsed.reddit_id == post.id
    assert parsed.subreddit == "Python"
    assert parsed.selftext == "bodytext"
    assert (parsed.author, parsed.score, parsed.num_comments) == ("alice", 7, 3)
    assert parsed.created_utc.timestamp() == post.created_utc
    assert parsed.permalink == f"/r/Python/comments/{post.id}/"


async def test_comment_tree_is_flattened_without_more_stubs(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    reply = FakeComment("reply", replies=[FakeComment("reply to reply")])
    top = FakeComment("top", replies=[reply])
    other = FakeComment("other top")
    post = fake_reddit.add_post("python", "with comments", comments=[top, other])
    async with client_for(settings_factory, fake_reddit) as reddit:
        comments = await reddit.post_comments(post.id, limit=100)
        limited = await reddit.post_comments(post.id, limit=2)
        assert await reddit.post_comments(post.id, limit=0) == []
    assert [c.body for c in comments] == ["top", "reply", "reply to reply", "other top"]
    assert [c.parent_reddit_id for c in comments] == [None, top.id, reply.id, None]
    assert [c.body for c in limited] == ["top", "reply"]
    request = fake_reddit.requests_to(f"/comments/{post.id}")[0]
    assert request.query["limit"] == "100"
    assert "depth" in request.query


async def test_429_waits_for_retry_after_then_succeeds(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_post("python", "first")
    fake_reddit.rate_limit(retry_after=1, path="/r/python/new")
    async with client_for(settings_factory, fake_reddit) as reddit:
        assert await new_posts(reddit) == ["first"]
    first, second = fake_reddit.requests_to("/r/python/new")
    assert second.at - first.at >= 0.9


async def test_a_spent_rate_limit_waits_for_the_reset(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_post("python", "first")
    fake_reddit.rate_limit_headers = {
        "X-Ratelimit-Used": "600",
        "X-Ratelimit-Remaining": "0.0",
        "X-Ratelimit-Reset": "1",
    }
    async with client_for(settings_factory, fake_reddit) as reddit:
        await new_posts(reddit)
        await new_posts(reddit)
    first, second = fake_reddit.requests_to("/r/python/new")
    assert second.at - first.at >= 0.9


async def test_5xx_is_retried_with_backoff(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_post("python", "first")
    fake_reddit.fail(500, path="/r/python", times=2)
    fake_reddit.fail(503, path="/api/v1/access_token", times=1)
    async with client_for(settings_factory, fake_reddit, REDDIT_BACKOFF_SECONDS=0.05) as reddit:
        assert await new_posts(reddit) == ["first"]
    requests = fake_reddit.requests_to("/r/python/new")
    assert len(requests) == 3
    # Exponential: 0.05 s, then 0.1 s.
    assert requests[1].at - requests[0].at >= 0.04
    assert requests[2].at - requests[1].at >= 0.09


async def test_retries_give_up_with_the_reason(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_subreddit("python")
    fake_reddit.fail(502, path="/r/python", times=None)
    async with client_for(settings_factory, fake_reddit, REDDIT_MAX_RETRIES=2) as reddit:
        with pytest.raises(RedditError, match=r"failed after 3 attempt\(s\): HTTP 502"):
            await new_posts(reddit)
    assert len(fake_reddit.requests_to("/r/python/new")) == 3


async def test_garbage_is_a_clear_error(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_subreddit("python")
    fake_reddit.garbage(path="/r/python")
    async with client_for(settings_factory, fake_reddit) as reddit:
        with pytest.raises(RedditError, match="invalid JSON for GET /r/python/new") as raised:
            await new_posts(reddit)
    assert "upstream hiccup" in str(raised.value)


async def test_json_of_the_wrong_shape_is_a_clear_error(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_subreddit("python")
    fake_reddit.fail(200, path="/r/python", body='{"kind": "t3", "data": {}}')
    async with client_for(settings_factory, fake_reddit) as reddit:
        with pytest.raises(RedditError, match=r"unexpected response .*expected a Listing"):
            await new_posts(reddit)


async def test_unknown_subreddit_is_a_clear_error(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    async with client_for(settings_factory, fake_reddit) as reddit:
        with pytest.raises(RedditError, match=r"HTTP 404 .*may not exist") as raised:
            await new_posts(reddit, subreddit="nosuchsub")
    assert raised.value.status_code == 404


async def test_a_hanging_server_times_out(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_subreddit("python")
    fake_reddit.hang(2, path="/r/python")
    async with client_for(
        settings_factory, fake_reddit, REDDIT_TIMEOUT_SECONDS=0.2, REDDIT_MAX_RETRIES=1
    ) as reddit:
        with pytest.raises(RedditError, match=r"no answer within 0.2 s"):
            await new_posts(reddit)


async def test_unreachable_reddit_is_a_clear_error(
    settings_factory: SettingsFactory, fake_reddit: FakeReddit
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with client_for(
        settings_factory, fake_reddit, REDDIT_API_URL=dead, REDDIT_MAX_RETRIES=1
    ) as reddit:
        with pytest.raises(RedditError, match=r"failed after 2 attempt\(s\): ConnectError"):
            await new_posts(reddit)
