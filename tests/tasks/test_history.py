"""The leader's history writes: many runs share a transaction, and still every slot is
claimed once and one bad row costs no other run its record."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.db.session import Database
from app.models.task_execution import ExecutionStatus, ExecutionTrigger, TaskExecution
from app.tasks.history import HistoryWriter

SLOT = datetime(2030, 1, 1, tzinfo=UTC)


async def _start(writer: HistoryWriter, job_id: str, scheduled_at: datetime | None) -> int | None:
    return await writer.record_start(
        job_id=job_id,
        job_name=job_id,
        task="test_record",
        trigger=ExecutionTrigger.SCHEDULED if scheduled_at else ExecutionTrigger.MANUAL,
        scheduled_at=scheduled_at,
        runner="test",
    )


async def test_concurrent_starts_claim_each_slot_once(database: Database) -> None:
    writer = HistoryWriter(database.url)
    try:
        slots = [("a", SLOT + timedelta(seconds=i)) for i in range(40)]
        slots += [("b", SLOT)] * 5  # the same fire time asked for five times
        manual = [("a", None), ("a", None)]
        ids = await asyncio.gather(*(_start(writer, j, at) for j, at in slots + manual))
        same_slot, manual_ids = ids[40:45], ids[45:]
        distinct = [i for i in ids[:40] if i is not None]
        assert len(distinct) == 40
        assert len(set(distinct)) == 40
        assert sum(i is not None for i in same_slot) == 1
        assert None not in manual_ids
        assert len(set(manual_ids)) == 2

        await asyncio.gather(
            *(
                writer.record_finish(
                    i, status=ExecutionStatus.SUCCESS, started_at=SLOT, result={"n": i}
                )
                for i in distinct
            )
        )
    finally:
        await writer.aclose()

    async with database.transaction() as db:
        rows = (await db.scalars(select(TaskExecution).order_by(TaskExecution.id))).all()
    assert len(rows) == 43
    by_id = {r.id: r for r in rows}
    for execution_id in distinct:
        row = by_id[execution_id]
        assert row.status == ExecutionStatus.SUCCESS
        assert row.result == {"n": execution_id}
        assert row.completed_at is not None
    assert {r.scheduled_at for r in rows if r.job_id == "a" and r.scheduled_at} == {
        at for _, at in slots[:40]
    }


async def test_a_bad_row_fails_alone(database: Database) -> None:
    writer = HistoryWriter(database.url)
    try:
        naive = datetime(2030, 1, 1)  # the UTC column refuses naive datetimes
        results = await asyncio.gather(
            _start(writer, "good", SLOT),
            _start(writer, "bad", naive),
            _start(writer, "good", SLOT + timedelta(seconds=1)),
            return_exceptions=True,
        )
    finally:
        await writer.aclose()
    good = [r for r in results if isinstance(r, int)]
    assert len(good) == 2
    assert sum(isinstance(r, Exception) for r in results) == 1

    async with database.transaction() as db:
        stored = (await db.scalars(select(TaskExecution.job_id))).all()
    assert sorted(stored) == ["good", "good"]
