from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.paging import page
from app.models.bot_config import BotConfig
from app.models.scrape_session import ScrapeSession, SessionStatus


async def create(db: AsyncSession, **values: Any) -> ScrapeSession:
    session = ScrapeSession(**values)
    db.add(session)
    await db.flush()
    return session


async def get(db: AsyncSession, session_id: int) -> ScrapeSession | None:
    return await db.get(ScrapeSession, session_id)


async def get_with_owner(db: AsyncSession, session_id: int) -> tuple[ScrapeSession, int] | None:
    """The session and the id of its bot config's owner."""
    row = (
        await db.execute(
            select(ScrapeSession, BotConfig.owner_id)
            .join(BotConfig, BotConfig.id == ScrapeSession.bot_config_id)
            .where(ScrapeSession.id == session_id)
        )
    ).first()
    return None if row is None else (row[0], int(row[1]))


async def list_page(
    db: AsyncSession,
    *,
    owner_id: int | None,
    bot_config_id: int | None,
    status: SessionStatus | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[ScrapeSession], int]:
    """Newest first; only sessions of `owner_id`'s bot configs unless it is None."""
    query = select(ScrapeSession)
    if owner_id is not None:
        query = query.join(BotConfig, BotConfig.id == ScrapeSession.bot_config_id).where(
            BotConfig.owner_id == owner_id
        )
    if bot_config_id is not None:
        query = query.where(ScrapeSession.bot_config_id == bot_config_id)
    if status is not None:
        query = query.where(ScrapeSession.status == status)
    order = (ScrapeSession.created_at.desc(), ScrapeSession.id.desc())
    return await page(db, query, *order, limit=limit, offset=offset)


async def set_values(db: AsyncSession, session_id: int, **values: Any) -> None:
    await db.execute(update(ScrapeSession).where(ScrapeSession.id == session_id).values(**values))


async def close_stale(
    db: AsyncSession, bot_config_id: int, *, started_before: datetime, now: datetime, reason: str
) -> int:
    """Fail the config's sessions still active that started before `started_before`."""
    result = await db.execute(
        update(ScrapeSession)
        .where(
            ScrapeSession.bot_config_id == bot_config_id,
            ScrapeSession.status.in_([SessionStatus.PENDING, SessionStatus.RUNNING]),
            ScrapeSession.started_at < started_before,
        )
        .values(status=SessionStatus.FAILED, completed_at=now, error_message=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_older_than(db: AsyncSession, cutoff: datetime) -> int:
    """Sessions created before `cutoff`, in one DELETE. One still marked running that
    long after it began was left by a process that died: retention is at least a day and
    every Reddit request has a timeout, so no live scrape is that old."""
    result = await db.execute(delete(ScrapeSession).where(ScrapeSession.created_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
