"""The one entry point every stored job references: `app.tasks.runner:run`.

Stored jobs name a task and its params, not a function, so moving or renaming task
code never leaves a job in `apscheduler_jobs` that cannot be loaded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from app.core.config import Settings
from app.db.session import Database
from app.tasks.registry import TaskContext, registry

ENTRY_POINT = "app.tasks.runner:run"


class TaskTimeout(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"task did not finish within {seconds:g} s")
        self.seconds = seconds


@dataclass(frozen=True)
class Runtime:
    database: Database
    settings: Settings


# The scheduler binds its database to the event loop its jobs run on; async engines
# belong to one loop, so the lookup goes by loop.
_runtimes: WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime] = WeakKeyDictionary()


def bind_runtime(runtime: Runtime) -> None:
    _runtimes[asyncio.get_running_loop()] = runtime


def unbind_runtime() -> None:
    _runtimes.pop(asyncio.get_running_loop(), None)


def current_runtime() -> Runtime:
    try:
        return _runtimes[asyncio.get_running_loop()]
    except KeyError:
        raise RuntimeError("no scheduler runtime is bound to this event loop") from None


async def run(
    *,
    task: str,
    params: dict[str, Any] | None = None,
    timeout_seconds: float | None = None,
    job_id: str | None = None,
) -> Any:
    runtime = current_runtime()
    definition = registry.get(task)
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
