"""One scrape of a bot config at a time: a manual scrape while another session of the
config is pending or running is a 409, as is a scrape of an inactive config; a
scheduled scrape meanwhile is skipped; a session left `running` by a dead process
does not block the config; and a scrape is cut off at SCRAPE_TIMEOUT_SECONDS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from app.core.config import Settings
from app.crud import scrape_session as session_crud
from app.db.session import Database
from app.models.scrape_session import ScrapeSession, SessionStatus, SessionType
from app.services.scraping.orchestrator import ABANDONED, INTERRUPTED
from tests.conftest import bearer, login, run_and_wait, running_app, wait_for
from tests.fakes.reddit import FakeReddit
from tests.reddit.conftest import FINISHED, create_bot, scrape


async def sessions_of(database: Database, bot_config_id: int) -> list[ScrapeSession]:
    async with database.sessionmaker() as db:
        rows = await db.scalars(
            select(ScrapeSession)
            .where(ScrapeSession.bot_config_id == bot_config_id)
            .order_by(ScrapeSession.id)
        )
        return list(rows)


async def test_parallel_manual_scrapes_start_one_session(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
    database: Database,
) -> None:
    fake_reddit.add_post("python", "slow news")
    fake_reddit.hang(2, path="/r/python")
    bot = await create_bot(client, user_headers, subreddits=["python"])

    answers = await asyncio.gather(
        *(
            client.post(f"/api/v1/bot-configs/{bot['id']}/scrape", headers=user_headers)
            for _ in range(20)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [202] + [409] * 19, codes
    refused = next(a for a in answers if a.status_code == 409)
    assert "already pending or running" in refused.json()["detail"]
    assert len(await sessions_of(database, bot["id"])) == 1

    started = next(a for a in answers if a.status_code == 202).json()

    async def finished() -> bool:
        polled = await client.get(
            f"/api/v1/scrape-sessions/{started['session_id']}", headers=user_headers
        )
        return polled.json()["status"] in FINISHED

    await wait_for(finished, timeout=30)
    fake_reddit.clear_faults()
    # Once it has ended, the config can be scraped again.
    assert (await scrape(client, user_headers, bot["id"]))["status"] == "completed"


async def test_an_inactive_config_is_not_scraped(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
    database: Database,
) -> None:
    bot = await create_bot(client, user_headers, is_active=False)
    response = await client.post(f"/api/v1/bot-configs/{bot['id']}/scrape", headers=user_headers)
    assert response.status_code == 409
    assert "inactive" in response.json()["detail"]
    assert await sessions_of(database, bot["id"]) == []
    assert fake_reddit.requests == []


async def test_a_scheduled_scrape_during_a_manual_one_is_skipped(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
    database: Database,
) -> None:
    fake_reddit.add_post("python", "slow news")
    fake_reddit.hang(3, path="/r/python", times=1)
    bot = await create_bot(client, user_headers, subreddits=["python"], auto_scrape_enabled=True)
    manual = await client.post(f"/api/v1/bot-configs/{bot['id']}/scrape", headers=user_headers)
    assert manual.status_code == 202

    run = await run_and_wait(client, admin_headers, f"bot_scraping_{bot['id']}")
    assert run["status"] == "success", run
    assert run["result"]["status"] == "skipped"
    assert "already running" in run["result"]["reason"]
    assert [s.session_type for s in await sessions_of(database, bot["id"])] == [SessionType.MANUAL]


async def test_a_session_left_running_by_a_dead_process_does_not_block(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
    database: Database,
) -> None:
    fake_reddit.add_subreddit("python")
    bot = await create_bot(client, user_headers, subreddits=["python"])
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    async with database.transaction() as db:
        stuck = await session_crud.create(
            db,
            bot_config_id=bot["id"],
            session_type=SessionType.MANUAL,
            status=SessionStatus.RUNNING,
            started_at=long_ago,
            created_at=long_ago,
        )
    assert (await scrape(client, user_headers, bot["id"]))["status"] == "completed"
    first, second = await sessions_of(database, bot["id"])
    assert first.id == stuck.id
    assert (first.status, first.error_message) == (SessionStatus.FAILED, ABANDONED)
    assert second.status == SessionStatus.COMPLETED


async def test_a_scrape_is_cut_off_at_its_timeout(
    settings_factory: Callable[..., Settings], fake_reddit: FakeReddit, database: Database
) -> None:
    fake_reddit.add_post("python", "never arrives")
    fake_reddit.hang(30, path="/r/python")
    settings = settings_factory(**fake_reddit.settings(SCRAPE_TIMEOUT_SECONDS=1))
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        bot = await create_bot(client, headers, subreddits=["python"])
        failed = await scrape(client, headers, bot["id"])
        assert (failed["status"], failed["error_message"]) == ("failed", INTERRUPTED)
        # The config is free again at once.
        again = await client.post(f"/api/v1/bot-configs/{bot['id']}/scrape", headers=headers)
        assert again.status_code == 202
    async with database.sessionmaker() as db:
        active = await db.scalar(
            select(func.count())
            .select_from(ScrapeSession)
            .where(ScrapeSession.status == SessionStatus.RUNNING)
        )
    # The app's shutdown ended the second one.
    assert active == 0
