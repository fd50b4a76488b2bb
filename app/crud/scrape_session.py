from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.scrape_session import SessionStatus, ScrapeSession


async def delete_older_than(db: AsyncSession, cutoff: datetime) -> int:
    """Finished sessions created before `cutoff`, in one DELETE (a running one is kept)."""
    result = await db.execute(
        delete(ScrapeSession).where(
            ScrapeSession.created_at < cutoff,
            ScrapeSession.status.in_([SessionStatus.COMPLETED, SessionStatus.FAILED]),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
