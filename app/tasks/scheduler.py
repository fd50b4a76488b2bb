"""`EnhancedScheduler`: the scheduler leader's parts wired together, with their start
and shutdown. It runs only in the leader (see `service.py`), with two threads:

- APScheduler's engine (`SchedulerEngine`) on a thread of its own, because
  `SQLAlchemyJobStore` is synchronous. On an event loop its I/O would stall everything on
  that loop, and on SQLite it deadlocks: a store write blocks the loop while an async
  write transaction on the same loop holds the database lock the store waits for.
- Runs, their history and every other async database write on the leader's event loop
  (`self.loop`), which never blocks on the store: it reaches the engine only through
  `asyncio.to_thread`.

The parts: `JobWriter` (every write to `apscheduler_jobs`), `LocalExecutor` (hands
fires to the loop), `Runs` (the run path), `CommandHandler` (API commands).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.job import Job
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from app.core.config import Settings
from app.crud import audit as audit_crud
from app.crud import task_execution as execution_crud
from app.db.session import Database, sqlite_pragmas
from app.models.audit import AuditAction, AuditSource
from app.tasks import commands, runner
from app.tasks.alerts import AlertDispatcher
from app.tasks.dispatch import CommandHandler
from app.tasks.executor import LocalExecutor
from app.tasks.history import HistoryWriter
from app.tasks.jobs import CATALOG, Catalog
from app.tasks.jobstore import CachedJobStore, SchedulerEngine
from app.tasks.manager import TaskManager
from app.tasks.pool import Pool
from app.tasks.registry import JobSpec
from app.tasks.runs import Runs
from app.tasks.store import Ensured, JobWriter

logger = logging.getLogger(__name__)

JOBSTORE_RETRY_SECONDS = 5
# A retry starts at most this late after its backoff has passed.
ATTEMPT_POLL_SECONDS = 1.0
ATTEMPTS_PER_POLL = 100
# Who the audit log names for changes the scheduler makes on its own.
SYSTEM_ACTOR = "system"
# How the job store's connections show in pg_stat_activity.
JOBSTORE_APPLICATION_NAME = "reddit-bot jobstore"


def new_runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class EnhancedScheduler:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        runner_id: str | None = None,
        catalog: Catalog = CATALOG,
    ) -> None:
        self.settings = settings
        self.database = database
        self.catalog = catalog
        self.runner_id = runner_id or new_runner_id()
        self.loop = asyncio.get_running_loop()
        self.jobstore_engine = self._jobstore_engine(settings.sync_database_url)
        self.history = HistoryWriter(database.url)
        self.alerts = AlertDispatcher(settings, database, self.runner_id)
        self.pool = self._pool(settings, database)
        self.runs = Runs(
            self.loop,
            self.history,
            self.alerts,
            self.runner_id,
            runner.Runtime(database, settings, catalog.registry),
            self.pool,
        )
        self.executor = LocalExecutor(self.runs.execute, self.loop, self.runs.record_coalesced)
        self.engine = SchedulerEngine(
            jobstores={
                "default": CachedJobStore(engine=self.jobstore_engine, tablename="apscheduler_jobs")
            },
            executors={"default": self.executor},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
            daemon=True,
            jobstore_retry_interval=JOBSTORE_RETRY_SECONDS,
        )
        self.engine.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)
        self.engine.add_listener(self._on_outcome, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self.writer = JobWriter(self.engine)
        self.runs.on_failure_streak = self._pause_after_failures
        self.commands = CommandHandler(
            self.writer,
            self.executor,
            catalog.registry,
            self.loop,
            self.runs.cancel,
            self.runs.run_past_slot,
        )
        self.started_at: datetime | None = None
        self._attempts: asyncio.Task[None] | None = None

    @staticmethod
    def _pool(settings: Settings, database: Database) -> Pool | None:
        if settings.EXECUTOR != "broker":
            return None
        # Imported only here: with EXECUTOR=local the engine is never loaded.
        from app.tasks.taskiq_broker import rabbitmq

        assert settings.BROKER_URL is not None
        return Pool(settings, database, rabbitmq(settings.BROKER_URL))

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
        return bool(self.engine.running)

    async def start(self, *, reconcile: bool = False) -> None:
        """Start paused, put the stored jobs right, then resume: nothing fires against a
        half-reconciled store, and nothing already stored is replaced. `reconcile`: also
        make the jobs the catalog reads from the database (bot jobs) match it."""
        await asyncio.to_thread(self.engine.start, paused=True)
        async with self.database.transaction() as db:
            closed = await TaskManager(db).close_interrupted(keep_runner=self.runner_id)
        if closed:
            logger.warning("closed %d run(s) left running by a stopped process", closed)
        if self.pool is not None:
            await self.pool.start()
            await self._follow_dispatched()
        await asyncio.to_thread(self.writer.upgrade_triggers)
        await asyncio.to_thread(self._ensure_builtin_jobs)
        if reconcile:
            await self._reconcile()
        self.runs.started_at = datetime.now(UTC)
        await asyncio.to_thread(self.engine.resume)
        self._attempts = self.loop.create_task(self._start_due_attempts())
        self.started_at = datetime.now(UTC)
        logger.info("scheduler started (%s)", self.runner_id)

    async def _follow_dispatched(self) -> None:
        """Runs a previous leader handed to workers go on there; each counts as an
        instance of its job until it ends, as if this leader had started it."""
        async with self.database.transaction() as db:
            rows = await execution_crud.unfinished_dispatched(db)
        for row in rows:
            self.executor.adopt(row.job_id, self.runs.follow_pool_run(row.id))
        if rows:
            logger.info("following %d run(s) already on workers", len(rows))

    async def _start_due_attempts(self) -> None:
        """Waiting rows are started from here, whichever leader wrote them: retries when
        their backoff has passed (each counts as an instance of its job), and slots
        buffered behind a run (the oldest of a job, once the job has no run going)."""
        while True:
            await asyncio.sleep(ATTEMPT_POLL_SECONDS)
            try:
                async with self.database.transaction() as db:
                    rows = await execution_crud.due_attempts(
                        db, datetime.now(UTC), ATTEMPTS_PER_POLL
                    )
                    buffered = await execution_crud.buffered_heads(db, ATTEMPTS_PER_POLL)
                for row in rows:
                    job = await asyncio.to_thread(self.engine.get_job, row.job_id)
                    self.executor.adopt(row.job_id, self.runs.run_due_attempt(job, row))
                for row in buffered:
                    job = await asyncio.to_thread(self.engine.get_job, row.job_id)
                    if job is None:
                        self.executor.adopt(row.job_id, self.runs.run_due_attempt(None, row))
                    else:
                        self.executor.start_if_free(
                            job, functools.partial(self.runs.run_due_attempt, job, row)
                        )
            except Exception:
                logger.exception("could not start the waiting runs")

    async def _stop_due_attempts(self) -> None:
        if self._attempts is not None:
            self._attempts.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._attempts
            self._attempts = None

    async def _pause_after_failures(self, job: Job, streak: int) -> None:
        """Pause a job whose runs failed `pause_after_failures` times in a row, with an
        audit entry by the system and an alert."""
        if not await asyncio.to_thread(self._pause_running_job, job.id):
            return
        reason = f"Paused by the scheduler after {streak} failed runs in a row"
        async with self.database.transaction() as db:
            await audit_crud.create(
                db,
                created_at=datetime.now(UTC),
                actor_id=None,
                actor_email=SYSTEM_ACTOR,
                action=AuditAction.PAUSE,
                source=AuditSource.SYSTEM,
                job_id=job.id,
                before={"paused": False},
                after={"paused": True},
                reason=reason,
            )
        logger.warning("job %s: %s", job.id, reason)
        self.alerts.job_paused(job.id, job.name, streak, reason)

    def _pause_running_job(self, job_id: str) -> bool:
        """False if the job is gone or already paused."""
        job = self.engine.get_job(job_id)
        if job is None or job.next_run_time is None:
            return False
        self.writer.pause(job)
        return True

    def _ensure_builtin_jobs(self) -> None:
        for spec in self.catalog.builtin_jobs:
            outcome = self.writer.ensure(spec)
            if outcome != "unchanged":
                logger.info("built-in job %s %s", spec.id, outcome)

    async def _reconcile(self) -> None:
        for prefix, wanted_jobs in self.catalog.reconciled.items():
            async with self.database.transaction() as db:
                wanted = await wanted_jobs(db)
            changed, removed = await asyncio.to_thread(self.writer.reconcile, prefix, wanted)
            if removed or changed:
                logger.info(
                    "%s* jobs reconciled: %d added or changed, %d removed", prefix, changed, removed
                )

    def ensure_job(self, spec: JobSpec) -> Ensured:
        """See `JobWriter.ensure`; call it on a thread."""
        return self.writer.ensure(spec)

    async def apply(
        self, action: str, job_id: str | None, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply one stored command. Raises an `AppError` whose status the API answers with."""
        command = commands.decode(action, job_id, payload, self.catalog.legacy_commands)
        return await self.commands.apply(command)

    async def shutdown(self, grace_seconds: float | None = None) -> None:
        """Stop firing, give running jobs `grace_seconds` to finish, then cancel the rest
        (recorded as interrupted)."""
        await self._stop_due_attempts()
        if not self.engine.running:
            if self.pool is not None:
                await self.pool.stop()
            await self.history.aclose()
            self.jobstore_engine.dispose()
            return
        grace = (
            self.settings.SCHEDULER_SHUTDOWN_GRACE_SECONDS
            if grace_seconds is None
            else grace_seconds
        )
        await asyncio.to_thread(self.engine.pause_between_rounds)
        running = self.executor.running()
        if running and grace > 0:
            await asyncio.wait(running, timeout=grace)
        leftover = self.executor.running()
        await asyncio.to_thread(self.engine.shutdown, wait=False)
        # The cancelled runs need a moment to write their rows.
        if leftover:
            await asyncio.wait(leftover, timeout=5)
        await self.runs.wait_background(timeout=5)
        if self.pool is not None:
            await self.pool.stop()
        await self.history.aclose()
        await self.alerts.aclose(timeout=5)
        self.jobstore_engine.dispose()
        logger.info("scheduler stopped (%s)", self.runner_id)

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        # Called on the engine's thread.
        job = self.engine.get_job(event.job_id)
        if job is not None:
            self.runs.on_overlap(job, event)

    def _on_outcome(self, event: JobExecutionEvent) -> None:
        if event.exception:
            logger.warning("job %s did not succeed: %s", event.job_id, event.exception)


__all__ = ["EnhancedScheduler", "new_runner_id"]
