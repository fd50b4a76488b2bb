"""The tasks a job can run, by name. Jobs store only a task name and JSON params, so
the API can create jobs from this list and never from an arbitrary callable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.db.session import Database
from app.tasks.overlap import DEFAULT_OVERLAP, OverlapPolicy
from app.tasks.retry_policy import RetryPolicy
from app.tasks.trigger_specs import TriggerSpec


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class TaskContext:
    """What a running task gets: a session committed when the task returns (rolled back
    if it raises), the database for tasks that commit in steps, and the settings."""

    db: AsyncSession
    database: Database
    settings: Settings
    job_id: str | None


P = TypeVar("P", bound=BaseModel)
# Which worker queue a task's runs go to with the broker executor: `io` for tasks that
# mostly wait (scrapes, requests), `cpu` for ones that keep a core busy, so a few
# heavy runs never hold the slots of many light ones.
TaskKind = Literal["io", "cpu"]
TASK_KINDS: tuple[TaskKind, ...] = ("io", "cpu")
TaskFunc = Callable[[TaskContext, Any], Awaitable[Any]]
# What the params model cannot check alone, checked against the database and the
# settings before a job with these params is stored (a bot job's config must exist, a
# URL's host must be allowed). Raises `Invalid`.
ParamsCheck = Callable[[AsyncSession, Settings, Any], Awaitable[None]]


class TaskTimeout(Exception):
    """A run that did not finish within its time: recorded `timeout`, not `failed`. The
    runner raises it at the job's timeout; a task raises it for a limit of its own."""

    def __init__(self, seconds: float, what: str = "task") -> None:
        super().__init__(f"{what} did not finish within {seconds:g} s")
        self.seconds = seconds


@dataclass(frozen=True)
class TaskDefinition:
    name: str
    description: str
    func: TaskFunc
    params_model: type[BaseModel]
    default_timeout_seconds: float | None
    check: ParamsCheck | None = None
    kind: TaskKind = "io"


class UnknownTask(LookupError):
    pass


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, TaskDefinition] = {}

    def task(
        self,
        name: str,
        description: str,
        params: type[P] = NoParams,  # type: ignore[assignment]
        timeout_seconds: float | None = None,
        check: Callable[[AsyncSession, Settings, P], Awaitable[None]] | None = None,
        kind: TaskKind = "io",
    ) -> Callable[
        [Callable[[TaskContext, P], Awaitable[Any]]], Callable[[TaskContext, P], Awaitable[Any]]
    ]:
        def register(
            func: Callable[[TaskContext, P], Awaitable[Any]],
        ) -> Callable[[TaskContext, P], Awaitable[Any]]:
            if name in self._tasks and self._tasks[name].func is not func:
                raise ValueError(f"task {name!r} is already registered")
            self._tasks[name] = TaskDefinition(
                name, description, func, params, timeout_seconds, check, kind
            )
            return func

        return register

    def get(self, name: str) -> TaskDefinition:
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownTask(name) from None

    def all(self) -> list[TaskDefinition]:
        return sorted(self._tasks.values(), key=lambda t: t.name)


# The one registry. The built-in tasks are in it once `app.tasks.jobs` (the catalog) is
# imported; whoever looks tasks up imports the catalog, not this module.
registry = TaskRegistry()


class JobSpec(BaseModel):
    """A job as code or a request wants it: which task, with what params, on what
    trigger. The scheduler turns it into an APScheduler job on the runner entry point.
    A model, so a spec travels in a command as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    task: str
    trigger: TriggerSpec
    params: dict[str, Any] | None = None
    timeout_seconds: float | None = None
    retry: RetryPolicy | None = None
    # Consecutive failed runs that pause the job (None: never).
    pause_after_failures: int | None = None
    overlap: OverlapPolicy = DEFAULT_OVERLAP
    # Slots missed while no scheduler ran that are at most this old run at its start;
    # older ones are `missed` (None: every such slot runs, unless past its grace time).
    catchup_window_seconds: int | None = None
    max_instances: int = 1
    # None: a late run still runs (once, coalesced) instead of being dropped.
    misfire_grace_time: int | None = None
    coalesce: bool = True
