"""`LocalExecutor`: APScheduler's executor interface, running each fire on the leader's
event loop through one callable, the run path (`runs.Runs.execute`). It knows nothing
of history; it keeps APScheduler's instance limit and its event protocol.

APScheduler counts running instances per job and decrements the count only when the
executor reports the run's events (`_run_job_success`/`_run_job_error`), so every
submitted run must end in one of those calls, or the job would never fire again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from apscheduler.events import JobExecutionEvent
from apscheduler.executors.base import BaseExecutor, MaxInstancesReachedError
from apscheduler.job import Job

from app.tasks.overlap import instance_limit

logger = logging.getLogger(__name__)

# The run path: (job, fire times, run-now future or None) -> the events of those fires.
# The future resolves to the execution id once a run-now's row is written.
RunNow = asyncio.Future[int | None]
RunPath = Callable[
    [Job, list[datetime], RunNow | None], Coroutine[Any, Any, list[JobExecutionEvent]]
]
# Told of a scheduled fire that merges fire times the engine fell behind on.
CoalescedHook = Callable[[Job, datetime], None]


class LocalExecutor(BaseExecutor):  # type: ignore[misc]
    def __init__(
        self,
        run: RunPath,
        loop: asyncio.AbstractEventLoop,
        on_coalesced: CoalescedHook | None = None,
    ) -> None:
        super().__init__()
        self._run = run
        self._loop = loop
        self._on_coalesced = on_coalesced
        self._futures: set[concurrent.futures.Future[list[JobExecutionEvent]]] = set()
        # The runs' own tasks, on the loop. A cancelled future above is done at once,
        # while its task still writes the run's row: waiting for a shutdown's cancelled
        # runs means waiting for these.
        self._tasks: set[asyncio.Task[list[JobExecutionEvent]]] = set()

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        """As `BaseExecutor.submit_job`, under the job's instance limit (its overlap
        policy's, see `overlap.instance_limit`). Raises `MaxInstancesReachedError`, which
        APScheduler reports as `EVENT_JOB_MAX_INSTANCES`: the overlap."""
        assert self._lock is not None, "the executor has not been started"
        if self._on_coalesced is not None and job.coalesce and run_times:
            try:
                self._on_coalesced(job, run_times[-1])
            except Exception:
                # The run goes ahead; only the record of the fire times it merged is lost.
                logger.exception("job %s: could not record its coalesced fire times", job.id)
        with self._lock:
            if self._instances[job.id] >= _limit(job):
                raise MaxInstancesReachedError(job)
            self._do_submit_job(job, run_times)
            self._instances[job.id] += 1

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        self._start(job, run_times, None)

    def submit_now(self, job: Job, run_time: datetime, started: RunNow) -> None:
        """Run now, under the same instance limit as a scheduled run (as
        `BaseExecutor.submit_job` does it). Raises `MaxInstancesReachedError`."""
        assert self._lock is not None, "the executor has not been started"
        with self._lock:
            if self._instances[job.id] >= _limit(job):
                raise MaxInstancesReachedError(job)
            self._start(job, [run_time], started)
            self._instances[job.id] += 1

    def _start(self, job: Job, run_times: list[datetime], started: RunNow | None) -> None:
        self._track(job.id, self._run(job, run_times, started))

    def adopt(self, job_id: str, wait: Coroutine[Any, Any, list[JobExecutionEvent]]) -> None:
        """Count a run this leader did not start (one a previous leader handed to a
        worker) as an instance of its job until `wait` returns, so the job does not
        start a second one meanwhile."""
        assert self._lock is not None, "the executor has not been started"
        with self._lock:
            self._instances[job_id] += 1
        self._track(job_id, wait)

    def start_if_free(
        self, job: Job, run: Callable[[], Coroutine[Any, Any, list[JobExecutionEvent]]]
    ) -> concurrent.futures.Future[list[JobExecutionEvent]] | None:
        """Start `run()` as an instance of `job` if the job is below its instance limit;
        None if it is not (nothing started)."""
        assert self._lock is not None, "the executor has not been started"
        with self._lock:
            if self._instances[job.id] >= _limit(job):
                return None
            self._instances[job.id] += 1
        return self._track(job.id, run())

    def _track(
        self, job_id: str, run: Coroutine[Any, Any, list[JobExecutionEvent]]
    ) -> concurrent.futures.Future[list[JobExecutionEvent]]:
        future = asyncio.run_coroutine_threadsafe(self._as_task(run), self._loop)

        def done(f: concurrent.futures.Future[list[JobExecutionEvent]]) -> None:
            self._futures.discard(f)
            if f.cancelled():
                self._run_job_error(job_id, asyncio.CancelledError())
                return
            exc = f.exception()
            if exc is not None:
                self._run_job_error(job_id, exc, exc.__traceback__)
            else:
                self._run_job_success(job_id, f.result())

        self._futures.add(future)
        future.add_done_callback(done)
        return future

    async def _as_task(
        self, run: Coroutine[Any, Any, list[JobExecutionEvent]]
    ) -> list[JobExecutionEvent]:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            return await run
        finally:
            self._tasks.discard(task)

    def shutdown(self, wait: bool = True) -> None:
        for future in list(self._futures):
            future.cancel()

    def running(self) -> set[asyncio.Future[list[JobExecutionEvent]]]:
        """What to wait for until every run has ended and written its row; called on
        the loop. A run submitted but not begun yet is waited for by its future."""
        return {asyncio.wrap_future(f, loop=self._loop) for f in list(self._futures)} | set(
            self._tasks
        )


def _limit(job: Job) -> int:
    return instance_limit(job.kwargs, job.max_instances)
