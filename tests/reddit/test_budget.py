"""The rate budget shared by every scrape of a Reddit app, against a fake Reddit that
enforces a per-client budget over a short window (and answers 429 past it)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from sqlalchemy import func, select

from app.core.config import Settings
from app.db.session import Database
from app.models.reddit_budget import RedditBudgetTicket
from app.models.scrape_session import SessionType
from app.services.scraping.orchestrator import ScrapingOrchestrator
from tests.conftest import wait_for
from tests.fakes.reddit import CLIENT_ID, FakeComment, FakeReddit
from tests.reddit.conftest import FINISHED, create_bot, scrape
from tests.reddit.test_reddit_apps import SECRET, create_app


def metric(text: str, name: str, app: str) -> float:
    match = re.search(rf'^{name}\{{app="{app}"\}} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def start(client: httpx.AsyncClient, headers: dict[str, str], bot_config_id: int) -> int:
    response = await client.post(f"/api/v1/bot-configs/{bot_config_id}/scrape", headers=headers)
    assert response.status_code == 202, response.text
    session_id: int = response.json()["session_id"]
    return session_id


async def finished(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: int
) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await client.get(f"/api/v1/scrape-sessions/{session_id}", headers=headers)
        ).json()
        return body if body["status"] in FINISHED else None

    result: dict[str, Any] = await wait_for(done, timeout=120)
    return result


async def test_ten_configs_on_one_app_scraping_at_once_never_cause_a_429(
    client: httpx.AsyncClient, user_headers: dict[str, str], fake_reddit: FakeReddit
) -> None:
    fake_reddit.enforce_budget(8, window_seconds=2)
    bots = []
    for i in range(10):
        for title in ("one", "two"):
            fake_reddit.add_post(f"sub{i}", title, comments=[FakeComment("c")])
        bots.append(await create_bot(client, user_headers, subreddits=[f"sub{i}"]))
    before = (await client.get("/metrics")).text

    session_ids = [await start(client, user_headers, bot["id"]) for bot in bots]
    sessions = [await finished(client, user_headers, s) for s in session_ids]

    assert [s["status"] for s in sessions] == ["completed"] * 10, sessions
    # A listing and two comment trees each: 30 requests, more than three windows' worth.
    assert [s["requests_made"] for s in sessions] == [3] * 10
    assert fake_reddit.requests_of(CLIENT_ID) == 30
    assert fake_reddit.rate_limited[CLIENT_ID] == 0
    assert fake_reddit.max_per_window(CLIENT_ID) <= 8
    # 30 requests cannot fit in one window: someone waited for the budget.
    assert sum(s["rate_limit_wait_seconds"] for s in sessions) > 0
    for session, i in zip(sessions, range(10), strict=True):
        assert session["subreddit_counts"] == {
            f"sub{i}": {
                "requests": 3,
                "posts_found": 2,
                "posts_new": 2,
                "comments_found": 2,
                "comments_new": 2,
            }
        }

    after = (await client.get("/metrics")).text
    assert (
        metric(after, "reddit_requests_total", "env")
        - metric(before, "reddit_requests_total", "env")
        == 30
    )
    assert metric(after, "reddit_rate_limited_total", "env") == metric(
        before, "reddit_rate_limited_total", "env"
    )
    assert 'reddit_budget_remaining{app="env"}' in after


async def test_two_apps_do_not_share_a_budget(
    client: httpx.AsyncClient, user_headers: dict[str, str], fake_reddit: FakeReddit
) -> None:
    # A long window: a scrape that had to wait for it to end would not finish in time.
    fake_reddit.enforce_budget(3, window_seconds=60)
    fake_reddit.add_client("second-client", SECRET)
    subreddits = ["aaa", "bbb", "ccc"]
    for name in subreddits:
        fake_reddit.add_post(name, f"in {name}")
    app = await create_app(client, user_headers)
    on_env = await create_bot(client, user_headers, subreddits=subreddits)
    on_app = await create_bot(client, user_headers, subreddits=subreddits, reddit_app_id=app["id"])

    first = await start(client, user_headers, on_env["id"])
    second = await start(client, user_headers, on_app["id"])
    sessions = [await finished(client, user_headers, s) for s in (first, second)]

    assert [s["status"] for s in sessions] == ["completed"] * 2, sessions
    assert fake_reddit.window_counts[(CLIENT_ID, 0)] == 3
    assert fake_reddit.window_counts[("second-client", 0)] == 3
    assert sum(fake_reddit.rate_limited.values()) == 0
    assert (await client.get("/metrics")).text.count('reddit_budget_remaining{app="') >= 2


async def test_a_manual_scrape_goes_ahead_of_scheduled_ones(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
    settings: Settings,
    database: Database,
) -> None:
    fake_reddit.enforce_budget(1, window_seconds=2)
    for name in ("autoa", "autob", "autoc", "manual"):
        fake_reddit.add_post(name, f"in {name}")
    scheduled = await create_bot(
        client,
        user_headers,
        subreddits=["autoa", "autob", "autoc"],
        include_comments=False,
        auto_scrape_enabled=True,
    )
    manual = await create_bot(client, user_headers, subreddits=["manual"], include_comments=False)

    orchestrator = ScrapingOrchestrator(database, settings)
    async with database.sessionmaker() as db:
        background = asyncio.create_task(
            orchestrator.execute_scraping_session(db, scheduled["id"], SessionType.AUTO)
        )
        try:
            # The scheduled scrape has had its first request and waits for its second.
            await wait_for(lambda: fake_reddit.requests_to("/r/autoa/"))

            async def tickets() -> int:
                async with database.sessionmaker() as own:
                    return int(
                        await own.scalar(select(func.count()).select_from(RedditBudgetTicket)) or 0
                    )

            await wait_for(tickets)
            session = await scrape(client, user_headers, manual["id"])
            assert session["status"] == "completed", session
            await background
        finally:
            background.cancel()
    order = [r.path.split("/")[2] for r in fake_reddit.api_requests]
    assert order == ["autoa", "manual", "autob", "autoc"]
    assert sum(fake_reddit.rate_limited.values()) == 0


async def test_scrapes_waiting_for_the_next_window_use_all_of_it_once_it_begins(
    client: httpx.AsyncClient, user_headers: dict[str, str], fake_reddit: FakeReddit
) -> None:
    budget = 4
    fake_reddit.enforce_budget(budget, window_seconds=2)
    bots = []
    for i in range(6):
        for name in (f"first{i}", f"second{i}"):
            fake_reddit.add_post(name, f"in {name}")
        bots.append(
            await create_bot(
                client, user_headers, subreddits=[f"first{i}", f"second{i}"], include_comments=False
            )
        )

    session_ids = [await start(client, user_headers, bot["id"]) for bot in bots]
    sessions = [await finished(client, user_headers, s) for s in session_ids]

    assert [s["status"] for s in sessions] == ["completed"] * 6, sessions
    assert fake_reddit.requests_of(CLIENT_ID) == 12
    assert fake_reddit.rate_limited[CLIENT_ID] == 0
    windows = {w: n for (c, w), n in fake_reddit.window_counts.items() if c == CLIENT_ID}
    first, last = min(windows), max(windows)
    # Scrapes were waiting when each window after the first began: each of those but the
    # last, where the work ran out, holds the whole budget (the old window's permits come
    # back when Reddit's window turns, not after a probe's answer).
    assert [windows.get(w, 0) for w in range(first + 1, last)] == [budget] * (last - first - 1)
    assert last - first >= 2, windows
