from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.audit import AuditAction, AuditEntry


async def create(db: AsyncSession, **values: Any) -> AuditEntry:
    entry = AuditEntry(**values)
    db.add(entry)
    await db.flush()
    return entry


async def create_many(db: AsyncSession, entries: Sequence[dict[str, Any]]) -> list[int]:
    """Insert many entries in one statement; their ids, in the order given."""
    if not entries:
        return []
    result = await db.scalars(
        insert(AuditEntry).returning(AuditEntry.id, sort_by_parameter_order=True), list(entries)
    )
    return list(result.all())


async def set_after(db: AsyncSession, entry_id: int, after: dict[str, Any] | None) -> None:
    await db.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(after=after))


async def delete_by_ids(db: AsyncSession, entry_ids: Sequence[int]) -> None:
    for start in range(0, len(entry_ids), 5000):
        chunk = entry_ids[start : start + 5000]
        await db.execute(delete(AuditEntry).where(AuditEntry.id.in_(chunk)))


async def list_for_job(
    db: AsyncSession, job_id: str, *, limit: int, offset: int
) -> tuple[Sequence[AuditEntry], int]:
    """A job's entries, newest first, and how many there are."""
    total = await db.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.job_id == job_id)
    )
    query = (
        select(AuditEntry)
        .where(AuditEntry.job_id == job_id)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return (await db.scalars(query)).all(), int(total or 0)


async def state_changes(
    db: AsyncSession, job_id: str, *, until: datetime, limit: int
) -> Sequence[AuditEntry]:
    """The job's creations, pauses, resumes and changes up to `until`, oldest first (the
    latest `limit` of them): what tells when it existed and when it was paused."""
    query = (
        select(AuditEntry)
        .where(
            AuditEntry.job_id == job_id,
            AuditEntry.created_at < until,
            AuditEntry.action.in_(
                [AuditAction.CREATE, AuditAction.PAUSE, AuditAction.RESUME, AuditAction.MODIFY]
            ),
        )
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return list(reversed((await db.scalars(query)).all()))
