"""`ScrapingOrchestrator`: one scrape session of a bot config, from the first request to
Reddit to the counts on the session row.

It is a unit-of-work boundary of its own, like a job: each step commits in its own
transaction, so the session can be polled while it runs and what a step stored stays
stored if a later step fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import NotFound
from app.crud import bot_config as bot_config_crud
from app.crud import reddit_content as content_crud
from app.crud import scrape_session as session_crud
from app.db.session import Database
from app.models.bot_config import BotConfig, SortOrder, TimeFilter
from app.models.scrape_session import ScrapeSession, SessionStatus, SessionType
from app.services import reddit_app as reddit_app_service
from app.services.scraping.budget import MANUAL_PRIORITY, SCHEDULED_PRIORITY, RateBudget
from app.services.scraping.reddit_client import (
    RedditClient,
    RedditCommentData,
    RedditError,
    RedditPostData,
)

logger = logging.getLogger(__name__)

INTERRUPTED = "Interrupted: the scrape was cancelled (timed out or the process stopped)"
ABANDONED = "Interrupted: the process running this scrape stopped before it finished"


INTERNAL_FAILURE = "The scrape failed because of an error on our side"


class ScrapeFailed(Exception):
    """A session that ended `failed`. The message carries the detail recorded on it, so
    a job's history (superusers only) shows what the session's `error_detail` shows."""

    def __init__(self, session_id: int, reason: str, detail: str | None = None) -> None:
        super().__init__(f"Scrape session {session_id} failed: {detail or reason}")
        self.session_id = session_id
        self.reason = reason
        self.detail = detail or reason


class ScrapeAlreadyRunning(Exception):
    """A session of the config is pending or running (see `uq_scrape_sessions_active`)."""


@dataclass(frozen=True)
class ScrapePlan:
    """What a session scrapes, read from the bot config when it starts."""

    bot_config_id: int
    subreddits: tuple[str, ...]
    keywords: tuple[str, ...]
    sort: SortOrder
    time_filter: TimeFilter
    posts_limit: int
    include_comments: bool
    comments_limit: int
    reddit_app_id: int | None

    @classmethod
    def of(cls, config: BotConfig) -> ScrapePlan:
        return cls(
            bot_config_id=config.id,
            subreddits=tuple(config.subreddits),
            keywords=tuple(k.casefold() for k in config.keywords or ()),
            sort=SortOrder(config.sort),
            time_filter=TimeFilter(config.time_filter),
            posts_limit=config.posts_limit,
            include_comments=config.include_comments,
            comments_limit=config.comments_limit,
            reddit_app_id=config.reddit_app_id,
        )

    def matches(self, post: RedditPostData) -> bool:
        if not self.keywords:
            return True
        text = f"{post.title}\n{post.selftext}".casefold()
        return any(keyword in text for keyword in self.keywords)


@dataclass
class Counts:
    posts_found: int = 0
    posts_new: int = 0
    comments_found: int = 0
    comments_new: int = 0
    requests_made: int = 0
    rate_limit_wait_seconds: float = 0.0
    subreddits: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, subreddit: str, **counts: int) -> None:
        entry = self.subreddits.setdefault(subreddit, dict.fromkeys(SUBREDDIT_COUNTS, 0))
        for name, value in counts.items():
            entry[name] += value
            if name != "requests":
                setattr(self, name, getattr(self, name) + value)

    def cost(self, reddit: RedditClient) -> dict[str, Any]:
        """The session columns of what the scrape has cost so far."""
        self.requests_made = reddit.requests_made
        self.rate_limit_wait_seconds = reddit.rate_limit_wait_seconds
        return {
            "requests_made": self.requests_made,
            "rate_limit_wait_seconds": round(self.rate_limit_wait_seconds, 3),
            "subreddit_counts": {name: dict(c) for name, c in self.subreddits.items()},
        }


SUBREDDIT_COUNTS = ("requests", "posts_found", "posts_new", "comments_found", "comments_new")


class ScrapingOrchestrator:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    async def execute_scraping_session(
        self, db: AsyncSession, bot_config_id: int, session_type: SessionType
    ) -> dict[str, Any]:
        """Scrape one bot config now and return the session's summary; raise
        `ScrapeFailed` (after recording the failed session) if it fails.

        `db` is the caller's unit of work and is left untouched: the session's steps
        commit in their own transactions so that progress is visible while it runs.
        A scheduled (`auto`) run of a config that no longer wants one is skipped.
        """
        if session_type == SessionType.AUTO:
            async with self.database.transaction() as own:
                config = await bot_config_crud.get(own, bot_config_id)
                if config is None:
                    raise NotFound(f"Bot config {bot_config_id} does not exist")
                if not (config.is_active and config.auto_scrape_enabled):
                    return {
                        "status": "skipped",
                        "bot_config_id": bot_config_id,
                        "reason": "the bot config is inactive or has auto-scrape off",
                    }
        try:
            async with self.database.transaction() as own:
                session = await self.start_session(own, bot_config_id, session_type)
        except ScrapeAlreadyRunning:
            return {
                "status": "skipped",
                "bot_config_id": bot_config_id,
                "reason": "a scrape of this bot config is already running",
            }
        return await self.run_session(session.id)

    async def execute_auto_scraping(self, db: AsyncSession) -> list[dict[str, Any]]:
        """Scrape every active config with auto-scrape on, one after the other. A config
        that fails is reported in its entry; the others still run."""
        async with self.database.transaction() as own:
            config_ids = [c.id for c in await bot_config_crud.list_auto_scrape(own)]
        results: list[dict[str, Any]] = []
        for bot_config_id in config_ids:
            try:
                results.append(
                    await self.execute_scraping_session(db, bot_config_id, SessionType.AUTO)
                )
            except ScrapeFailed as exc:
                results.append(
                    {
                        "status": "failed",
                        "bot_config_id": bot_config_id,
                        "session_id": exc.session_id,
                        "error": exc.reason,
                    }
                )
            except NotFound as exc:
                results.append(
                    {"status": "skipped", "bot_config_id": bot_config_id, "reason": str(exc)}
                )
        return results

    async def start_session(
        self, db: AsyncSession, bot_config_id: int, session_type: SessionType
    ) -> ScrapeSession:
        """A `running` session in `db`, the caller's unit of work, which commits it before
        the scrape runs. Raises `ScrapeAlreadyRunning` while another session of the
        config is pending or running; `db` must then be rolled back.

        A session still `running` well past SCRAPE_TIMEOUT_SECONDS was left by a process
        that died (every session is cut off at that timeout): it is closed here, so it
        cannot block the config's scrapes until retention removes it.
        """
        now = datetime.now(UTC)
        stale_before = now - timedelta(seconds=self.settings.SCRAPE_TIMEOUT_SECONDS + 60)
        if await bot_config_crud.get(db, bot_config_id) is None:
            raise NotFound(f"Bot config {bot_config_id} does not exist")
        await session_crud.close_stale(
            db, bot_config_id, started_before=stale_before, now=now, reason=ABANDONED
        )
        try:
            return await session_crud.create(
                db,
                bot_config_id=bot_config_id,
                session_type=session_type,
                status=SessionStatus.RUNNING,
                started_at=now,
            )
        except IntegrityError:
            raise ScrapeAlreadyRunning from None

    async def run_session(self, session_id: int) -> dict[str, Any]:
        """Scrape for a started session and record how it ended, within
        SCRAPE_TIMEOUT_SECONDS (past it the session ends `failed`, interrupted)."""
        async with asyncio.timeout(self.settings.SCRAPE_TIMEOUT_SECONDS):
            return await self._run_session(session_id)

    async def _run_session(self, session_id: int) -> dict[str, Any]:
        counts = Counts()
        bot_config_id: int | None = None
        reddit: RedditClient | None = None
        try:
            async with self.database.transaction() as db:
                session = await session_crud.get(db, session_id)
                if session is None:
                    raise NotFound(f"Scrape session {session_id} does not exist")
                bot_config_id = session.bot_config_id
                manual = session.session_type == SessionType.MANUAL
                config = await bot_config_crud.get(db, bot_config_id)
                if config is None:
                    raise NotFound(f"Bot config {bot_config_id} does not exist")
                plan = ScrapePlan.of(config)
                credentials = await reddit_app_service.credentials(
                    db, self.settings, plan.reddit_app_id
                )
            budget = RateBudget(
                self.database,
                credentials.app_key,
                priority=MANUAL_PRIORITY if manual else SCHEDULED_PRIORITY,
                probe_seconds=self.settings.REDDIT_TIMEOUT_SECONDS,
            )
            async with RedditClient(self.settings, credentials, budget=budget) as reddit:
                await self._scrape(session_id, plan, reddit, counts)
        except asyncio.CancelledError:
            await self._finish(session_id, SessionStatus.FAILED, reddit, counts, INTERRUPTED)
            raise
        except RedditError as exc:
            reason, detail = exc.reason, str(exc)
        except Exception as exc:
            logger.exception("scrape session %s failed", session_id)
            reason, detail = INTERNAL_FAILURE, f"{type(exc).__name__}: {exc}"
        else:
            await self._finish(session_id, SessionStatus.COMPLETED, reddit, counts)
            return {
                "status": SessionStatus.COMPLETED.value,
                "session_id": session_id,
                "bot_config_id": bot_config_id,
                "posts_found": counts.posts_found,
                "posts_new": counts.posts_new,
                "comments_found": counts.comments_found,
                "comments_new": counts.comments_new,
                "requests_made": counts.requests_made,
                "rate_limit_wait_seconds": round(counts.rate_limit_wait_seconds, 3),
            }
        logger.warning("scrape session %s failed: %s", session_id, detail)
        await self._finish(session_id, SessionStatus.FAILED, reddit, counts, reason, detail)
        raise ScrapeFailed(session_id, reason, detail)

    async def _scrape(
        self, session_id: int, plan: ScrapePlan, reddit: RedditClient, counts: Counts
    ) -> None:
        """Each subreddit in turn: its listing, the comments of the posts that are new or
        whose comment count changed, then all of it stored in one transaction."""
        for subreddit in plan.subreddits:
            requests_before = reddit.requests_made
            stop_at = None
            if plan.sort is SortOrder.NEW:
                async with self.database.transaction() as db:
                    stop_at = await content_crud.newest_created(db, plan.bot_config_id, subreddit)
            fetched = await reddit.subreddit_posts(
                subreddit,
                sort=plan.sort,
                time_filter=plan.time_filter,
                limit=plan.posts_limit,
                stop_at=stop_at,
            )
            posts = list({p.reddit_id: p for p in fetched if plan.matches(p)}.values())
            comments: dict[str, list[RedditCommentData]] = {}
            if plan.include_comments and plan.comments_limit > 0 and posts:
                async with self.database.transaction() as db:
                    stored = await content_crud.comment_counts(
                        db, plan.bot_config_id, [p.reddit_id for p in posts]
                    )
                for post in posts:
                    if post.num_comments != stored.get(post.reddit_id, 0):
                        comments[post.reddit_id] = await reddit.post_comments(
                            post.reddit_id, limit=plan.comments_limit
                        )
            async with self.database.transaction() as db:
                new = await content_crud.upsert_posts(
                    db, plan.bot_config_id, [_post_row(p, session_id, subreddit) for p in posts]
                )
                found_comments, new_comments = await self._store_comments(
                    db, session_id, plan.bot_config_id, comments
                )
                counts.add(
                    subreddit,
                    requests=reddit.requests_made - requests_before,
                    posts_found=len(posts),
                    posts_new=new,
                    comments_found=found_comments,
                    comments_new=new_comments,
                )
                await session_crud.set_values(
                    db,
                    session_id,
                    posts_found=counts.posts_found,
                    posts_new=counts.posts_new,
                    comments_found=counts.comments_found,
                    comments_new=counts.comments_new,
                    **counts.cost(reddit),
                )

    async def _store_comments(
        self,
        db: AsyncSession,
        session_id: int,
        bot_config_id: int,
        comments: Mapping[str, Sequence[RedditCommentData]],
    ) -> tuple[int, int]:
        """Store the comments of posts stored in `db` (found, new)."""
        if not comments:
            return 0, 0
        now = datetime.now(UTC)
        post_ids = await content_crud.post_ids(db, bot_config_id, list(comments))
        rows: dict[str, dict[str, Any]] = {}
        for post_reddit_id, items in comments.items():
            post_id = post_ids.get(post_reddit_id)
            if post_id is None:
                continue
            for comment in items:
                rows[comment.reddit_id] = {
                    "reddit_id": comment.reddit_id,
                    "post_id": post_id,
                    "session_id": session_id,
                    "parent_reddit_id": comment.parent_reddit_id,
                    "author": comment.author,
                    "body": comment.body,
                    "score": comment.score,
                    "created_utc": comment.created_utc,
                    "scraped_at": now,
                }
        new = await content_crud.upsert_comments(db, list(rows.values()))
        return len(rows), new

    async def _finish(
        self,
        session_id: int,
        status: SessionStatus,
        reddit: RedditClient | None,
        counts: Counts,
        error_message: str | None = None,
        error_detail: str | None = None,
    ) -> None:
        cost = counts.cost(reddit) if reddit is not None else {}
        try:
            async with self.database.transaction() as db:
                await session_crud.set_values(
                    db,
                    session_id,
                    **cost,
                    status=status,
                    completed_at=datetime.now(UTC),
                    error_message=error_message,
                    error_detail=error_detail,
                )
        except Exception:
            logger.exception("could not record the end of scrape session %s", session_id)


def _post_row(post: RedditPostData, session_id: int, subreddit: str) -> dict[str, Any]:
    return {
        "reddit_id": post.reddit_id,
        "session_id": session_id,
        "subreddit": post.subreddit or subreddit,
        "title": post.title,
        "selftext": post.selftext,
        "author": post.author,
        "url": post.url,
        "permalink": post.permalink,
        "score": post.score,
        "num_comments": post.num_comments,
        "created_utc": post.created_utc,
        "scraped_at": datetime.now(UTC),
    }
