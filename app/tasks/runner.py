"""The one entry point every stored job references: `app.tasks.runner:run`.

Stored jobs name a task and its params, not a function, so moving or renaming task
code never leaves a job in `apscheduler_jobs` that cannot be loaded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from app.core.config import Settings
from app.db.session import Database
from app.tasks import run_logs
from app.tasks.registry import TaskContext, TaskRegistry, TaskTimeout

ENTRY_POINT = "app.tasks.runner:run"

__all__ = ["ENTRY_POINT", "Runtime", "TaskTimeout", "run"]


@dataclass(frozen=True)
class Runtime:
    """What a run needs of the leader it runs on."""

    database: Database
    settings: Settings
    registry: TaskRegistry


async def run(
    *,
    task: str,
    params: dict[str, Any] | None = None,
    timeout_seconds: float | None = None,
    job_id: str | None = None,
    execution_id: int | None = None,
    runtime: Runtime | None = None,
    retry: dict[str, Any] | None = None,
    pause_after_failures: int | None = None,
    overlap: str | None = None,
    catchup_window_seconds: int | None = None,
) -> Any:
    """Run one task. The leader's run path passes `runtime` (its database, settings and
    registry) along with the job's stored kwargs; it has a default only because
    APScheduler checks a job's kwargs against this signature when the job is stored.
    What the task logs is kept with its execution (`run_logs`). `retry`,
    `pause_after_failures`, `overlap` and `catchup_window_seconds` are read by the run
    path; the run itself ignores them."""
    if runtime is None:
        raise RuntimeError("a task runs only through the scheduler leader's run path")
    with run_logs.capture(runtime.settings.RUN_LOG_MAX_BYTES) as run_log:
        try:
            return await _run_task(runtime, task, params, timeout_seconds, job_id)
        finally:
            if execution_id is not None:
                # Stored before the outcome is: a finished run has its logs.
                with run_logs.paused():
                    await run_logs.store(runtime.database, execution_id, run_log)


async def _run_task(
    runtime: Runtime,
    task: str,
    params: dict[str, Any] | None,
    timeout_seconds: float | None,
    job_id: str | None,
) -> Any:
    definition = runtime.registry.get(task)
    parsed = definition.params_model.model_validate(params or {})
    timeout = (
        timeout_seconds
        or definition.default_timeout_seconds
        or runtime.settings.TASK_DEFAULT_TIMEOUT_SECONDS
    )
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline, runtime.database.transaction() as db:
            context = TaskContext(
                db=db, database=runtime.database, settings=runtime.settings, job_id=job_id
            )
            return await definition.func(context, parsed)
    except TimeoutError:
        # Only our deadline is a timeout; a TimeoutError from inside the task is a failure.
        if deadline.expired():
            raise TaskTimeout(timeout) from None
        raise
