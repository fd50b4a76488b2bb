"""`EnhancedScheduler`: APScheduler with a persistent job store, history for every run,
and the only code that writes `apscheduler_jobs`.

It runs only in the scheduler leader (see `service.py`), with two threads of its own:
- APScheduler's engine (`BackgroundScheduler`) on a thread of its own, because
  `SQLAlchemyJobStore` is synchronous. On an event loop its I/O would stall everything on
  that loop, and on SQLite it deadlocks: a store write blocks the loop while an async
  write transaction on the same loop holds the database lock the store waits for.
- Runs, their history and every other async database write on the leader's event loop
  (`self.loop`), which never blocks on the store: it reaches the engine only through
  `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import traceback
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.base import BaseExecutor, MaxInstancesReachedError
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from app.core import metrics
from app.core.config import Settings
from app.core.errors import Conflict, Invalid, NotFound
from app.db.session import Database, sqlite_pragmas
from app.models.task_execution import ExecutionStatus, ExecutionTrigger
from app.services.alert import AlertDispatcher, RunOutcome
from app.tasks import runner, triggers
from app.tasks.history import HistoryWriter
from app.tasks.jobstore import CachedJobStore, SchedulerEngine
from app.tasks.manager import TaskManager
from app.tasks.registry import JobSpec, UnknownTask, registry

logger = logging.getLogger(__name__)

TRIGGER_ADAPTER: TypeAdapter[Any] = TypeAdapter(triggers.TriggerSpec)
BOT_JOB_PREFIX = "bot_scraping_"
# After a long outage a fast job may have thousands of coalesced fire times.
MAX_COALESCED_RECORDED = 100
JOBSTORE_RETRY_SECONDS = 5
# How the job store's connections show in pg_stat_activity.
JOBSTORE_APPLICATION_NAME = "reddit-bot jobstore"


def new_runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def job_task(job: Job) -> str | None:
    task = job.kwargs.get("task")
    return task if isinstance(task, str) else None


class HistoryExecutor(BaseExecutor):  # type: ignore[misc]
    """An executor whose runs go to `EnhancedScheduler.execute` on the leader's event
    loop, the place that knows each run's fire time: it writes the `running` row first
    (claiming the slot), then the outcome. Instance limits work as in APScheduler."""

    def __init__(self, owner: EnhancedScheduler) -> None:
        super().__init__()
        self._owner = owner
        self._manual: asyncio.Future[int | None] | None = None
        self._futures: set[concurrent.futures.Future[list[JobExecutionEvent]]] = set()

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        if self._manual is None and job.coalesce and run_times:
            try:
                self._record_coalesced(job, run_times[-1])
            except Exception:
                # The run goes ahead; only the record of the fire times it merged is lost.
                logger.exception("job %s: could not record its coalesced fire times", job.id)
        super().submit_job(job, run_times)

    def _record_coalesced(self, job: Job, latest: datetime) -> None:
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
        for run_time in bypassed:
            self._owner.spawn(
                self._owner.record_only(
                    job,
                    ExecutionStatus.MISSED,
                    run_time.astimezone(UTC),
                    f"Coalesced into the run scheduled at {latest.astimezone(UTC).isoformat()}",
                )
            )

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        manual, self._manual = self._manual, None
        future = asyncio.run_coroutine_threadsafe(
            self._owner.execute(job, run_times, manual), self._owner.loop
        )

        def done(f: concurrent.futures.Future[list[JobExecutionEvent]]) -> None:
            self._futures.discard(f)
            if f.cancelled():
                self._run_job_error(job.id, asyncio.CancelledError())
                return
            exc = f.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, f.result())

        self._futures.add(future)
        future.add_done_callback(done)

    def submit_manual(self, job: Job, started: asyncio.Future[int | None]) -> None:
        """Run now, through the same path and instance limit as a scheduled run.
        `started` resolves to the execution id once its row is written."""
        assert self._lock is not None
        with self._lock:
            self._manual = started
            try:
                self.submit_job(job, [datetime.now(UTC)])
            finally:
                self._manual = None

    def shutdown(self, wait: bool = True) -> None:
        for future in list(self._futures):
            future.cancel()

    def running(self) -> set[asyncio.Future[list[JobExecutionEvent]]]:
        return {asyncio.wrap_future(f, loop=self._owner.loop) for f in list(self._futures)}


class EnhancedScheduler:
    def __init__(
        self, settings: Settings, database: Database, runner_id: str | None = None
    ) -> None:
        self.settings = settings
        self.database = database
        self.runner_id = runner_id or new_runner_id()
        self.jobstore_engine = self._jobstore_engine(settings.sync_database_url)
        self.executor = HistoryExecutor(self)
        self.loop = asyncio.get_running_loop()
        self.scheduler = SchedulerEngine(
            jobstores={
                "default": CachedJobStore(engine=self.jobstore_engine, tablename="apscheduler_jobs")
            },
            executors={"default": self.executor},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
            daemon=True,
            jobstore_retry_interval=JOBSTORE_RETRY_SECONDS,
        )
        self.scheduler.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)
        self.scheduler.add_listener(self._on_outcome, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self._background: set[asyncio.Task[Any]] = set()
        self.alerts = AlertDispatcher(settings, database, self.runner_id)
        self.history = HistoryWriter(database.url)
        self.started_at: datetime | None = None

    @staticmethod
    def _jobstore_engine(url: str) -> Engine:
        """Every job-store write is one statement, so autocommit spares it a BEGIN and a
        COMMIT round trip. No pre-ping either: a connection lost with the server fails
        one write, which is tried again (`SchedulerEngine`), and the pool reconnects."""
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30}, isolation_level="AUTOCOMMIT")
            event.listen(engine, "connect", sqlite_pragmas)
            return engine
        return create_engine(
            url,
            pool_size=2,
            max_overflow=2,
            isolation_level="AUTOCOMMIT",
            connect_args={"application_name": JOBSTORE_APPLICATION_NAME},
        )

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    # --- life cycle ----------------------------------------------------------------

    async def start(
        self, reconcile: Callable[[EnhancedScheduler], Coroutine[Any, Any, None]] | None = None
    ) -> None:
        """Start paused, put the stored jobs right, then resume: nothing fires against a
        half-reconciled store, and nothing already stored is replaced."""
        runner.bind_runtime(runner.Runtime(self.database, self.settings))
        await asyncio.to_thread(self.scheduler.start, paused=True)
        async with self.database.transaction() as db:
            closed = await TaskManager(db).close_interrupted(keep_runner=self.runner_id)
        if closed:
            logger.warning("closed %d run(s) left running by a stopped process", closed)
        await asyncio.to_thread(self._upgrade_triggers)
        await asyncio.to_thread(self._ensure_builtin_jobs)
        if reconcile is not None:
            await reconcile(self)
        await asyncio.to_thread(self.scheduler.resume)
        self.started_at = datetime.now(UTC)
        logger.info("scheduler started (%s)", self.runner_id)

    def _upgrade_triggers(self) -> None:
        """Give jobs stored with an older trigger class the one this code builds (see
        `triggers.upgrade`). A run still due stays due; a future next run time is
        computed again, since the old class may have skipped a slot to reach it."""
        now = datetime.now(UTC)
        for job in self.scheduler.get_jobs():
            trigger = triggers.upgrade(job.trigger)
            if trigger is None:
                continue
            changes: dict[str, Any] = {"trigger": trigger}
            if job.next_run_time is not None and job.next_run_time > now:
                next_run = trigger.get_next_fire_time(None, now)
                if next_run is not None:
                    changes["next_run_time"] = next_run
            self.scheduler.modify_job(job.id, **changes)
            logger.info("job %s: trigger %s stored as %s", job.id, job.trigger, trigger)

    def _ensure_builtin_jobs(self) -> None:
        from app.tasks.jobs.cleanup import BUILTIN_JOBS

        for spec in BUILTIN_JOBS:
            outcome = self.ensure_job(spec)
            if outcome != "unchanged":
                logger.info("built-in job %s %s", spec.id, outcome)

    async def shutdown(self, grace_seconds: float | None = None) -> None:
        """Stop firing, give running jobs `grace_seconds` to finish, then cancel the rest
        (recorded as interrupted)."""
        if not self.scheduler.running:
            await self.history.aclose()
            self.jobstore_engine.dispose()
            return
        grace = (
            self.settings.SCHEDULER_SHUTDOWN_GRACE_SECONDS
            if grace_seconds is None
            else grace_seconds
        )
        await asyncio.to_thread(self.scheduler.pause_between_rounds)
        running = self.executor.running()
        if running and grace > 0:
            await asyncio.wait(running, timeout=grace)
        leftover = self.executor.running()
        await asyncio.to_thread(self.scheduler.shutdown, wait=False)
        # The cancelled runs need a moment to write their rows.
        if leftover:
            await asyncio.wait(leftover, timeout=5)
        if self._background:
            await asyncio.wait(set(self._background), timeout=5)
        await self.history.aclose()
        await self.alerts.aclose(timeout=5)
        runner.unbind_runtime()
        self.jobstore_engine.dispose()
        logger.info("scheduler stopped (%s)", self.runner_id)

    # --- runs ----------------------------------------------------------------------

    async def execute(
        self,
        job: Job,
        run_times: list[datetime],
        manual: asyncio.Future[int | None] | None = None,
    ) -> list[JobExecutionEvent]:
        events: list[JobExecutionEvent] = []
        trigger = ExecutionTrigger.MANUAL if manual is not None else ExecutionTrigger.SCHEDULED
        for run_time in run_times:
            scheduled_at = None if manual is not None else run_time.astimezone(UTC)
            try:
                missed_by = None if manual is not None else _missed_by(job, run_time)
            except Exception as exc:
                # Every fire ends in a row: a run that cannot even start is a failed one,
                # not a line in the log.
                message = f"Could not start the run: {type(exc).__name__}: {exc}"
                await self.record_only(job, ExecutionStatus.FAILED, scheduled_at, message)
                events.append(
                    JobExecutionEvent(EVENT_JOB_ERROR, job.id, "default", run_time, exception=exc)
                )
                continue
            if missed_by is not None:
                await self.record_only(
                    job, ExecutionStatus.MISSED, scheduled_at, f"Run was missed by {missed_by}"
                )
                events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, "default", run_time))
                continue
            event = await self._run_once(job, run_time, scheduled_at, trigger, manual)
            if event is not None:
                events.append(event)
        return events

    async def _run_once(
        self,
        job: Job,
        run_time: datetime,
        scheduled_at: datetime | None,
        trigger: ExecutionTrigger,
        manual: asyncio.Future[int | None] | None,
    ) -> JobExecutionEvent | None:
        try:
            execution_id = await self.history.record_start(
                job_id=job.id,
                job_name=job.name,
                task=job_task(job),
                trigger=trigger,
                scheduled_at=scheduled_at,
                runner=self.runner_id,
            )
        except Exception as exc:
            # No row, no run: running without a record would break exactly-once.
            logger.error("could not record the start of %s; run skipped: %s", job.id, exc)
            if manual is not None and not manual.done():
                manual.set_exception(exc)
            return None
        if manual is not None and not manual.done():
            manual.set_result(execution_id)
        if execution_id is None:
            logger.info("slot %s of %s already taken by another scheduler", scheduled_at, job.id)
            return None

        started = datetime.now(UTC)
        status, result, message, tb = ExecutionStatus.SUCCESS, None, None, None
        try:
            # Inside: whatever fails between the row and the task body fails the run.
            metrics.run_started(job_task(job), scheduled_at, started)
            result = await job.func(*job.args, **{**job.kwargs, "job_id": job.id})
        except runner.TaskTimeout as exc:
            status, message = ExecutionStatus.TIMEOUT, str(exc)
        except asyncio.CancelledError:
            message = "Cancelled: the scheduler stopped during the run"
            await self._finish(execution_id, started, ExecutionStatus.INTERRUPTED, message=message)
            self._observe(
                job,
                execution_id,
                trigger,
                scheduled_at,
                started,
                ExecutionStatus.INTERRUPTED,
                message,
            )
            raise
        except Exception as exc:
            status, message, tb = (
                ExecutionStatus.FAILED,
                f"{type(exc).__name__}: {exc}",
                traceback.format_exc(),
            )
        await self._finish(execution_id, started, status, result=result, message=message, tb=tb)
        self._observe(job, execution_id, trigger, scheduled_at, started, status, message)
        if status is ExecutionStatus.SUCCESS:
            return JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, "default", run_time, retval=result)
        return JobExecutionEvent(EVENT_JOB_ERROR, job.id, "default", run_time, exception=message)

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
            self._observe(
                job, execution_id, ExecutionTrigger.SCHEDULED, scheduled_at, None, status, message
            )

    def _observe(
        self,
        job: Job,
        execution_id: int | None,
        trigger: ExecutionTrigger,
        scheduled_at: datetime | None,
        started: datetime | None,
        status: ExecutionStatus,
        message: str | None,
    ) -> None:
        """Metrics and alerts for an outcome just recorded. Neither may delay or fail the
        run: metrics are in memory, and alerts go out on tasks of their own."""
        finished = datetime.now(UTC)
        try:
            if started is not None:
                metrics.run_finished(job.id, job_task(job), status, started, finished)
            else:
                metrics.observe_outcome(job.id, status, finished)
            self.alerts.notify(
                RunOutcome(
                    job_id=job.id,
                    job_name=job.name,
                    task=job_task(job),
                    status=status,
                    trigger=trigger,
                    execution_id=execution_id,
                    scheduled_at=scheduled_at,
                    started_at=started,
                    finished_at=finished,
                    error_message=message,
                )
            )
        except Exception:
            logger.exception("metrics or alerts failed for job %s", job.id)

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        # Called on the engine's thread.
        job = self.scheduler.get_job(event.job_id)
        if job is None:
            return
        for run_time in event.scheduled_run_times:
            self.spawn(
                self.record_only(
                    job,
                    ExecutionStatus.SKIPPED,
                    run_time.astimezone(UTC),
                    "Skipped: the previous run was still going (max_instances reached)",
                )
            )

    def _on_outcome(self, event: JobExecutionEvent) -> None:
        if event.exception:
            logger.warning("job %s did not succeed: %s", event.job_id, event.exception)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        def start() -> None:
            task = self.loop.create_task(coro)
            self._background.add(task)
            task.add_done_callback(self._background.discard)

        self.loop.call_soon_threadsafe(start)

    # --- job store writes (only here) ----------------------------------------------

    def ensure_job(self, spec: JobSpec, stored: dict[str, Job] | None = None) -> str:
        """Add the job if it is missing; if it exists, change only what differs, and keep
        its next run time and paused state unless its trigger pattern changed. `stored`:
        the store's jobs read just before, so a batch of calls does not read each job again."""
        job = self.scheduler.get_job(spec.id) if stored is None else stored.get(spec.id)
        trigger = triggers.build_trigger(spec.trigger)
        if job is None:
            try:
                self._add(spec, trigger)
                return "added"
            except ConflictingIdError:
                # Another scheduler (two leaders overlapping briefly) added it meanwhile.
                job = self.scheduler.get_job(spec.id)
                if job is None:
                    raise
        changes: dict[str, Any] = {}
        wanted_kwargs = self._kwargs(spec)
        if job.kwargs != wanted_kwargs or job.func_ref != runner.ENTRY_POINT:
            changes.update(func=runner.ENTRY_POINT, kwargs=wanted_kwargs)
        for attr in ("name", "max_instances", "misfire_grace_time", "coalesce"):
            if getattr(job, attr) != getattr(spec, attr):
                changes[attr] = getattr(spec, attr)
        if changes:
            self.scheduler.modify_job(spec.id, **changes)
        if triggers.signature(job.trigger) != triggers.signature(trigger):
            self._reschedule(job, trigger)
            return "rescheduled"
        return "updated" if changes else "unchanged"

    def _kwargs(self, spec: JobSpec) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"task": spec.task, "params": spec.params or {}}
        if spec.timeout_seconds is not None:
            kwargs["timeout_seconds"] = spec.timeout_seconds
        return kwargs

    def _add(self, spec: JobSpec, trigger: Any, *, paused: bool = False) -> Job:
        return self.scheduler.add_job(
            runner.ENTRY_POINT,
            trigger=trigger,
            id=spec.id,
            name=spec.name,
            kwargs=self._kwargs(spec),
            max_instances=spec.max_instances,
            misfire_grace_time=spec.misfire_grace_time,
            coalesce=spec.coalesce,
            replace_existing=False,
            **({"next_run_time": None} if paused else {}),
        )

    def _reschedule(self, job: Job, trigger: Any) -> None:
        was_paused = job.next_run_time is None
        self.scheduler.reschedule_job(job.id, trigger=trigger)
        if was_paused:
            self.scheduler.pause_job(job.id)

    def remove_job(self, job_id: str) -> bool:
        try:
            self.scheduler.remove_job(job_id)
        except JobLookupError:
            return False
        return True

    def sync_bot_jobs(self, wanted: dict[int, int]) -> tuple[int, int]:
        """Make the stored bot jobs exactly `{bot_config_id: interval_hours}`; returns
        (added or changed, removed). Unchanged jobs keep their next run time."""
        from app.tasks.jobs.scraping import bot_job_id, bot_job_spec

        stored = {j.id: j for j in self.scheduler.get_jobs() if j.id.startswith(BOT_JOB_PREFIX)}
        orphans = stored.keys() - {bot_job_id(i) for i in wanted}
        for job_id in orphans:
            self.remove_job(job_id)
        changed = sum(
            self.ensure_job(bot_job_spec(bot_config_id, hours), stored) != "unchanged"
            for bot_config_id, hours in wanted.items()
        )
        return changed, len(orphans)

    # --- commands from the API -----------------------------------------------------

    async def apply(
        self, action: str, job_id: str | None, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply one API command. Raises an `AppError` whose status the API answers with."""
        if action == "run":
            return await self._run_now(job_id)
        handler = getattr(self, f"_cmd_{action}", None)
        if handler is None:
            raise Invalid(f"unknown scheduler command {action!r}")
        result: dict[str, Any] = await asyncio.to_thread(handler, job_id, payload)
        return result

    async def _run_now(self, job_id: str | None) -> dict[str, Any]:
        job = await asyncio.to_thread(self._existing, job_id)
        started: asyncio.Future[int | None] = self.loop.create_future()
        try:
            await asyncio.to_thread(self.executor.submit_manual, job, started)
        except MaxInstancesReachedError:
            raise Conflict(
                f"Job {job.id!r} is already running ({job.max_instances} instance(s) allowed)"
            ) from None
        execution_id = await asyncio.wait_for(started, timeout=30)
        return {"status": "started", "execution_id": execution_id}

    def _existing(self, job_id: str | None) -> Job:
        job = self.scheduler.get_job(job_id) if job_id else None
        if job is None:
            raise NotFound(f"Job {job_id!r} not found")
        return job

    def _cmd_pause(self, job_id: str | None, _: dict[str, Any]) -> dict[str, Any]:
        job = self._existing(job_id)
        self.scheduler.pause_job(job.id)
        return {"status": "paused"}

    def _cmd_resume(self, job_id: str | None, _: dict[str, Any]) -> dict[str, Any]:
        job = self._existing(job_id)
        if job.next_run_time is None:
            self.scheduler.resume_job(job.id)
        if self.scheduler.get_job(job.id) is None:
            # A date trigger whose time has passed has nothing left to run.
            return {"status": "finished"}
        return {"status": "resumed"}

    def _cmd_remove(self, job_id: str | None, _: dict[str, Any]) -> dict[str, Any]:
        job = self._existing(job_id)
        self.scheduler.remove_job(job.id)
        return {"status": "deleted"}

    def _cmd_add(self, job_id: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        spec = spec_from_payload(payload)
        trigger = triggers.build_trigger(spec.trigger)
        try:
            self._add(spec, trigger, paused=bool(payload.get("paused")))
        except ConflictingIdError:
            raise Conflict(f"A job with id {spec.id!r} already exists") from None
        return {"status": "created"}

    def _cmd_modify(self, job_id: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        job = self._existing(job_id)
        kwargs = dict(job.kwargs)
        for key in ("task", "params", "timeout_seconds"):
            if key in payload:
                kwargs[key] = payload[key]
        if kwargs.get("timeout_seconds") is None:
            kwargs.pop("timeout_seconds", None)
        changes: dict[str, Any] = {"kwargs": kwargs}
        for key in ("name", "max_instances", "misfire_grace_time", "coalesce"):
            if key in payload:
                changes[key] = payload[key]
        self.scheduler.modify_job(job.id, **changes)
        if payload.get("trigger") is not None:
            spec = TRIGGER_ADAPTER.validate_python(payload["trigger"])
            self._reschedule(job, triggers.build_trigger(spec))
        return {"status": "modified"}

    def _cmd_sync_bot(self, job_id: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        """Make a bot's scraping job match its config: present with the right interval when
        active with auto-scrape on, absent otherwise."""
        bot_id = int(payload["bot_config_id"])
        wanted = payload.get("interval_hours") if payload.get("enabled") else None
        return {"status": self.sync_bot_job(bot_id, wanted)}

    def sync_bot_job(self, bot_config_id: int, interval_hours: int | None) -> str:
        from app.tasks.jobs.scraping import bot_job_spec

        if interval_hours is None:
            return "removed" if self.remove_job(f"{BOT_JOB_PREFIX}{bot_config_id}") else "absent"
        return self.ensure_job(bot_job_spec(bot_config_id, interval_hours))


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


def spec_from_payload(payload: dict[str, Any]) -> JobSpec:
    """Re-check a create command on the leader: the task must exist here and its params
    must fit, whatever process accepted the request."""
    try:
        definition = registry.get(str(payload["task"]))
    except UnknownTask:
        raise Invalid(f"unknown task {payload['task']!r}", field="task") from None
    try:
        definition.params_model.model_validate(payload.get("params") or {})
        trigger = TRIGGER_ADAPTER.validate_python(payload["trigger"])
    except ValidationError as exc:
        raise Invalid(str(exc)) from None
    return JobSpec(
        id=str(payload["id"]),
        name=str(payload.get("name") or payload["id"]),
        task=definition.name,
        params=payload.get("params") or {},
        trigger=trigger,
        timeout_seconds=payload.get("timeout_seconds"),
        max_instances=int(payload.get("max_instances") or 1),
        misfire_grace_time=payload.get("misfire_grace_time"),
        coalesce=bool(payload.get("coalesce", True)),
    )


__all__ = ["EnhancedScheduler", "HistoryExecutor", "spec_from_payload"]
