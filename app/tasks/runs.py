"""`Runs`: the one path of a fire on the leader, scheduled or run-now: claim the slot
(the `running` row), run the task, record the outcome, then metrics and alerts. Fires
that do not run (missed, skipped, coalesced) are recorded through the same outcome.

Runs happen on the leader's event loop; the engine's thread reaches it only through
`spawn` and the executor. With the broker executor (`pool` set) the run's row is
inserted `queued` and a worker runs it; the run path waits for the row's outcome."""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.job import Job

from app.core import metrics
from app.crud import task_execution as execution_crud
from app.models.task_execution import ExecutionStatus, ExecutionTrigger, TaskExecution
from app.tasks import runner
from app.tasks.alerts import AlertDispatcher
from app.tasks.broker import RunMessage
from app.tasks.executor import RunNow
from app.tasks.history import HistoryWriter
from app.tasks.manager import TaskManager
from app.tasks.outcome import RunOutcome
from app.tasks.overlap import BUFFERING, OverlapPolicy, stored_overlap
from app.tasks.pool import Pool
from app.tasks.registry import TaskKind, UnknownTask
from app.tasks.retry_policy import stored_policy

logger = logging.getLogger(__name__)

# After a long outage a fast job may have thousands of coalesced fire times.
MAX_COALESCED_RECORDED = 100


def job_task(job: Job) -> str | None:
    task = job.kwargs.get("task")
    return task if isinstance(task, str) else None


def _event(job: Job, run_time: datetime, status: ExecutionStatus, error: Any) -> JobExecutionEvent:
    # The executor hands these to APScheduler, which counts the run as ended (its
    # instance limit) and tells its listeners.
    if status is ExecutionStatus.SUCCESS:
        return JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, "default", run_time)
    if status is ExecutionStatus.MISSED:
        return JobExecutionEvent(EVENT_JOB_MISSED, job.id, "default", run_time)
    return JobExecutionEvent(EVENT_JOB_ERROR, job.id, "default", run_time, exception=error)


class Runs:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        history: HistoryWriter,
        alerts: AlertDispatcher,
        runner_id: str,
        runtime: runner.Runtime,
        pool: Pool | None = None,
    ) -> None:
        self.runtime = runtime
        self.pool = pool
        self.loop = loop
        self.history = history
        self.alerts = alerts
        self.runner_id = runner_id
        self._background: set[asyncio.Task[Any]] = set()
        # Task bodies running on this leader by execution id, and the ones an operator
        # cancelled (their row is `cancelled` already).
        self._bodies: dict[int, asyncio.Task[Any]] = {}
        self._cancelled: set[int] = set()
        # Told when a job reaches its `pause_after_failures` (the job, its streak).
        self.on_failure_streak: Callable[[Job, int], Awaitable[None]] | None = None
        # When this leader started firing: slots due before it were missed while no
        # scheduler ran, and meet the job's catch-up window.
        self.started_at: datetime | None = None
        # One buffering decision at a time per job, so two slots never both take the
        # last place of a buffer.
        self._buffer_locks: dict[str, asyncio.Lock] = {}

    async def execute(
        self, job: Job, run_times: list[datetime], run_now: RunNow | None
    ) -> list[JobExecutionEvent]:
        events: list[JobExecutionEvent] = []
        trigger = ExecutionTrigger.MANUAL if run_now is not None else ExecutionTrigger.SCHEDULED
        for run_time in run_times:
            scheduled_at = None if run_now is not None else run_time.astimezone(UTC)
            catch_up = run_now is None and self._in_downtime(run_time)
            try:
                missed = None if run_now is not None else self._missed(job, run_time, catch_up)
            except Exception as exc:
                # Every fire ends in a row: a run that cannot even start is a failed one,
                # not a line in the log.
                message = f"Could not start the run: {type(exc).__name__}: {exc}"
                await self.record_only(job, ExecutionStatus.FAILED, scheduled_at, message)
                events.append(_event(job, run_time, ExecutionStatus.FAILED, exc))
                continue
            if missed is not None:
                await self.record_only(job, ExecutionStatus.MISSED, scheduled_at, missed)
                events.append(_event(job, run_time, ExecutionStatus.MISSED, None))
                continue
            if scheduled_at is not None and await self._behind_buffer(job, scheduled_at):
                continue
            outcome = await self._run_once(job, scheduled_at, trigger, run_now, late=catch_up)
            if outcome is not None:
                events.append(_event(job, run_time, outcome.status, outcome.error_message))
        return events

    async def _run_once(
        self,
        job: Job,
        scheduled_at: datetime | None,
        trigger: ExecutionTrigger,
        run_now: RunNow | None,
        *,
        late: bool = False,
    ) -> RunOutcome | None:
        """`late`: a slot run late on purpose (backfill, catch-up): on the pool it gets
        the queue's deadline, not its grace time."""
        if self.pool is not None:
            return await self._run_on_pool(
                self.pool, job, scheduled_at, trigger, run_now, late=late
            )
        execution_id = await self._first_row(
            job, scheduled_at, trigger, run_now, "record the start of", runner=self.runner_id
        )
        if execution_id is None:
            return None
        return await self._run_body(job, execution_id, scheduled_at, trigger, attempt=1)

    async def _first_row(
        self,
        job: Job,
        scheduled_at: datetime | None,
        trigger: ExecutionTrigger,
        run_now: RunNow | None,
        doing: str,
        **row: Any,
    ) -> int | None:
        """Write the slot's first row (the unique key decides who owns the slot) and tell
        a waiting run-now its id; None when there is nothing to run: the write failed
        (no row, no run: running without a record would break exactly-once) or another
        scheduler took the slot."""
        try:
            execution_id = await self.history.record_start(
                job_id=job.id,
                job_name=job.name,
                task=job_task(job),
                trigger=trigger,
                scheduled_at=scheduled_at,
                **row,
            )
        except Exception as exc:
            logger.error("could not %s %s; run skipped: %s", doing, job.id, exc)
            if run_now is not None and not run_now.done():
                run_now.set_exception(exc)
            return None
        if run_now is not None and not run_now.done():
            run_now.set_result(execution_id)
        if execution_id is None:
            logger.info("slot %s of %s already taken by another scheduler", scheduled_at, job.id)
        return execution_id

    def _in_downtime(self, run_time: datetime) -> bool:
        """Whether the slot was due before this leader started: missed while no
        scheduler ran."""
        return self.started_at is not None and run_time < self.started_at

    @staticmethod
    def _missed(job: Job, run_time: datetime, in_downtime: bool) -> str | None:
        """Why a scheduled slot is not run (None: it runs). A slot missed while no
        scheduler ran meets the job's catch-up window, when it has one, instead of its
        grace time."""
        window = catchup_window(job)
        if in_downtime and window is not None:
            lateness = datetime.now(UTC) - run_time
            if lateness.total_seconds() > window:
                return (
                    f"Missed while no scheduler ran: {lateness} late, older than the "
                    f"catch-up window ({window} s)"
                )
            return None
        missed_by = _missed_by(job, run_time)
        return None if missed_by is None else f"Run was missed by {missed_by}"

    async def _run_body(
        self,
        job: Job,
        execution_id: int,
        scheduled_at: datetime | None,
        trigger: ExecutionTrigger,
        *,
        attempt: int,
    ) -> RunOutcome:
        """Run the task for its `running` row and record the outcome; a retry follows
        one that did not succeed when the job's policy asks for it."""
        started = datetime.now(UTC)
        status, result, message, tb = ExecutionStatus.SUCCESS, None, None, None
        try:
            # Inside: whatever fails between the row and the task body fails the run.
            # A backfilled slot is late on purpose: no lateness for it.
            due = None if trigger is ExecutionTrigger.BACKFILL else scheduled_at
            metrics.run_started(job_task(job), due, started)
            result = await self._body_task(job, execution_id)
        except runner.TaskTimeout as exc:
            status, message = ExecutionStatus.TIMEOUT, str(exc)
        except asyncio.CancelledError:
            if self._cancelled_by_operator(execution_id):
                return self._observe_cancelled(job, execution_id, trigger, scheduled_at, started)
            status, message = (
                ExecutionStatus.INTERRUPTED,
                "Cancelled: the scheduler stopped during the run",
            )
            await self._finish(execution_id, started, status, message=message)
            self._observe(
                self._outcome(job, execution_id, trigger, scheduled_at, started, status, message)
            )
            await self.after_attempt(job, scheduled_at, trigger, status, attempt)
            raise
        except Exception as exc:
            status, message, tb = (
                ExecutionStatus.FAILED,
                f"{type(exc).__name__}: {exc}",
                traceback.format_exc(),
            )
        if execution_id in self._cancelled:
            # Cancelled as it ended: the row says `cancelled`, and the finish is fenced.
            self._cancelled.discard(execution_id)
            return self._observe_cancelled(job, execution_id, trigger, scheduled_at, started)
        await self._finish(execution_id, started, status, result=result, message=message, tb=tb)
        outcome = self._outcome(job, execution_id, trigger, scheduled_at, started, status, message)
        self._observe(outcome)
        await self.after_attempt(job, scheduled_at, trigger, status, attempt)
        return outcome

    async def _body_task(self, job: Job, execution_id: int) -> Any:
        """The task body as a task of its own, so that `cancel` can stop this run alone."""
        if execution_id in self._cancelled:
            # Cancelled between its row and its start.
            raise asyncio.CancelledError
        body = asyncio.ensure_future(
            job.func(
                *job.args,
                **{
                    **job.kwargs,
                    "job_id": job.id,
                    "execution_id": execution_id,
                    "runtime": self.runtime,
                },
            )
        )
        self._bodies[execution_id] = body
        try:
            return await body
        finally:
            self._bodies.pop(execution_id, None)

    def _cancelled_by_operator(self, execution_id: int) -> bool:
        """True when the run, not the scheduler, was cancelled: a shutdown cancels the
        run path itself, and that run ends `interrupted`."""
        current = asyncio.current_task()
        if execution_id not in self._cancelled or (current and current.cancelling()):
            return False
        self._cancelled.discard(execution_id)
        return True

    def _observe_cancelled(
        self,
        job: Job,
        execution_id: int,
        trigger: ExecutionTrigger,
        scheduled_at: datetime | None,
        started: datetime,
    ) -> RunOutcome:
        status = ExecutionStatus.CANCELLED
        outcome = self._outcome(job, execution_id, trigger, scheduled_at, started, status, None)
        self._observe(outcome)
        return outcome

    async def cancel(self, execution_id: int, message: str) -> bool:
        """Cancel a queued or running run: its row becomes `cancelled` (False: it has
        finished). A body running here is cancelled; a worker running it stops by
        itself when it sees the row is no longer its own."""
        if not await self.history.cancel(execution_id, message):
            return False
        body = self._bodies.get(execution_id)
        if body is not None:
            self._cancelled.add(execution_id)
            body.cancel()
        elif self.pool is None:
            # A local run whose row is written but whose body has not started yet.
            self._cancelled.add(execution_id)
        return True

    async def run_past_slot(
        self, job: Job, slot: datetime, trigger: ExecutionTrigger
    ) -> list[JobExecutionEvent]:
        """Run one past slot of `job` now (a backfill, or a resume's catch-up); a slot
        that has a row already is not run."""
        outcome = await self._run_once(job, slot, trigger, None, late=True)
        if outcome is None:
            return []
        return [_event(job, slot, outcome.status, outcome.error_message)]

    # --- retries and pausing after failures --------------------------------------------

    async def after_attempt(
        self,
        job: Job,
        scheduled_at: datetime | None,
        trigger: ExecutionTrigger,
        status: ExecutionStatus,
        attempt: int,
    ) -> None:
        """What follows an attempt's outcome: its retry, or, for a run that failed for
        good, the job's pause when its failures in a row reach `pause_after_failures`."""
        if await self.schedule_retry(job, scheduled_at, trigger, status, attempt) is not None:
            return
        if status in PAUSING_STATUSES:
            await self._pause_if_failing(job)

    async def _pause_if_failing(self, job: Job) -> None:
        limit = job.kwargs.get("pause_after_failures")
        if not isinstance(limit, int) or self.on_failure_streak is None:
            return
        try:
            async with self.runtime.database.transaction() as db:
                rows = await TaskManager(db).get_job_executions(job.id, limit=limit * 21 + 20)
            streak = failed_runs_in_a_row(rows)
            if streak >= limit:
                await self.on_failure_streak(job, streak)
        except Exception:
            logger.exception("job %s: could not check its failures in a row", job.id)

    async def schedule_retry(
        self,
        job: Job,
        scheduled_at: datetime | None,
        trigger: ExecutionTrigger,
        status: ExecutionStatus,
        attempt: int,
    ) -> int | None:
        """Write the next attempt of a slot as a `waiting` row that starts when its
        backoff has passed, if the job's retry policy asks for one. The row, not this
        process, holds the retry, so it survives a restart and a leader failover."""
        try:
            policy = stored_policy(job.kwargs.get("retry"))
        except ValueError:
            logger.exception("job %s: its stored retry policy cannot be read", job.id)
            return None
        if policy is None or not policy.retries(status.value, attempt):
            return None
        not_before = datetime.now(UTC) + timedelta(seconds=policy.backoff(attempt))
        try:
            return await self.history.record_start(
                job_id=job.id,
                job_name=job.name,
                task=job_task(job),
                trigger=trigger,
                scheduled_at=scheduled_at,
                runner=None,
                status=ExecutionStatus.WAITING,
                attempt=attempt + 1,
                not_before=not_before,
            )
        except Exception:
            logger.exception("job %s: could not record its attempt %d", job.id, attempt + 1)
            return None

    async def run_due_attempt(self, job: Job | None, row: TaskExecution) -> list[JobExecutionEvent]:
        """Start a waiting row: a retry whose backoff has passed, or a slot buffered
        behind an earlier run that has ended. `running` on this leader, or `queued` and
        published with the broker executor. Its job gone, the row ends `cancelled`.
        Nothing happens if another pass of the poll took it first."""
        now = datetime.now(UTC)
        if job is None:
            await self._take_attempt(
                row.id,
                status=ExecutionStatus.CANCELLED,
                completed_at=now,
                error_message="Cancelled: the job was deleted before this run started",
            )
            return []
        if self.pool is not None:
            message = self._pool_message(job, row.scheduled_at, now)
            queued = await self._take_attempt(
                row.id,
                status=ExecutionStatus.QUEUED,
                started_at=now,
                claim_token=message.claim_token,
                deadline_at=self._queue_deadline(
                    job, now, row.scheduled_at, attempt=row.attempt, late=row.not_before is None
                ),
                message=message.body(),
                published_at=now,
            )
            if queued:
                done = await self.pool.run(
                    message.model_copy(update={"execution_id": row.id}), row.id
                )
                self.observe_pool_run(done)
                await self.after_attempt(
                    job, row.scheduled_at, row.trigger, done.status, row.attempt
                )
            return []
        if await self._take_attempt(
            row.id, status=ExecutionStatus.RUNNING, runner=self.runner_id, started_at=now
        ):
            await self._run_body(job, row.id, row.scheduled_at, row.trigger, attempt=row.attempt)
        return []

    async def _take_attempt(self, execution_id: int, **values: Any) -> bool:
        try:
            async with self.runtime.database.transaction() as db:
                return await execution_crud.take_attempt(db, execution_id, values)
        except Exception:
            logger.exception("could not start the waiting attempt %s", execution_id)
            return False

    async def _run_on_pool(
        self,
        pool: Pool,
        job: Job,
        scheduled_at: datetime | None,
        trigger: ExecutionTrigger,
        run_now: RunNow | None,
        *,
        late: bool = False,
    ) -> RunOutcome | None:
        now = datetime.now(UTC)
        deadline = self._queue_deadline(job, now, scheduled_at, late=late)
        message = self._pool_message(job, scheduled_at, now)
        execution_id = await self._first_row(
            job,
            scheduled_at,
            trigger,
            run_now,
            "queue a run of",
            runner=None,
            status=ExecutionStatus.QUEUED,
            claim_token=message.claim_token,
            deadline_at=deadline,
            message=message.body(),
        )
        if execution_id is None:
            return None
        row = await pool.run(
            message.model_copy(update={"execution_id": execution_id}), execution_id
        )
        outcome = self.observe_pool_run(row)
        await self.after_attempt(job, scheduled_at, trigger, row.status, attempt=1)
        return outcome

    def _pool_message(self, job: Job, scheduled_at: datetime | None, now: datetime) -> RunMessage:
        timeout, kind = self._timeout_and_kind(job)
        return RunMessage(
            execution_id=0,
            claim_token=uuid.uuid4().hex,
            task=job_task(job) or "",
            params=job.kwargs.get("params") or {},
            timeout_seconds=timeout,
            job_id=job.id,
            scheduled_at=scheduled_at,
            queued_at=now,
            kind=kind,
        )

    def _queue_deadline(
        self,
        job: Job,
        now: datetime,
        scheduled_at: datetime | None,
        *,
        attempt: int = 1,
        late: bool = False,
    ) -> datetime:
        """When a queued run no worker took is missed. A retry's grace time counts from
        when it is queued: its slot is long past by then. A slot run late on purpose
        (backfilled, caught up, or buffered behind an earlier run) has the queue's
        deadline."""
        if scheduled_at is not None and job.misfire_grace_time is not None and not late:
            start = scheduled_at if attempt == 1 else now
            return start + timedelta(seconds=job.misfire_grace_time)
        return now + timedelta(seconds=self.runtime.settings.BROKER_QUEUE_DEADLINE_SECONDS)

    def _timeout_and_kind(self, job: Job) -> tuple[float, TaskKind]:
        settings = self.runtime.settings
        stored = job.kwargs.get("timeout_seconds")
        try:
            definition = self.runtime.registry.get(job_task(job) or "")
        except UnknownTask:
            # The worker fails the run with the same error a local run would.
            return float(stored or settings.TASK_DEFAULT_TIMEOUT_SECONDS), "io"
        timeout = (
            stored or definition.default_timeout_seconds or settings.TASK_DEFAULT_TIMEOUT_SECONDS
        )
        return float(timeout), definition.kind

    async def follow_pool_run(self, execution_id: int) -> list[JobExecutionEvent]:
        """Wait for a run a previous leader handed to a worker, and report it."""
        assert self.pool is not None
        self.observe_pool_run(await self.pool.run(None, execution_id))
        return []

    def observe_pool_run(self, row: TaskExecution) -> RunOutcome:
        """Metrics and alerts for a run a worker ended (or the leader reaped). The
        running gauge is not touched: the pool counts runs on workers from their rows."""
        started = row.started_at if row.runner is not None else None
        if started is not None:
            due = None if row.trigger is ExecutionTrigger.BACKFILL else row.scheduled_at
            metrics.observe_lateness(row.task, due, started)
            metrics.pool_dispatched(row.task, row.created_at, started)
        outcome = RunOutcome(
            job_id=row.job_id,
            job_name=row.job_name,
            task=row.task,
            status=row.status,
            trigger=row.trigger,
            execution_id=row.id,
            scheduled_at=row.scheduled_at,
            started_at=started,
            finished_at=row.completed_at or datetime.now(UTC),
            error_message=row.error_message,
        )
        self._observe(outcome, on_pool=True)
        return outcome

    async def _finish(
        self,
        execution_id: int,
        started: datetime,
        status: ExecutionStatus,
        *,
        result: Any = None,
        message: str | None = None,
        tb: str | None = None,
    ) -> None:
        try:
            await self.history.record_finish(
                execution_id,
                status=status,
                started_at=started,
                result=result,
                error_message=message,
                error_traceback=tb,
            )
        except Exception:
            # The row stays `running`; the next leader start closes it as interrupted.
            logger.exception("could not record the outcome of execution %s", execution_id)

    async def record_only(
        self, job: Job, status: ExecutionStatus, scheduled_at: datetime | None, message: str
    ) -> None:
        """Record a fire that did not run."""
        try:
            execution_id = await self.history.record_start(
                job_id=job.id,
                job_name=job.name,
                task=job_task(job),
                trigger=ExecutionTrigger.SCHEDULED,
                scheduled_at=scheduled_at,
                runner=self.runner_id,
                status=status,
                error_message=message,
            )
        except Exception:
            logger.exception("could not record a %s run of %s", status, job.id)
            return
        if execution_id is not None:  # None: another scheduler recorded this slot
            trigger = ExecutionTrigger.SCHEDULED
            self._observe(
                self._outcome(job, execution_id, trigger, scheduled_at, None, status, message)
            )

    @staticmethod
    def _outcome(
        job: Job,
        execution_id: int | None,
        trigger: ExecutionTrigger,
        scheduled_at: datetime | None,
        started: datetime | None,
        status: ExecutionStatus,
        message: str | None,
    ) -> RunOutcome:
        return RunOutcome(
            job_id=job.id,
            job_name=job.name,
            task=job_task(job),
            status=status,
            trigger=trigger,
            execution_id=execution_id,
            scheduled_at=scheduled_at,
            started_at=started,
            finished_at=datetime.now(UTC),
            error_message=message,
        )

    def _observe(self, outcome: RunOutcome, *, on_pool: bool = False) -> None:
        """Metrics and alerts for an outcome just recorded. Neither may delay or fail the
        run: metrics are in memory, and alerts go out on tasks of their own."""
        try:
            if outcome.started_at is not None:
                finished = metrics.observe_run if on_pool else metrics.run_finished
                finished(
                    outcome.job_id,
                    outcome.task,
                    outcome.status,
                    outcome.started_at,
                    outcome.finished_at,
                )
            else:
                metrics.observe_outcome(outcome.job_id, outcome.status, outcome.finished_at)
            self.alerts.notify(outcome)
        except Exception:
            logger.exception("metrics or alerts failed for job %s", outcome.job_id)

    # --- called on the engine's thread ---------------------------------------------

    def record_coalesced(self, job: Job, latest: datetime) -> None:
        """APScheduler merges fire times the engine fell behind on into the latest one
        and says nothing of the others; record them as missed so no slot goes silent.
        At submit time `job.next_run_time` is still the first due fire time."""
        bypassed = [t for t in job._get_run_times(latest) if t < latest]
        if len(bypassed) > MAX_COALESCED_RECORDED:
            logger.warning(
                "job %s: %d fire times coalesced, recording the last %d",
                job.id,
                len(bypassed),
                MAX_COALESCED_RECORDED,
            )
            bypassed = bypassed[-MAX_COALESCED_RECORDED:]
        merged = f"Coalesced into the run scheduled at {latest.astimezone(UTC).isoformat()}"
        for run_time in bypassed:
            self.spawn(
                self.record_only(job, ExecutionStatus.MISSED, run_time.astimezone(UTC), merged)
            )

    def on_overlap(self, job: Job, event: JobSubmissionEvent) -> None:
        """Slots that came while the job was at its instance limit, by its overlap policy
        (see `overlap.py`): each ends in a row."""
        policy = stored_overlap(job.kwargs, job.max_instances)
        for run_time in event.scheduled_run_times:
            slot = run_time.astimezone(UTC)
            if policy in BUFFERING:
                self.spawn(self._buffer(job, slot, policy))
            elif policy == "cancel_other":
                self.spawn(self._cancel_other(job, slot))
            else:
                self.spawn(self.record_only(job, ExecutionStatus.SKIPPED, slot, _skipped(policy)))

    async def _behind_buffer(self, job: Job, slot: datetime) -> bool:
        """A slot of a buffering job that comes while earlier slots still wait for their
        turn joins the buffer instead of running ahead of them (True: it did)."""
        policy = stored_overlap(job.kwargs, job.max_instances)
        if policy not in BUFFERING:
            return False
        try:
            async with self.runtime.database.transaction() as db:
                waiting = await execution_crud.count_buffered(db, job.id)
        except Exception:
            logger.exception("job %s: could not read its buffered runs", job.id)
            return False
        if waiting == 0:
            return False
        await self._buffer(job, slot, policy)
        return True

    async def _buffer(self, job: Job, slot: datetime, policy: OverlapPolicy) -> None:
        """Write the slot as a buffered `waiting` row (no `not_before`: it starts when
        the job's running run has ended), or `skipped` when the buffer is full. The row,
        not this process, holds it, so it survives a restart and a leader failover."""
        limit = 1 if policy == "buffer_one" else self.runtime.settings.OVERLAP_BUFFER_MAX_RUNS
        lock = self._buffer_locks.setdefault(job.id, asyncio.Lock())
        async with lock:
            try:
                async with self.runtime.database.transaction() as db:
                    waiting = await execution_crud.count_buffered(db, job.id)
            except Exception:
                logger.exception("job %s: could not read its buffered runs", job.id)
                waiting = limit
            if waiting >= limit:
                if policy == "buffer_one":
                    message = "Skipped: a run already waits behind the running one (buffer_one)"
                else:
                    message = (
                        f"Skipped: {limit} runs already wait behind the running one "
                        "(buffer_all, OVERLAP_BUFFER_MAX_RUNS)"
                    )
                await self.record_only(job, ExecutionStatus.SKIPPED, slot, message)
                return
            await self._write_buffered(job, slot)

    async def _write_buffered(self, job: Job, slot: datetime) -> None:
        try:
            await self.history.record_start(
                job_id=job.id,
                job_name=job.name,
                task=job_task(job),
                trigger=ExecutionTrigger.SCHEDULED,
                scheduled_at=slot,
                runner=None,
                status=ExecutionStatus.WAITING,
                not_before=None,
            )
        except Exception:
            logger.exception("job %s: could not buffer its slot %s", job.id, slot)

    async def _cancel_other(self, job: Job, slot: datetime) -> None:
        """Cancel the job's runs (running, queued, or waiting), then buffer the new slot,
        which starts as soon as the cancelled run has ended."""
        try:
            async with self.runtime.database.transaction() as db:
                ids = await execution_crud.unfinished_ids(db, job.id)
        except Exception:
            logger.exception("job %s: could not read its runs to cancel", job.id)
            await self.record_only(
                job, ExecutionStatus.SKIPPED, slot, "Skipped: the running run could not be read"
            )
            return
        for execution_id in ids:
            await self.cancel(execution_id, CANCELLED_BY_OVERLAP)
        await self._write_buffered(job, slot)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        def start() -> None:
            task = self.loop.create_task(coro)
            self._background.add(task)
            task.add_done_callback(self._background.discard)

        self.loop.call_soon_threadsafe(start)

    async def wait_background(self, timeout: float) -> None:
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout)


# Outcomes that count towards `pause_after_failures`; a success ends a streak, and the
# outcomes that say nothing of the job's code (skipped, missed...) are passed over.
PAUSING_STATUSES = frozenset(
    {ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT, ExecutionStatus.INTERRUPTED}
)


def failed_runs_in_a_row(rows: Sequence[TaskExecution]) -> int:
    """Runs that failed for good in a row, newest first: each run counts once, by its
    first attempt (a run whose last attempt failed failed on every attempt)."""
    streak = 0
    for row in rows:
        if row.status is ExecutionStatus.SUCCESS:
            break
        if row.status in PAUSING_STATUSES and row.attempt == 1:
            streak += 1
    return streak


CANCELLED_BY_OVERLAP = "Cancelled by overlap policy cancel_other: a new slot came"


def _skipped(policy: OverlapPolicy) -> str:
    if policy == "allow_all":
        return "Skipped: max_instances runs were still going (allow_all)"
    return "Skipped: the previous run was still going (max_instances reached)"


def catchup_window(job: Job) -> int | None:
    value = job.kwargs.get("catchup_window_seconds")
    return value if isinstance(value, int) else None


def _missed_by(job: Job, run_time: datetime) -> timedelta | None:
    """How late a scheduled run is, if that is past its grace time (None: it runs).
    Compared in seconds: a grace time too large for a `timedelta` (stored before grace
    times were bounded) is simply never past."""
    if job.misfire_grace_time is None:
        return None
    lateness = datetime.now(UTC) - run_time
    if lateness.total_seconds() > job.misfire_grace_time:
        return lateness
    return None
