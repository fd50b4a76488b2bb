"""`reddit_budget`: `reddit_configs` bot configs on `reddit_apps` Reddit apps scrape
against the fake Reddit of the tests, which enforces each app's budget
(`reddit_budget_requests` per `reddit_window_s`) with real headers and answers 429 past
it. The scrapes run in the benchmark's process through the scraping service, at most
`reddit_concurrency` at once (as a pool's slots would run them), each config one
subreddit of two posts, without comments: one listing request. The budget is about
Reddit's (100 a minute) over a shorter window, below what one process on two cores
can send, so the budget and not the machine is what scrapes wait for.

Figures: the fake's 429s (`rate_limited`, must be 0), the sessions `completed` of
`configs`, the budget used in the windows while work waited (every window of an app
but its last, where work ran out): the worst app's and window's share
(`min_window_use_pct`, target >= 90) and the mean (`mean_window_use_pct`), the slowest
config's wait for the budget (`max_wait_s`) and its whole scrape (`max_session_s`),
and the requests a second over all apps."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any, cast

from sqlalchemy import Table, insert

from app.core.config import Settings
from app.db.session import Database
from app.models.bot_config import BotConfig
from app.models.scrape_session import SessionType
from app.models.user import User
from app.schemas.reddit_app import RedditAppCreate
from app.services import reddit_app as reddit_app_service
from app.services.scraping.orchestrator import ScrapingOrchestrator
from bench.db import EMPTY, SECRET_KEY, SUPERUSER_ID, Backend, log, sync_engine
from bench.sizes import Sizes
from tests.fakes.reddit import FakeReddit

REQUESTS_PER_CONFIG = 1


def params(sizes: Sizes) -> dict[str, Any]:
    return {
        "configs": sizes.reddit_configs,
        "apps": sizes.reddit_apps,
        "budget_requests": sizes.reddit_budget_requests,
        "window_s": sizes.reddit_window_s,
        "concurrency": sizes.reddit_concurrency,
        "requests_per_config": REQUESTS_PER_CONFIG,
    }


def _settings(url: str, fake: FakeReddit) -> Settings:
    return Settings(_env_file=None, DATABASE_URL=url, SECRET_KEY=SECRET_KEY, **fake.settings())


async def _create_apps(
    database: Database, settings: Settings, fake: FakeReddit, count: int
) -> list[int]:
    ids = []
    async with database.transaction() as db:
        owner = await db.get(User, SUPERUSER_ID)
        assert owner is not None
        for i in range(count):
            client_id = f"bench-app-{i}"
            fake.add_client(client_id, f"secret-{i}")
            app = await reddit_app_service.create_app(
                db,
                settings,
                owner,
                RedditAppCreate(
                    name=f"bench app {i}",
                    client_id=client_id,
                    client_secret=f"secret-{i}",
                    user_agent="python:bench:1.0 (by /u/bench)",
                ),
            )
            await db.flush()
            ids.append(app.id)
    return ids


def _create_configs(url: str, fake: FakeReddit, app_ids: list[int], count: int) -> list[int]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        subreddit = f"bench{i}"
        for title in ("one", "two"):
            fake.add_post(subreddit, title)
        rows.append(
            {
                "owner_id": SUPERUSER_ID,
                "name": f"bench bot {i}",
                "description": None,
                "subreddits": [subreddit],
                "keywords": [],
                "sort": "new",
                "time_filter": "day",
                "posts_limit": 25,
                "include_comments": False,
                "comments_limit": 20,
                "is_active": True,
                "auto_scrape_enabled": True,
                "scrape_interval_hours": 6,
                "reddit_app_id": app_ids[i % len(app_ids)],
                "created_at": now,
                "updated_at": now,
            }
        )
    engine = sync_engine(url)
    try:
        with engine.begin() as conn:
            inserted = conn.execute(
                insert(cast(Table, BotConfig.__table__)).returning(BotConfig.__table__.c.id), rows
            )
            return [row[0] for row in inserted]
    finally:
        engine.dispose()


async def _scrape_all(
    settings: Settings, config_ids: list[int], concurrency: int
) -> tuple[list[dict[str, Any]], list[float], float]:
    """Every config's session summary and how long each took from the start."""
    database = Database(settings.DATABASE_URL)
    orchestrator = ScrapingOrchestrator(database, settings)
    slots = asyncio.Semaphore(concurrency)
    started = time.monotonic()
    ended: list[float] = []

    async def one(bot_config_id: int) -> dict[str, Any]:
        async with slots, database.sessionmaker() as db:
            result = await orchestrator.execute_scraping_session(
                db, bot_config_id, SessionType.AUTO
            )
        ended.append(time.monotonic() - started)
        return result

    try:
        results = await asyncio.gather(*(one(i) for i in config_ids), return_exceptions=True)
    finally:
        await database.dispose()
    summaries = [
        r if isinstance(r, dict) else {"status": "error", "error": f"{type(r).__name__}: {r}"}
        for r in results
    ]
    return summaries, ended, time.monotonic() - started


def _window_use(fake: FakeReddit, budget: int) -> tuple[float, float]:
    """The worst and the mean share of the budget used in an app's windows before its
    last one."""
    per_app: dict[str, dict[int, int]] = defaultdict(dict)
    for (client, window), count in fake.window_counts.items():
        per_app[client][window] = count
    shares = []
    for windows in per_app.values():
        last = max(windows)
        # A window with no request at all while work waited counts as unused.
        shares += [windows.get(w, 0) / budget for w in range(min(windows), last)]
    if not shares:
        return 0.0, 0.0
    return round(100 * min(shares), 1), round(100 * sum(shares) / len(shares), 1)


def measure(backend: Backend, sizes: Sizes) -> dict[str, Any]:
    url = backend.prepare(EMPTY)
    fake = FakeReddit().start()
    try:
        settings = _settings(url, fake)

        async def apps() -> list[int]:
            database = Database(url)
            try:
                return await _create_apps(database, settings, fake, sizes.reddit_apps)
            finally:
                await database.dispose()

        app_ids = asyncio.run(apps())
        config_ids = _create_configs(url, fake, app_ids, sizes.reddit_configs)
        fake.enforce_budget(sizes.reddit_budget_requests, window_seconds=sizes.reddit_window_s)
        summaries, ended, seconds = asyncio.run(
            _scrape_all(settings, config_ids, sizes.reddit_concurrency)
        )
        completed = [s for s in summaries if s.get("status") == "completed"]
        errors = [s for s in summaries if s.get("status") != "completed"]
        if errors:
            log(
                f"{backend.name} reddit_budget: {len(errors)} scrapes did not complete: {errors[0]}"
            )
        min_use, mean_use = _window_use(fake, sizes.reddit_budget_requests)
        requests = sum(fake.window_counts.values())
        return {
            "completed": len(completed),
            "configs": len(config_ids),
            "rate_limited": sum(fake.rate_limited.values()),
            "max_per_window": max(fake.window_counts.values(), default=0),
            "min_window_use_pct": min_use,
            "mean_window_use_pct": mean_use,
            "max_wait_s": max((s["rate_limit_wait_seconds"] for s in completed), default=0.0),
            "max_session_s": round(max(ended, default=0.0), 2),
            "requests_per_second": round(requests / seconds, 1) if seconds else 0.0,
        }
    finally:
        fake.stop()
        backend.release(url)


def run(backend: Backend, sizes: Sizes) -> dict[str, Any]:
    """The entry, with its figures under `ours`, or an error."""
    log(f"{backend.name} reddit_budget: {sizes.reddit_configs} configs on {sizes.reddit_apps} apps")
    try:
        figures = measure(backend, sizes)
    except Exception as exc:
        log(f"{backend.name} reddit_budget failed: {type(exc).__name__}: {exc}")
        figures = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return {
        "name": "reddit_budget",
        "database": backend.name,
        "params": params(sizes),
        "results": {"ours": figures},
    }
