"""Manual scrapes still running when the app stops are interrupted and recorded."""

from __future__ import annotations

from app.core.config import Settings
from app.db.session import Database
from app.models.scrape_session import ScrapeSession, SessionStatus
from app.services.scraping.orchestrator import INTERRUPTED
from tests.conftest import bearer, login, running_app, wait_for
from tests.fakes.reddit import FakeReddit
from tests.reddit.conftest import create_bot


async def test_app_shutdown_interrupts_manual_scrapes(
    settings: Settings, database: Database, fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_subreddit("python")
    fake_reddit.hang(10, path="/r/python")
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        bot = await create_bot(client, headers)
        response = await client.post(f"/api/v1/bot-configs/{bot['id']}/scrape", headers=headers)
        session_id = response.json()["session_id"]
        await wait_for(lambda: fake_reddit.requests_to("/r/python/new"))
    async with database.sessionmaker() as db:
        stored = await db.get(ScrapeSession, session_id)
    assert stored is not None
    assert stored.status == SessionStatus.FAILED
    assert stored.error_message == INTERRUPTED
