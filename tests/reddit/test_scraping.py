"""Scraping against the fake Reddit: manual sessions through the API and scheduled
ones through the scheduler, what they store, and how they fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from app.core.config import Settings
from app.db.session import Database
from app.models.reddit_content import RedditComment, RedditPost
from app.models.scrape_session import ScrapeSession, SessionStatus, SessionType
from app.services.scrape_session import BackgroundScrapes, run_manual_session
from app.services.scraping.orchestrator import INTERRUPTED, ScrapingOrchestrator
from app.services.scraping.reddit_client import (
    CREDENTIALS_MISSING,
    CREDENTIALS_MISSING_REASON,
    UNEXPECTED_ANSWER,
    UNREACHABLE_REASON,
)
from tests.conftest import bearer, free_port, login, run_and_wait, running_app, wait_for
from tests.fakes.reddit import FakeComment, FakeReddit
from tests.reddit.conftest import create_bot, scrape


async def count(database: Database, model: type[Any]) -> int:
    async with database.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def stored_posts(database: Database) -> dict[str, RedditPost]:
    async with database.sessionmaker() as db:
        return {p.reddit_id: p for p in await db.scalars(select(RedditPost))}


async def detail_for_superuser(
    client: httpx.AsyncClient, admin_headers: dict[str, str], session: dict[str, Any]
) -> str:
    """The failure's detail, which only a superuser is shown; the owner gets the reason."""
    assert session["error_detail"] is None
    polled = await client.get(f"/api/v1/scrape-sessions/{session['id']}", headers=admin_headers)
    assert polled.json()["error_message"] == session["error_message"]
    detail: str = polled.json()["error_detail"]
    return detail


def assert_plain(reason: str) -> None:
    """What an owner reads names no URL, host or exception of ours."""
    for internal in ("http", "127.0.0.1", "Error", "GET ", "POST ", "attempt"):
        assert internal not in reason, reason


def seed(fake: FakeReddit) -> None:
    fake.add_post(
        "python",
        "Asyncio tips",
        selftext="event loops",
        score=10,
        comments=[
            FakeComment("great", replies=[FakeComment("agreed")]),
            FakeComment("thanks"),
        ],
    )
    fake.add_post("python", "Typing in 2027", score=5, comments=[FakeComment("nice")])
    fake.add_post("learnpython", "How do I start?", comments=[])


async def test_manual_scrape_stores_posts_and_comments_then_only_new_ones(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
    database: Database,
) -> None:
    seed(fake_reddit)
    bot = await create_bot(client, user_headers, subreddits=["python", "r/LearnPython"])

    response = await client.post(f"/api/v1/bot-configs/{bot['id']}/scrape", headers=user_headers)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["session_id"] == started["id"]
    assert started["status"] == "running"
    assert started["session_type"] == "manual"
    assert started["bot_config_id"] == bot["id"]

    async def done() -> dict[str, Any] | None:
        polled = await client.get(
            f"/api/v1/scrape-sessions/{started['session_id']}", headers=user_headers
        )
        body: dict[str, Any] = polled.json()
        return body if body["status"] != "running" else None

    first = await wait_for(done, timeout=30)
    assert first["status"] == "completed", first
    assert first["error_message"] is None
    assert first["completed_at"] is not None
    assert (first["posts_found"], first["posts_new"]) == (3, 3)
    assert (first["comments_found"], first["comments_new"]) == (4, 4)
    assert await count(database, RedditPost) == 3
    assert await count(database, RedditComment) == 4

    posts = await stored_posts(database)
    tips = next(p for p in posts.values() if p.title == "Asyncio tips")
    assert (tips.subreddit, tips.score, tips.num_comments) == ("python", 10, 3)
    assert tips.session_id == first["id"]
    assert tips.bot_config_id == bot["id"]
    first_seen = tips.scraped_at

    # A new post and a new comment appear; an old post gains score.
    fake_reddit.add_post("python", "Brand new", comments=[FakeComment("first!")])
    fake_post = fake_reddit.find_post(tips.reddit_id)
    assert fake_post is not None
    fake_post.score = 42
    fake_post.comments.append(FakeComment("late reply"))
    fake_post.num_comments = 4

    second = await scrape(client, user_headers, bot["id"])
    assert second["status"] == "completed", second
    assert (second["posts_found"], second["posts_new"]) == (4, 1)
    # Comments are fetched again only for posts whose comment count changed (and the
    # new one): "Typing in 2027" is not asked for twice.
    assert (second["comments_found"], second["comments_new"]) == (5, 2)
    typing = next(p for p in posts.values() if p.title == "Typing in 2027")
    assert len(fake_reddit.requests_to(f"/comments/{typing.reddit_id}")) == 1
    assert len(fake_reddit.requests_to(f"/comments/{tips.reddit_id}")) == 2
    assert await count(database, RedditPost) == 4
    assert await count(database, RedditComment) == 6
    refreshed = (await stored_posts(database))[tips.reddit_id]
    assert (refreshed.score, refreshed.num_comments) == (42, 4)
    assert refreshed.scraped_at > first_seen
    # The post still belongs to the session that first found it.
    assert refreshed.session_id == first["id"]

    sessions = (
        await client.get(f"/api/v1/scrape-sessions?bot_config_id={bot['id']}", headers=user_headers)
    ).json()
    assert [s["id"] for s in sessions["items"]] == [second["id"], first["id"]]


async def test_keywords_filter_title_and_body(
    client: httpx.AsyncClient, user_headers: dict[str, str], fake_reddit: FakeReddit
) -> None:
    seed(fake_reddit)
    bot = await create_bot(
        client, user_headers, subreddits=["python"], keywords=["EVENT LOOP", "nothing"]
    )
    session = await scrape(client, user_headers, bot["id"])
    assert session["status"] == "completed", session
    assert (session["posts_found"], session["comments_found"]) == (1, 3)
    posts = (await client.get("/api/v1/reddit/posts", headers=user_headers)).json()
    assert [p["title"] for p in posts["items"]] == ["Asyncio tips"]


async def test_limits_pagination_and_comments_off(
    client: httpx.AsyncClient, user_headers: dict[str, str], fake_reddit: FakeReddit
) -> None:
    fake_reddit.page_size = 2
    for i in range(5):
        fake_reddit.add_post("python", f"post {i}", comments=[FakeComment("c")])
    bot = await create_bot(
        client, user_headers, subreddits=["python"], posts_limit=4, include_comments=False
    )
    session = await scrape(client, user_headers, bot["id"])
    assert (session["posts_found"], session["comments_found"]) == (4, 0)
    assert len(fake_reddit.requests_to("/r/python/new")) == 2
    assert fake_reddit.requests_to("/comments/") == []


async def test_429_and_500_are_retried_and_the_scrape_succeeds(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
    database: Database,
) -> None:
    seed(fake_reddit)
    fake_reddit.rate_limit(retry_after=1, path="/r/python/new")
    fake_reddit.fail(500, path="/comments/", times=2)
    bot = await create_bot(client, user_headers, subreddits=["python"])
    session = await scrape(client, user_headers, bot["id"])
    assert session["status"] == "completed", session
    assert (session["posts_new"], session["comments_new"]) == (2, 4)
    listing = fake_reddit.requests_to("/r/python/new")
    assert len(listing) == 2
    assert listing[1].at - listing[0].at >= 0.9
    assert await count(database, RedditComment) == 4


async def test_garbage_fails_the_session_and_keeps_what_was_stored(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
    database: Database,
) -> None:
    seed(fake_reddit)
    bot = await create_bot(client, user_headers, subreddits=["python"])
    assert (await scrape(client, user_headers, bot["id"]))["status"] == "completed"
    before = {k: (p.title, p.score) for k, p in (await stored_posts(database)).items()}

    fake_reddit.garbage(path="/r/python")
    failed = await scrape(client, user_headers, bot["id"])
    assert failed["status"] == "failed"
    assert failed["error_message"] == UNEXPECTED_ANSWER
    detail = await detail_for_superuser(client, admin_headers, failed)
    assert "invalid JSON for GET /r/python/new" in detail
    assert failed["completed_at"] is not None
    assert {k: (p.title, p.score) for k, p in (await stored_posts(database)).items()} == before
    assert await count(database, RedditComment) == 4


async def test_a_failure_after_some_subreddits_keeps_them(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
    database: Database,
) -> None:
    seed(fake_reddit)
    bot = await create_bot(client, user_headers, subreddits=["python", "nosuchsub"])
    failed = await scrape(client, user_headers, bot["id"])
    assert failed["status"] == "failed"
    assert failed["error_message"] == (
        "r/nosuchsub could not be read (HTTP 404): the subreddit may not exist or be banned"
    )
    detail = await detail_for_superuser(client, admin_headers, failed)
    assert "HTTP 404 to GET /r/nosuchsub/new" in detail
    assert (failed["posts_new"], failed["comments_new"]) == (2, 4)
    assert await count(database, RedditPost) == 2


async def test_persistent_5xx_fails_after_retries(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
) -> None:
    seed(fake_reddit)
    fake_reddit.fail(503, path="/r/python", times=None)
    bot = await create_bot(client, user_headers, subreddits=["python"])
    failed = await scrape(client, user_headers, bot["id"])
    assert failed["status"] == "failed"
    assert failed["error_message"] == UNREACHABLE_REASON
    assert_plain(failed["error_message"])
    detail = await detail_for_superuser(client, admin_headers, failed)
    assert "failed after 5 attempt(s): HTTP 503" in detail
    assert len(fake_reddit.requests_to("/r/python/new")) == 5


async def test_unreachable_reddit_fails_the_session(
    settings_factory: Callable[..., Settings], fake_reddit: FakeReddit
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = settings_factory(**fake_reddit.settings(REDDIT_API_URL=dead, REDDIT_AUTH_URL=dead))
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        bot = await create_bot(client, headers)
        failed = await scrape(client, headers, bot["id"])
    assert failed["status"] == "failed"
    assert failed["error_message"] == UNREACHABLE_REASON
    # The scrape was a superuser's: the detail is in the answer.
    assert f"POST {dead}/api/v1/access_token failed after 5 attempt(s)" in failed["error_detail"]
    assert "ConnectError" in failed["error_detail"]


async def test_missing_credentials_fail_the_session_clearly(
    settings_factory: Callable[..., Settings], fake_reddit: FakeReddit
) -> None:
    settings = settings_factory(
        **fake_reddit.settings(REDDIT_CLIENT_ID=None, REDDIT_CLIENT_SECRET=None)
    )
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        bot = await create_bot(client, headers)
        failed = await scrape(client, headers, bot["id"])
    assert failed["status"] == "failed"
    assert failed["error_message"] == CREDENTIALS_MISSING_REASON
    assert failed["error_detail"] == CREDENTIALS_MISSING
    assert fake_reddit.requests == []


async def test_scheduled_job_scrapes_and_failures_reach_task_history(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
) -> None:
    seed(fake_reddit)
    bot = await create_bot(client, user_headers, subreddits=["python"], auto_scrape_enabled=True)
    job_id = f"bot_scraping_{bot['id']}"

    success = await run_and_wait(client, admin_headers, job_id)
    assert success["status"] == "success", success
    assert success["trigger"] == "manual"
    assert success["result"]["status"] == "completed"
    assert success["result"]["posts_new"] == 2
    session_id = success["result"]["session_id"]
    session = (
        await client.get(f"/api/v1/scrape-sessions/{session_id}", headers=user_headers)
    ).json()
    assert (session["session_type"], session["status"]) == ("auto", "completed")

    fake_reddit.fail(500, path="/r/python", times=None)
    failure = await run_and_wait(client, admin_headers, job_id)
    assert failure["status"] == "failed", failure
    assert "failed after 5 attempt(s): HTTP 500" in failure["error_message"]
    sessions = (
        await client.get(
            f"/api/v1/scrape-sessions?bot_config_id={bot['id']}&status=failed",
            headers=user_headers,
        )
    ).json()
    assert sessions["total"] == 1
    assert sessions["items"][0]["error_message"] == UNREACHABLE_REASON
    assert sessions["items"][0]["error_detail"] is None
    # Task history is for superusers: it has the detail, as the session's superuser view.
    as_admin = (
        await client.get(
            f"/api/v1/scrape-sessions?bot_config_id={bot['id']}&status=failed",
            headers=admin_headers,
        )
    ).json()
    assert as_admin["items"][0]["error_detail"] in failure["error_message"]
    assert sessions["items"][0]["session_type"] == "auto"


async def test_scheduled_job_without_credentials_fails_with_the_reason(
    settings_factory: Callable[..., Settings], fake_reddit: FakeReddit
) -> None:
    settings = settings_factory(
        **fake_reddit.settings(REDDIT_CLIENT_ID=None, REDDIT_CLIENT_SECRET=None)
    )
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        bot = await create_bot(client, headers, auto_scrape_enabled=True)
        failure = await run_and_wait(client, headers, f"bot_scraping_{bot['id']}")
        sessions = (await client.get("/api/v1/scrape-sessions", headers=headers)).json()
    assert failure["status"] == "failed"
    assert CREDENTIALS_MISSING in failure["error_message"]
    assert [s["status"] for s in sessions["items"]] == ["failed"]
    assert sessions["items"][0]["error_message"] == CREDENTIALS_MISSING_REASON
    assert sessions["items"][0]["error_detail"] == CREDENTIALS_MISSING


async def test_batch_task_scrapes_every_auto_config(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
) -> None:
    seed(fake_reddit)
    await create_bot(client, user_headers, subreddits=["python"], auto_scrape_enabled=True)
    await create_bot(client, user_headers, subreddits=["nosuchsub"], auto_scrape_enabled=True)
    await create_bot(client, user_headers, subreddits=["learnpython"])
    response = await client.post(
        "/api/v1/tasks",
        headers=admin_headers,
        json={
            "id": "auto_scraping_batch",
            "task": "auto_scraping_batch",
            "trigger": {"type": "interval", "hours": 6},
        },
    )
    assert response.status_code == 201, response.text
    run = await run_and_wait(client, admin_headers, "auto_scraping_batch")
    assert run["status"] == "success", run
    assert (run["result"]["total_configs"], run["result"]["successful"]) == (2, 1)
    failed = [d for d in run["result"]["details"] if d["status"] == "failed"]
    assert len(failed) == 1
    assert "nosuchsub" in failed[0]["error"]


async def test_shutdown_interrupts_a_running_manual_scrape(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    settings: Settings,
    database: Database,
    fake_reddit: FakeReddit,
) -> None:
    """What the app does with manual scrapes still running when it stops: they get a
    grace period, then are cancelled, and their sessions end `failed`, not `running`."""
    fake_reddit.add_subreddit("python")
    fake_reddit.hang(10, path="/r/python")
    bot = await create_bot(client, user_headers)
    orchestrator = ScrapingOrchestrator(database, settings)
    async with database.transaction() as db:
        session = await orchestrator.start_session(db, bot["id"], SessionType.MANUAL)
    scrapes = BackgroundScrapes()
    scrapes.spawn(run_manual_session(orchestrator, session.id), name="test-scrape")
    await wait_for(lambda: fake_reddit.requests_to("/r/python/new"))

    await scrapes.shutdown(grace_seconds=0.05)

    assert len(scrapes) == 0
    async with database.sessionmaker() as db:
        stored = await db.get(ScrapeSession, session.id)
    assert stored is not None
    assert stored.status == SessionStatus.FAILED
    assert stored.error_message == INTERRUPTED


async def test_two_bot_configs_finding_the_same_posts_each_keep_them(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    fake_reddit: FakeReddit,
    database: Database,
) -> None:
    seed(fake_reddit)
    _, alice = await make_user()
    _, bob = await make_user()
    alice_bot = await create_bot(client, alice, subreddits=["python"])
    bob_bot = await create_bot(client, bob, subreddits=["python"])
    for headers, bot in ((alice, alice_bot), (bob, bob_bot)):
        session = await scrape(client, headers, bot["id"])
        assert (session["posts_new"], session["comments_new"]) == (2, 4)
        posts = (await client.get("/api/v1/reddit/posts", headers=headers)).json()
        assert {p["bot_config_id"] for p in posts["items"]} == {bot["id"]}
        assert posts["total"] == 2
    assert await count(database, RedditPost) == 4
    assert await count(database, RedditComment) == 8
    again = await scrape(client, alice, alice_bot["id"])
    assert (again["posts_new"], again["comments_new"]) == (0, 0)
