"""The retention jobs, run through the real scheduler, delete exactly the rows past
their retention (90 days of content by when it was last seen, 30 days of sessions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.crud import scrape_session as session_crud
from app.db.session import Database
from app.models.reddit_content import RedditComment, RedditPost
from app.models.scrape_session import ScrapeSession, SessionStatus, SessionType
from tests.conftest import wait_for
from tests.reddit.conftest import create_bot


async def run_job(client: httpx.AsyncClient, admin: dict[str, str], job_id: str) -> dict[str, Any]:
    response = await client.post(f"/api/v1/tasks/{job_id}/run", headers=admin)
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]

    async def succeeded() -> dict[str, Any] | None:
        runs = await client.get(f"/api/v1/tasks/{job_id}/executions", headers=admin)
        for run in runs.json():
            if run["id"] == execution_id:
                assert run["status"] in ("running", "success"), run
                if run["status"] == "success":
                    found: dict[str, Any] = run
                    return found
        return None

    result: dict[str, Any] = await wait_for(succeeded, timeout=30)
    return result


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


async def test_cleanup_content_deletes_exactly_what_is_past_retention(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database
) -> None:
    bot = await create_bot(client, admin_headers)
    async with database.transaction() as db:

        def post(name: str, days: float) -> RedditPost:
            return RedditPost(
                reddit_id=name,
                bot_config_id=bot["id"],
                subreddit="python",
                title=name,
                created_utc=ago(400),
                scraped_at=ago(days),
            )

        old, recent, fresh = post("old", 91), post("recent", 89), post("fresh", 0)
        db.add_all([old, recent, fresh])
        await db.flush()

        def comment(name: str, on: RedditPost, days: float) -> RedditComment:
            return RedditComment(
                reddit_id=name, post_id=on.id, body=name, created_utc=ago(400), scraped_at=ago(days)
            )

        db.add_all(
            [
                comment("new_on_old", old, 1),
                comment("old_on_recent", recent, 90.5),
                comment("recent_on_recent", recent, 89),
                comment("fresh_on_fresh", fresh, 0),
            ]
        )

    run = await run_job(client, admin_headers, "cleanup_content")
    assert run["result"] == {"deleted_posts": 1, "deleted_comments": 2}

    async with database.sessionmaker() as db:
        posts = set(await db.scalars(select(RedditPost.reddit_id)))
        comments = set(await db.scalars(select(RedditComment.reddit_id)))
    assert posts == {"recent", "fresh"}
    assert comments == {"recent_on_recent", "fresh_on_fresh"}

    again = await run_job(client, admin_headers, "cleanup_content")
    assert again["result"] == {"deleted_posts": 0, "deleted_comments": 0}


async def test_cleanup_sessions_deletes_exactly_what_is_past_retention(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database
) -> None:
    bot = await create_bot(client, admin_headers)
    # A config has one active session at most, so the stuck one is another config's.
    other = await create_bot(client, admin_headers, name="other watcher")
    async with database.transaction() as db:
        ids: dict[str, int] = {}
        for name, days, status in [
            ("old_completed", 31, SessionStatus.COMPLETED),
            ("old_failed", 45, SessionStatus.FAILED),
            ("old_stuck", 31, SessionStatus.RUNNING),
            ("recent", 29, SessionStatus.COMPLETED),
            ("running", 0, SessionStatus.RUNNING),
        ]:
            session = await session_crud.create(
                db,
                bot_config_id=other["id"] if name == "old_stuck" else bot["id"],
                session_type=SessionType.AUTO,
                status=status,
                started_at=ago(days),
                created_at=ago(days),
            )
            ids[name] = session.id
        db.add(
            RedditPost(
                reddit_id="kept",
                bot_config_id=bot["id"],
                session_id=ids["old_completed"],
                subreddit="python",
                title="found by a session that retention removes",
                created_utc=ago(40),
                scraped_at=ago(1),
            )
        )

    run = await run_job(client, admin_headers, "cleanup_sessions")
    assert run["result"] == {"deleted_sessions": 3}

    async with database.sessionmaker() as db:
        remaining = set(await db.scalars(select(ScrapeSession.id)))
        post = await db.scalar(select(RedditPost).where(RedditPost.reddit_id == "kept"))
    assert remaining == {ids["recent"], ids["running"]}
    assert post is not None
    assert post.session_id is None
