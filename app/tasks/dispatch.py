"""`CommandHandler`: applies one typed command on the leader and answers what the API
returns. Raises an `AppError` whose status the API answers with."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.base import MaxInstancesReachedError

from app.core.errors import Conflict
from app.tasks import specs, trigger_specs
from app.tasks.commands import (
    AddJob,
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


class CommandHandler:
    def __init__(
        self,
        writer: JobWriter,
        executor: LocalExecutor,
        registry: TaskRegistry,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.writer = writer
        self.executor = executor
        self.registry = registry
        self.loop = loop

    async def apply(self, command: Command) -> dict[str, Any]:
        if isinstance(command, RunJob):
            return await self._run_now(command)
        return await asyncio.to_thread(self._apply_to_store, command)

    def _apply_to_store(self, command: Command) -> dict[str, Any]:
        match command:
            case AddJob():
                # The leader may run other code than the process that took the request.
                specs.check_task(self.registry, command.task, command.params)
                self.writer.add(command.spec(), paused=command.paused)
                return {"status": "created"}
            case ModifyJob():
                self._modify(command)
                return {"status": "modified"}
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

    def _modify(self, command: ModifyJob) -> None:
        job = self.writer.existing(command.job_id)
        given = command.model_fields_set
        kwargs = dict(job.kwargs)
        for key in ("task", "params", "timeout_seconds", "pause_after_failures"):
            if key in given:
                kwargs[key] = getattr(command, key)
        for key in ("timeout_seconds", "pause_after_failures"):
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
        self.writer.modify(job, changes)
        if command.trigger is not None:
            self.writer.reschedule(job, trigger_specs.build_trigger(command.trigger))

    async def _run_now(self, command: RunJob) -> dict[str, Any]:
        job = await asyncio.to_thread(self.writer.existing, command.job_id)
        started: RunNow = self.loop.create_future()
        try:
            await asyncio.to_thread(self.executor.submit_now, job, datetime.now(UTC), started)
        except MaxInstancesReachedError:
            raise Conflict(
                f"Job {job.id!r} is already running ({job.max_instances} instance(s) allowed)"
            ) from None
        execution_id = await asyncio.wait_for(started, timeout=RUN_NOW_START_SECONDS)
        return {"status": "started", "execution_id": execution_id}
