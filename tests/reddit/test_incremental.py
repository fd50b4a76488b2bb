"""Incremental scraping: `sort=new` stops paging at the newest post already stored, and
comments are fetched again only for posts whose comment count changed."""

from __future__ import annotations

import httpx

from tests.fakes.reddit import FakeComment, FakeReddit
from tests.reddit.conftest import create_bot, scrape


async def test_a_second_new_scrape_of_an_unchanged_subreddit_makes_one_listing_request(
    client: httpx.AsyncClient, user_headers: dict[str, str], fake_reddit: FakeReddit
) -> None:
    fake_reddit.page_size = 2
    for i in range(5):
        fake_reddit.add_post("python", f"post {i}", comments=[FakeComment("c")])
    bot = await create_bot(client, user_headers, subreddits=["python"], sort="new")

    first = await scrape(client, user_headers, bot["id"])
    assert first["status"] == "completed", first
    assert len(fake_reddit.requests_to("/r/python/new")) == 3
    assert len(fake_reddit.requests_to("/comments/")) == 5
    assert first["requests_made"] == 8
    assert first["subreddit_counts"]["python"]["requests"] == 8

    second = await scrape(client, user_headers, bot["id"])
    assert second["status"] == "completed", second
    assert len(fake_reddit.requests_to("/r/python/new")) == 4
    assert len(fake_reddit.requests_to("/comments/")) == 5
    assert second["requests_made"] == 1
    assert second["subreddit_counts"] == {
        "python": {
            "requests": 1,
            "posts_found": 2,
            "posts_new": 0,
            "comments_found": 0,
            "comments_new": 0,
        }
    }
    assert second["rate_limit_wait_seconds"] == 0

    # Two new posts and a new comment on a stored one: one page still reaches back to
    # what is stored; only the changed and new posts' comments are fetched.
    fake_reddit.add_post("python", "new one", comments=[FakeComment("hi")])
    changed = fake_reddit.posts["python"][1]
    changed.comments.append(FakeComment("late"))
    changed.num_comments += 1
    third = await scrape(client, user_headers, bot["id"])
    assert third["status"] == "completed", third
    assert len(fake_reddit.requests_to("/r/python/new")) == 5
    assert len(fake_reddit.requests_to(f"/comments/{changed.id}")) == 2
    assert third["requests_made"] == 3
    assert (third["posts_new"], third["comments_new"]) == (1, 2)


async def test_other_sorts_still_page_to_the_limit(
    client: httpx.AsyncClient, user_headers: dict[str, str], fake_reddit: FakeReddit
) -> None:
    fake_reddit.page_size = 2
    for i in range(5):
        fake_reddit.add_post("python", f"post {i}", score=i)
    bot = await create_bot(
        client, user_headers, subreddits=["python"], sort="top", include_comments=False
    )
    for _ in range(2):
        assert (await scrape(client, user_headers, bot["id"]))["posts_found"] == 5
    assert len(fake_reddit.requests_to("/r/python/top")) == 6
