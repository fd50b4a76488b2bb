"""The `apscheduler4` peer: APScheduler 4.0 (alpha) with its SQLAlchemy data store and
asyncpg event broker on PostgreSQL, results stored, in a virtual environment of its own
(`bench/peers/__init__.py` makes it), so it never meets this project's pinned 3.x.

`python apscheduler4_peer.py PORT DATABASE_URL`. A batch's `work` is `noop`, or `write`:
the one-row update of `bench_counters` that `bench_write` makes for ours. It serves the
benchmark's contender shape over plain HTTP (`peer_http`): `GET /health`, `POST
/bench/reset` (a `JobBatch` as JSON: the schedules it adds), `GET /bench/runs?prefix=`
(job id, fire time, start time of every run). Nothing here imports the project: only
this venv's packages.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import peer_http
from apscheduler import AsyncScheduler, ConflictPolicy, Schedule, ScheduleAdded, current_job
from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
from apscheduler.eventbrokers.asyncpg import AsyncpgEventBroker
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# (job id, fire time, start time) of every run.
RUNS: list[tuple[str, float | None, float]] = []
ENGINE: AsyncEngine | None = None
# As `bench.tasks.COUNTER_ROWS` (the table is made by the benchmark).
COUNTER_ROWS = 100
# How long a run's result is kept in the data store (longer than any benchmark).
RESULT_SECONDS = 3600


async def noop(job_id: str) -> None:
    fire = current_job.get().scheduled_fire_time
    RUNS.append((job_id, fire.timestamp() if fire else None, time.time()))


async def write(job_id: str) -> None:
    started = time.time()
    fire = current_job.get().scheduled_fire_time
    assert ENGINE is not None
    async with ENGINE.begin() as conn:
        await conn.execute(
            text("UPDATE bench_counters SET n = n + 1, touched_at = :at WHERE id = :row"),
            {"row": zlib.crc32(job_id.encode()) % COUNTER_ROWS, "at": datetime.now(UTC)},
        )
    RUNS.append((job_id, fire.timestamp() if fire else None, started))


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class Peer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.loop: asyncio.AbstractEventLoop | None = None
        self.scheduler: AsyncScheduler | None = None
        self.ready = threading.Event()

    async def main(self) -> None:
        global ENGINE
        self.loop = asyncio.get_running_loop()
        ENGINE = create_async_engine(self.url, pool_size=10)
        store = SQLAlchemyDataStore(ENGINE)
        broker = AsyncpgEventBroker.from_async_sqla_engine(ENGINE)
        async with AsyncScheduler(store, broker, max_concurrent_jobs=200) as scheduler:
            self.scheduler = scheduler
            await scheduler.start_in_background()
            self.ready.set()
            await asyncio.Event().wait()

    async def reset(self, batch: dict[str, Any]) -> float:
        assert self.scheduler is not None
        started = time.perf_counter()
        for schedule in await self.scheduler.get_schedules():
            await self.scheduler.remove_schedule(schedule.id)
        RUNS.clear()
        interval = batch["interval_s"]
        task = {"noop": noop, "write": write}[batch.get("work", "noop")]
        schedules = []
        for i in range(batch["count"]):
            job_id = f"{batch['prefix']}{i:06d}"
            start = batch["first_fire"] + i * batch["stagger_s"]
            trigger: DateTrigger | IntervalTrigger
            if interval is None:
                trigger = DateTrigger(run_time=utc(start))
            else:
                end = None
                if batch.get("runs") is not None:
                    end = utc(start + (batch["runs"] - 1) * interval + interval / 2)
                trigger = IntervalTrigger(seconds=interval, start_time=utc(start), end_time=end)
            schedules.append((job_id, trigger))
        if not schedules:
            return time.perf_counter() - started
        # The first through the scheduler's API (it also stores the task) ...
        first_id, first_trigger = schedules[0]
        await self.scheduler.add_schedule(
            task,
            first_trigger,
            id=first_id,
            kwargs={"job_id": first_id},
            misfire_grace_time=None,
            job_result_expiration_time=timedelta(seconds=RESULT_SECONDS),
            conflict_policy=ConflictPolicy.replace,
        )
        # ... the rest as its data store writes them, in multi-row inserts: one
        # `add_schedule` is a transaction and an event (15-30 ms here), too slow to install
        # thousands ahead of their first fire. Then one event wakes the scheduler.
        first = await self.scheduler.get_schedule(first_id)
        store = self.scheduler.data_store
        rows = []
        for job_id, trigger in schedules[1:]:
            schedule = Schedule(
                id=job_id,
                task_id=first.task_id,
                trigger=trigger,
                job_executor=first.job_executor,
                kwargs={"job_id": job_id},
                misfire_grace_time=None,
                job_result_expiration_time=timedelta(seconds=RESULT_SECONDS),
            )
            schedule.next_fire_time = trigger.next()
            rows.append(store._convert_outgoing_fire_times(schedule.marshal(store.serializer)))
        assert ENGINE is not None
        async with ENGINE.begin() as conn:
            for chunk in range(0, len(rows), 1000):
                await conn.execute(store._t_schedules.insert(), rows[chunk : chunk + 1000])
        await store._event_broker.publish(
            ScheduleAdded(
                schedule_id=first_id, task_id=first.task_id, next_fire_time=utc(batch["first_fire"])
            )
        )
        return time.perf_counter() - started

    def call(self, coro: Any) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


def main(argv: list[str]) -> None:
    port, url = int(argv[0]), argv[1]
    peer = Peer(url)

    def reset(batch: dict[str, Any] | None) -> float:
        return float(peer.call(peer.reset(batch))) if batch else 0.0

    def runs(prefix: str) -> list[Any]:
        return [r for r in list(RUNS) if r[0].startswith(prefix)]

    server = peer_http.server(port, peer.ready.is_set, reset, runs)
    try:
        asyncio.run(peer.main())
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
