"""Scrape sessions: reading them (owners see their own), and manual scrapes, which run
in the API process in the background while the client polls the session."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import Conflict, NotFound
from app.crud import scrape_session as session_crud
from app.db.session import Database, after_commit
from app.models.scrape_session import ScrapeSession, SessionStatus, SessionType
from app.models.user import User
from app.services import bot_config as bot_config_service
from app.services.scraping.orchestrator import (
    ScrapeAlreadyRunning,
    ScrapeFailed,
    ScrapingOrchestrator,
)

logger = logging.getLogger(__name__)


class BackgroundScrapes:
    """The manual scrapes running on the API's event loop. The event loop keeps only a
    weak reference to a task, so this set is what keeps a running scrape alive."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self, grace_seconds: float) -> None:
        """Let running scrapes finish for `grace_seconds`, then cancel the rest (their
        sessions are recorded as failed, interrupted)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)


async def run_manual_session(orchestrator: ScrapingOrchestrator, session_id: int) -> None:
    """A started session run to its end; how it ended is on the session row."""
    try:
        await orchestrator.run_session(session_id)
    except ScrapeFailed:
        pass  # recorded on the session, which is where the client looks
    except Exception:
        logger.exception("manual scrape session %s crashed", session_id)


async def start_manual_scrape(
    db: AsyncSession,
    user: User,
    bot_config_id: int,
    *,
    database: Database,
    settings: Settings,
    scrapes: BackgroundScrapes,
) -> ScrapeSession:
    """Start a manual session and return it at once, `running`; the scrape starts in the
    background on this event loop, with `database`, once the request has committed the
    session (a request that fails starts none)."""
    config = await bot_config_service.get_accessible(db, user, bot_config_id)
    if not config.is_active:
        raise Conflict("The bot config is inactive; activate it (is_active) to scrape")
    orchestrator = ScrapingOrchestrator(database, settings)
    try:
        session = await orchestrator.start_session(db, config.id, SessionType.MANUAL)
    except ScrapeAlreadyRunning:
        raise Conflict(
            "A scrape of this bot config is already pending or running; poll "
            "/scrape-sessions?status=running for it"
        ) from None
    session_id = session.id

    async def spawn() -> None:
        scrapes.spawn(
            run_manual_session(orchestrator, session_id), name=f"scrape-session-{session_id}"
        )

    after_commit(db, spawn)
    return session


async def list_sessions(
    db: AsyncSession,
    user: User,
    *,
    bot_config_id: int | None,
    status: SessionStatus | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[ScrapeSession], int]:
    if bot_config_id is not None:
        await bot_config_service.get_accessible(db, user, bot_config_id)
    return await session_crud.list_page(
        db,
        owner_id=user.visible_owner_id,
        bot_config_id=bot_config_id,
        status=status,
        limit=limit,
        offset=offset,
    )


async def get_session(db: AsyncSession, user: User, session_id: int) -> ScrapeSession:
    found = await session_crud.get_with_owner(db, session_id)
    if found is None or not user.may_see(found[1]):
        raise NotFound("Scrape session not found")
    return found[0]
