"""The leader's job store: reads from memory, a firing round written at once, and an
engine that keeps firing after the store lost its connection."""

from __future__ import annotations

import asyncio
import pickle
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.core.config import Settings
from app.db.session import Database
from app.models.scheduler import APSchedulerJob
from app.models.task_execution import ExecutionStatus, TaskExecution
from app.tasks.registry import JobSpec
from app.tasks.scheduler import JOBSTORE_APPLICATION_NAME, EnhancedScheduler
from app.tasks.trigger_specs import DateSpec, IntervalSpec
from tests.conftest import wait_for
from tests.tasks.sample_tasks import lines


async def _rows(database: Database, prefix: str) -> list[TaskExecution]:
    async with database.sessionmaker() as db:
        query = select(TaskExecution).where(TaskExecution.job_id.like(f"{prefix}%"))
        return list((await db.scalars(query)).all())


async def _stored(database: Database, prefix: str) -> int:
    async with database.sessionmaker() as db:
        query = select(func.count()).where(APSchedulerJob.id.like(f"{prefix}%"))
        return int(await db.scalar(query) or 0)


async def test_jobs_due_together_run_once_and_leave_the_store(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    out = str(tmp_path / "burst.txt")
    scheduler = EnhancedScheduler(settings, database)
    await scheduler.start()
    try:
        run_at = datetime.now(UTC) + timedelta(seconds=2)
        for i in range(60):
            spec = JobSpec(
                id=f"burst_{i:02d}",
                name=f"burst {i}",
                task="test_record",
                params={"path": out},
                trigger=DateSpec(run_date=run_at),
            )
            await asyncio.to_thread(scheduler.ensure_job, spec)
        assert await _stored(database, "burst_") == 60

        async def all_done() -> bool:
            rows = await _rows(database, "burst_")
            return len(rows) == 60 and all(r.status == ExecutionStatus.SUCCESS for r in rows)

        await wait_for(all_done, timeout=30)

        # The round that ran them deleted them from the table, not only from memory.
        async def none_stored() -> bool:
            return await _stored(database, "burst_") == 0

        await wait_for(none_stored, timeout=5)
    finally:
        await scheduler.shutdown()

    # A new leader reads the table: nothing of the burst is left to run again.
    again = EnhancedScheduler(settings, database)
    await again.start()
    try:
        assert not [j for j in again.engine.get_jobs() if j.id.startswith("burst_")]
        await asyncio.sleep(1)
    finally:
        await again.shutdown()
    rows = await _rows(database, "burst_")
    assert sorted(r.job_id for r in rows) == [f"burst_{i:02d}" for i in range(60)]
    assert len(lines(out)) == 60


async def test_engine_keeps_firing_after_the_store_loses_its_connection(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    if database.is_sqlite:
        pytest.skip("a dropped server connection needs PostgreSQL")
    out = str(tmp_path / "ticks.txt")
    scheduler = EnhancedScheduler(settings, database)
    await scheduler.start()
    try:
        spec = JobSpec(
            id="tick",
            name="tick",
            task="test_record",
            params={"path": out},
            trigger=IntervalSpec(seconds=1),
        )
        await asyncio.to_thread(scheduler.ensure_job, spec)
        await wait_for(lambda: len(lines(out)) >= 2, timeout=10)

        async with database.engine.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    # This database's only: another xdist worker's are its own.
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": JOBSTORE_APPLICATION_NAME},
            )
        assert killed
        before = len(lines(out))
        # The next round's write fails; the engine tries again after its retry interval.
        await wait_for(lambda: len(lines(out)) >= before + 3, timeout=30)
    finally:
        await scheduler.shutdown()
    rows = await _rows(database, "tick")
    slots = Counter(r.scheduled_at for r in rows)
    assert max(slots.values()) == 1
    assert len(lines(out)) == sum(r.status == ExecutionStatus.SUCCESS for r in rows)


async def test_a_new_leader_fires_lists_and_changes_the_jobs_it_loaded(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    """What one leader stored, the next one holds as it was: the same jobs, next run
    times and paused state, the due one fired, a change written through."""
    out = str(tmp_path / "loaded.txt")
    first = EnhancedScheduler(settings, database)
    await first.start()
    try:
        for i in range(30):
            spec = JobSpec(
                id=f"load_{i:02d}",
                name=f"load {i}",
                task="test_record",
                params={"path": out},
                trigger=IntervalSpec(hours=1 + i),
            )
            await asyncio.to_thread(first.ensure_job, spec)
        await asyncio.to_thread(first.engine.pause_job, "load_07")
        before = {
            j.id: (j.next_run_time, str(j.trigger), j.kwargs)
            for j in await asyncio.to_thread(first.engine.get_jobs)
        }
    finally:
        await first.shutdown()

    second = EnhancedScheduler(settings, database)
    await second.start()
    try:
        after = {
            j.id: (j.next_run_time, str(j.trigger), j.kwargs)
            for j in await asyncio.to_thread(second.engine.get_jobs)
        }
        assert after == before
        assert after["load_07"][0] is None
        soon = datetime.now(UTC) + timedelta(seconds=1)
        await asyncio.to_thread(second.engine.modify_job, "load_03", next_run_time=soon)
        await wait_for(lambda: len(lines(out)) == 1, timeout=10)
        job = await asyncio.to_thread(second.engine.get_job, "load_03")
        assert job is not None
        assert job.next_run_time > soon
    finally:
        await second.shutdown()
    async with database.sessionmaker() as db:
        stored = await db.scalar(
            select(APSchedulerJob.next_run_time).where(APSchedulerJob.id == "load_03")
        )
    assert stored is not None
    assert stored > soon.timestamp()


async def test_a_stored_job_that_cannot_be_loaded_is_dropped_and_the_rest_fire(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    out = str(tmp_path / "survivor.txt")
    due = (datetime.now(UTC) + timedelta(seconds=2)).timestamp()
    async with database.transaction() as db:
        # A job whose entry point's module no longer exists.
        db.add(
            APSchedulerJob(
                id="broken",
                next_run_time=due,
                job_state=pickle.dumps({"version": 1, "func": "gone.module:run", "id": "broken"}),
            )
        )
    scheduler = EnhancedScheduler(settings, database)
    await scheduler.start()
    try:
        spec = JobSpec(
            id="survivor",
            name="survivor",
            task="test_record",
            params={"path": out},
            trigger=DateSpec(run_date=datetime.fromtimestamp(due, UTC)),
        )
        await asyncio.to_thread(scheduler.ensure_job, spec)
        await wait_for(lambda: len(lines(out)) == 1, timeout=15)
        assert await _stored(database, "broken") == 0
        assert await asyncio.to_thread(scheduler.engine.get_job, "broken") is None
    finally:
        await scheduler.shutdown()


async def test_jobs_stored_with_one_next_run_time_each_fire_once_after_a_restart(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    """The next leader reads jobs sharing a next run time in the order it keeps them in:
    ids that a locale collation sorts unlike Python (case, punctuation) still each fire
    once and move on, none lost or fired twice."""
    out = str(tmp_path / "ties.txt")
    ids = ["tie_b", "tie_A", "tie-c", "Tie_d", "tie_E", "tiea"]
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    first = EnhancedScheduler(settings, database)
    await first.start()
    try:
        for job_id in ids:
            spec = JobSpec(
                id=job_id,
                name=job_id,
                task="test_record",
                params={"path": out},
                trigger=IntervalSpec(hours=1),
            )
            await asyncio.to_thread(first.ensure_job, spec)
            await asyncio.to_thread(first.engine.modify_job, job_id, next_run_time=due)
    finally:
        await first.shutdown()

    second = EnhancedScheduler(settings, database)
    await second.start()
    try:
        await wait_for(lambda: len(lines(out)) == len(ids), timeout=20)
        await asyncio.sleep(0.5)
        jobs = {j.id: j for j in await asyncio.to_thread(second.engine.get_jobs)}
        for job_id in ids:
            assert jobs[job_id].next_run_time > due
    finally:
        await second.shutdown()
    runs = Counter(row.job_id for row in await _rows(database, ""))
    assert {job_id: runs[job_id] for job_id in ids} == dict.fromkeys(ids, 1)
    assert len(lines(out)) == len(ids)
