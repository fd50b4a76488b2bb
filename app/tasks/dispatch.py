"""`CommandHandler`: applies one typed command on the leader and answers what the API
returns. Raises an `AppError` whose status the API answers with."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import JobExecutionEvent
from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.job import Job

from app.core.errors import Conflict, NotFound
from app.models.task_execution import ExecutionTrigger
from app.tasks import overlap, specs, trigger_specs
from app.tasks.commands import (
    JOB_STATE,
    AddJob,
    BackfillJob,
    CancelRun,
    Command,
    ImportJobs,
    ModifyJob,
    PauseJob,
    RemoveJob,
    ResumeJob,
    RunJob,
    SyncJob,
)
from app.tasks.executor import LocalExecutor, RunNow
from app.tasks.registry import TaskRegistry
from app.tasks.store import JobWriter

# How long a run-now waits for its row, which is written before the task starts.
RUN_NOW_START_SECONDS = 30

# (execution id, message) -> whether the run was still queued or running.
CancelPath = Callable[[int, str], Awaitable[bool]]
# (job, past slot, trigger of its row) -> the events of that slot's run.
BackfillPath = Callable[
    [Job, datetime, ExecutionTrigger], Coroutine[Any, Any, list[JobExecutionEvent]]
]
# A backfill slot waits this long between looks at whether its job still runs.
BACKFILL_WAIT_SECONDS = 0.5

logger = logging.getLogger(__name__)


class CommandHandler:
    def __init__(
        self,
        writer: JobWriter,
        executor: LocalExecutor,
        registry: TaskRegistry,
        loop: asyncio.AbstractEventLoop,
        cancel_run: CancelPath,
        backfill_slot: BackfillPath,
    ) -> None:
        self.cancel_run = cancel_run
        self.backfill_slot = backfill_slot
        self._backfills: set[asyncio.Task[None]] = set()
        self.writer = writer
        self.executor = executor
        self.registry = registry
        self.loop = loop

    async def apply(self, command: Command) -> dict[str, Any]:
        if isinstance(command, RunJob):
            return await self._run_now(command)
        if isinstance(command, CancelRun):
            return await self._cancel(command)
        if isinstance(command, BackfillJob):
            return await self._backfill(command)
        if isinstance(command, ResumeJob) and command.catch_up:
            result = await asyncio.to_thread(self._apply_to_store, command)
            self._start_past_slots(command.job_id, command.catch_up, ExecutionTrigger.SCHEDULED)
            return {**result, "catch_up": len(command.catch_up)}
        return await asyncio.to_thread(self._apply_to_store, command)

    def _apply_to_store(self, command: Command) -> dict[str, Any]:
        match command:
            case AddJob():
                # The leader may run other code than the process that took the request.
                specs.check_task(self.registry, command.task, command.params)
                job = self.writer.add(command.spec(), paused=command.paused)
                return {"status": "created", JOB_STATE: self.writer.stored_state(job)}
            case ModifyJob():
                job = self._modify(command)
                return {"status": "modified", JOB_STATE: self.writer.stored_state(job)}
            case PauseJob():
                self.writer.pause(self.writer.existing(command.job_id))
                return {"status": "paused"}
            case ResumeJob():
                job = self.writer.existing(command.job_id)
                return {"status": "resumed" if self.writer.resume(job) else "finished"}
            case RemoveJob():
                job = self.writer.existing(command.job_id)
                self.writer.remove(job.id)
                return {"status": "deleted"}
            case ImportJobs():
                for item in command.jobs:
                    specs.check_task(self.registry, item.task, item.params)
                counts = self.writer.import_jobs(command.jobs, replace=command.mode == "upsert")
                return {"status": "imported", **counts}
            case SyncJob():
                if command.spec is None:
                    return {"status": "removed" if self.writer.remove(command.job_id) else "absent"}
                return {"status": self.writer.ensure(command.spec)}
        raise AssertionError(f"unhandled command {command!r}")

    def _modify(self, command: ModifyJob) -> Job:
        """The job as stored after the change."""
        job = self.writer.existing(command.job_id)
        given = command.model_fields_set
        kwargs = dict(job.kwargs)
        for key in (
            "task",
            "params",
            "timeout_seconds",
            "pause_after_failures",
            "overlap",
            "catchup_window_seconds",
        ):
            if key in given:
                kwargs[key] = getattr(command, key)
        if kwargs.get("overlap") is None:
            # Set once, so that a later change of max_instances keeps the policy.
            kwargs["overlap"] = overlap.stored_overlap(job.kwargs, job.max_instances)
        for key in ("timeout_seconds", "pause_after_failures", "catchup_window_seconds"):
            if kwargs.get(key) is None:
                kwargs.pop(key, None)
        if "retry" in given:
            retry = command.retry
            kwargs["retry"] = None if retry is None else retry.model_dump(mode="json")
        if kwargs.get("retry") is None:
            kwargs.pop("retry", None)
        changes: dict[str, Any] = {"kwargs": kwargs}
        for key in ("name", "max_instances", "misfire_grace_time", "coalesce"):
            if key in given:
                changes[key] = getattr(command, key)
        changed = self.writer.modify(job, changes)
        if command.trigger is not None:
            changed = self.writer.reschedule(job, trigger_specs.build_trigger(command.trigger))
        return changed

    async def _run_now(self, command: RunJob) -> dict[str, Any]:
        job = await asyncio.to_thread(self.writer.existing, command.job_id)
        started: RunNow = self.loop.create_future()
        try:
            await asyncio.to_thread(self.executor.submit_now, job, datetime.now(UTC), started)
        except MaxInstancesReachedError:
            raise Conflict(
                f"Job {job.id!r} is already running "
                f"({overlap.instance_limit(job.kwargs, job.max_instances)} instance(s) allowed)"
            ) from None
        execution_id = await asyncio.wait_for(started, timeout=RUN_NOW_START_SECONDS)
        return {"status": "started", "execution_id": execution_id}

    async def _cancel(self, command: CancelRun) -> dict[str, Any]:
        if not await self.cancel_run(command.execution_id, command.message):
            raise Conflict(f"Execution {command.execution_id} has already finished")
        return {"status": "cancelled", "execution_id": command.execution_id}

    async def _backfill(self, command: BackfillJob) -> dict[str, Any]:
        await asyncio.to_thread(self.writer.existing, command.job_id)
        self._start_past_slots(command.job_id, command.slots, ExecutionTrigger.BACKFILL)
        return {"status": "accepted", "runs": len(command.slots)}

    def _start_past_slots(
        self, job_id: str, slots: list[datetime], trigger: ExecutionTrigger
    ) -> None:
        task = self.loop.create_task(self._run_past_slots(job_id, sorted(slots), trigger))
        self._backfills.add(task)
        task.add_done_callback(self._backfills.discard)

    async def _run_past_slots(
        self, job_id: str, slots: list[datetime], trigger: ExecutionTrigger
    ) -> None:
        """Each slot in order (a backfill, or a resume's catch-up), as an instance of its
        job: it waits while the job runs, and a scheduled fire meanwhile meets the job's
        overlap policy as usual."""
        for slot in slots:
            while True:
                try:
                    job = await asyncio.to_thread(self.writer.existing, job_id)
                except NotFound:
                    logger.info("job %s was removed; its backfill stops", job_id)
                    return
                run = self.executor.start_if_free(
                    job, functools.partial(self.backfill_slot, job, slot, trigger)
                )
                if run is not None:
                    break
                await asyncio.sleep(BACKFILL_WAIT_SECONDS)
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(run, loop=self.loop)
