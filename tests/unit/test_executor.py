"""The leader's executor at shutdown, without a database: what it hands the scheduler
to wait for must stay pending until a cancelled run has written its row."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

from apscheduler.events import JobExecutionEvent
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler

from app.tasks.executor import LocalExecutor, RunNow


async def _never(job: Job, run_times: object, started: RunNow | None) -> list[JobExecutionEvent]:
    raise AssertionError("only start_if_free is used here")


async def test_a_cancelled_run_is_waited_for_until_its_row_is_written() -> None:
    executor = LocalExecutor(run=_never, loop=asyncio.get_running_loop())
    executor.start(BackgroundScheduler(), "default")
    job = cast(Job, SimpleNamespace(id="long", kwargs={}, max_instances=1))
    started = asyncio.Event()
    recorded: list[str] = []

    async def run() -> list[JobExecutionEvent]:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            # Stands for the `interrupted` row's write: a few awaits on the database.
            await asyncio.sleep(0.2)
            recorded.append("interrupted")
            raise
        return []

    assert executor.start_if_free(job, run) is not None
    await started.wait()
    leftover = executor.running()
    # As `EnhancedScheduler.shutdown` does it: the engine's shutdown, on a thread.
    await asyncio.to_thread(executor.shutdown, False)
    await asyncio.wait(leftover, timeout=5)
    assert recorded == ["interrupted"]
    assert not executor.running()
