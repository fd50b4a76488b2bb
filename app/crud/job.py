"""Reads of APScheduler's `apscheduler_jobs` table (writes belong to the leader's job
store). `next_run_time` NULL means paused."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Integer, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.scheduler import APSchedulerJob

# Ids per `IN (...)` list: SQLite takes at most 32,766 bound values in one statement.
ID_CHUNK = 5000


async def get(db: AsyncSession, job_id: str) -> APSchedulerJob | None:
    return await db.get(APSchedulerJob, job_id)


# The offset is walked over the primary key alone; only the page's rows (with their
# pickled state) are read from the table. Built once, with the limit and offset bound:
# building the subquery's columns again costs more per request than running it.
_page_ids = (
    select(APSchedulerJob.id)
    .order_by(APSchedulerJob.id)
    .limit(bindparam("page_limit", type_=Integer))
    .offset(bindparam("page_offset", type_=Integer))
    .subquery()
)
_PAGE = (
    select(APSchedulerJob)
    .join(_page_ids, APSchedulerJob.id == _page_ids.c.id)
    .order_by(APSchedulerJob.id)
)


async def list_page(db: AsyncSession, *, limit: int, offset: int) -> Sequence[APSchedulerJob]:
    return (await db.scalars(_PAGE, {"page_limit": limit, "page_offset": offset})).all()


async def count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(APSchedulerJob)) or 0)


async def counts(db: AsyncSession) -> tuple[int, int]:
    """(all jobs, paused jobs) in one query."""
    row = (
        await db.execute(
            select(func.count(), func.count().filter(APSchedulerJob.next_run_time.is_(None)))
        )
    ).one()
    return int(row[0]), int(row[1])


async def ids_by_prefix(db: AsyncSession) -> dict[str, int]:
    """Job counts by id prefix (`bot`, `cleanup`, ...), as the design's `task_types`."""
    job_id = APSchedulerJob.id
    prefix: ColumnElement[str]
    if db.get_bind().dialect.name == "postgresql":
        prefix = func.split_part(job_id, "_", 1)
    else:
        cut = func.instr(job_id, "_")
        prefix = case((cut > 0, func.substr(job_id, 1, cut - 1)), else_=job_id)
    rows = await db.execute(select(prefix, func.count()).group_by(prefix))
    return {str(name or "other"): int(count) for name, count in rows.all()}


async def list_all(db: AsyncSession) -> Sequence[APSchedulerJob]:
    return (await db.scalars(select(APSchedulerJob).order_by(APSchedulerJob.id))).all()


async def get_many(db: AsyncSession, job_ids: Sequence[str]) -> dict[str, APSchedulerJob]:
    """The stored jobs among `job_ids`, by id (in chunks: SQLite bounds an `IN` list), as
    they are now: rows the session read before are read again."""
    found: dict[str, APSchedulerJob] = {}
    for start in range(0, len(job_ids), ID_CHUNK):
        chunk = job_ids[start : start + ID_CHUNK]
        rows = await db.scalars(
            select(APSchedulerJob)
            .where(APSchedulerJob.id.in_(chunk))
            .execution_options(populate_existing=True)
        )
        found.update((row.id, row) for row in rows)
    return found
