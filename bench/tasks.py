"""The tasks the benchmarks schedule. `bench_noop` does nothing but say when it started,
so the lateness of a run (start minus fire time) is read from its recorded result;
`bench_write` says so too, then does what a small maintenance task does: one short write
transaction in the app's database, through the session the run path gives it."""

from __future__ import annotations

import asyncio
import time
import zlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.sql import Update

from app.tasks.registry import NoParams, TaskContext, registry

# A small table of the bench's own beside the app's: each run of `bench_write` updates
# one of its rows (the job's), so every run commits a real change without two runs
# waiting for the same row lock.
COUNTER_ROWS = 100
_metadata = MetaData()
counters = Table(
    "bench_counters",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
    Column("touched_at", DateTime(timezone=True)),
)


def create_counters(engine: Engine) -> None:
    """The table and its rows, once per database (a sync engine on it)."""
    _metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        if conn.scalar(select(func.count()).select_from(counters)) == 0:
            conn.execute(insert(counters), [{"id": i, "n": 0} for i in range(COUNTER_ROWS)])


# Built once, as an application would keep it: every contender runs the same statement.
COUNTER_UPDATE: Update = (
    update(counters)
    .where(counters.c.id == bindparam("row"))
    .values(n=counters.c.n + 1, touched_at=bindparam("at"))
)


def counter_update(job_id: str | None) -> dict[str, Any]:
    """The parameters of one run's write (`COUNTER_UPDATE`): its job's counter row."""
    return {"row": zlib.crc32((job_id or "").encode()) % COUNTER_ROWS, "at": datetime.now(UTC)}


@registry.task("bench_noop", "Do nothing; return the start time (benchmarks)")
async def bench_noop(ctx: TaskContext, _: NoParams) -> dict[str, Any]:
    return {"t": time.time()}


@registry.task("bench_write", "Update one row in one transaction; return the start time")
async def bench_write(ctx: TaskContext, _: NoParams) -> dict[str, Any]:
    started = time.time()
    await ctx.db.execute(COUNTER_UPDATE, counter_update(ctx.job_id))
    return {"t": started}


@registry.task("bench_sleep", "Wait one second, as an I/O-bound task does (benchmarks)")
async def bench_sleep(ctx: TaskContext, _: NoParams) -> dict[str, Any]:
    started = time.time()
    await asyncio.sleep(1.0)
    return {"t": started}
