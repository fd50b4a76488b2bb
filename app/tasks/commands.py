"""The commands API processes send the scheduler leader, as typed models: the client
encodes one into a `scheduler_commands` row (`action` plus a JSON payload) and the
leader decodes it back. A failure comes back as the row's status code and detail and is
raised again as the same typed error in the process that asked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from app.core.errors import AppError, Conflict, Invalid, NotFound, ServiceUnavailable
from app.tasks.overlap import DEFAULT_OVERLAP, OverlapPolicy
from app.tasks.registry import JobSpec
from app.tasks.retry_policy import RetryPolicy
from app.tasks.trigger_specs import TriggerSpec

# The key of the leader's answer to `AddJob` and `ModifyJob` that holds the job as the
# change stored it: its `job_state` (the pickled state of `apscheduler_jobs`), base64. A
# one-off job due at once may have run and left the table before the request reads it.
JOB_STATE = "job_state"


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str


class AddJob(_Command):
    action: Literal["add"] = "add"
    id: str
    name: str | None = None
    task: str
    params: dict[str, Any] = Field(default_factory=dict)
    trigger: TriggerSpec
    timeout_seconds: float | None = None
    retry: RetryPolicy | None = None
    pause_after_failures: int | None = None
    overlap: OverlapPolicy = DEFAULT_OVERLAP
    catchup_window_seconds: int | None = None
    max_instances: int = 1
    misfire_grace_time: int | None = None
    coalesce: bool = True
    paused: bool = False

    def spec(self) -> JobSpec:
        return JobSpec(
            id=self.id,
            name=self.name or self.id,
            task=self.task,
            params=self.params,
            trigger=self.trigger,
            timeout_seconds=self.timeout_seconds,
            retry=self.retry,
            pause_after_failures=self.pause_after_failures,
            overlap=self.overlap,
            catchup_window_seconds=self.catchup_window_seconds,
            max_instances=self.max_instances,
            misfire_grace_time=self.misfire_grace_time,
            coalesce=self.coalesce,
        )


class ModifyJob(_Command):
    """Only the fields set change (`model_fields_set`); `timeout_seconds` set to None
    goes back to the task's default."""

    action: Literal["modify"] = "modify"
    name: str | None = None
    task: str | None = None
    params: dict[str, Any] | None = None
    trigger: TriggerSpec | None = None
    timeout_seconds: float | None = None
    retry: RetryPolicy | None = None
    pause_after_failures: int | None = None
    overlap: OverlapPolicy | None = None
    catchup_window_seconds: int | None = None
    max_instances: int | None = None
    misfire_grace_time: int | None = None
    coalesce: bool | None = None


class PauseJob(_Command):
    action: Literal["pause"] = "pause"


class ResumeJob(_Command):
    """Resume the job; then run `catch_up` (slots missed while it was paused, as the API
    chose them), one at a time in order."""

    action: Literal["resume"] = "resume"
    catch_up: list[datetime] = Field(default_factory=list)


class RemoveJob(_Command):
    action: Literal["remove"] = "remove"


class RunJob(_Command):
    action: Literal["run"] = "run"


class CancelRun(_Command):
    """End a queued or running run of the job as `cancelled`, `message` saying who."""

    action: Literal["cancel_run"] = "cancel_run"
    execution_id: int
    message: str


class BackfillJob(_Command):
    """Run these past slots of the job, one at a time in order."""

    action: Literal["backfill"] = "backfill"
    slots: list[datetime]


class SyncJob(_Command):
    """Make the job exactly `spec`, or absent when `spec` is None. An unchanged job keeps
    its next run time."""

    action: Literal["sync"] = "sync"
    spec: JobSpec | None


class ImportedJob(BaseModel):
    """One job of an import, as the API checked it. `next_run_time` None on a job that
    is not paused: the leader computes it from now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str | None = None
    task: str
    params: dict[str, Any] = Field(default_factory=dict)
    trigger: TriggerSpec
    timeout_seconds: float | None = None
    retry: RetryPolicy | None = None
    pause_after_failures: int | None = None
    overlap: OverlapPolicy = DEFAULT_OVERLAP
    catchup_window_seconds: int | None = None
    max_instances: int = 1
    misfire_grace_time: int | None = None
    coalesce: bool = True
    paused: bool = False
    next_run_time: datetime | None = None

    def spec(self) -> JobSpec:
        return JobSpec(
            id=self.id,
            name=self.name or self.id,
            task=self.task,
            params=self.params,
            trigger=self.trigger,
            timeout_seconds=self.timeout_seconds,
            retry=self.retry,
            pause_after_failures=self.pause_after_failures,
            overlap=self.overlap,
            catchup_window_seconds=self.catchup_window_seconds,
            max_instances=self.max_instances,
            misfire_grace_time=self.misfire_grace_time,
            coalesce=self.coalesce,
        )


class ImportJobs(_Command):
    """Many jobs written at once, in one transaction of the job store. `create`: none of
    them may exist. `upsert`: an existing job is replaced. The API decides each next run
    time: the import's, else (upsert) the stored job's when neither it nor the import
    pauses it and its trigger fires on the same pattern, else the trigger's next."""

    action: Literal["import"] = "import"
    job_id: str | None = None  # type: ignore[assignment]
    mode: Literal["create", "upsert"]
    jobs: list[ImportedJob]


Command = Annotated[
    AddJob
    | ModifyJob
    | PauseJob
    | ResumeJob
    | RemoveJob
    | RunJob
    | CancelRun
    | BackfillJob
    | SyncJob
    | ImportJobs,
    Field(discriminator="action"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)
JobAction = Literal["pause", "resume", "remove", "run"]
JOB_ACTIONS: dict[str, type[PauseJob | ResumeJob | RemoveJob | RunJob]] = {
    "pause": PauseJob,
    "resume": ResumeJob,
    "remove": RemoveJob,
    "run": RunJob,
}
# Commands written under an earlier name: translated into today's for one release, so
# a rolling deploy applies the commands still in flight.
LegacyDecoder = Callable[[str | None, dict[str, Any]], Command]


def encode(command: Command) -> tuple[str, str | None, dict[str, Any]]:
    """The row's `action`, `job_id` and `payload`."""
    dumped = command.model_dump(mode="json", exclude={"action", "job_id"})
    if isinstance(command, ModifyJob):
        # Only what the change sets: a field left out keeps its stored value.
        dumped = {key: value for key, value in dumped.items() if key in command.model_fields_set}
    return command.action, command.job_id, dumped


def decode(
    action: str,
    job_id: str | None,
    payload: dict[str, Any],
    legacy: Mapping[str, LegacyDecoder] | None = None,
) -> Command:
    """The command a row holds. Raises `Invalid` for one no version of this code wrote."""
    if legacy is not None and action in legacy:
        return legacy[action](job_id, payload)
    try:
        return COMMAND_ADAPTER.validate_python({**payload, "action": action, "job_id": job_id})
    except ValidationError as exc:
        if any(err["type"] == "union_tag_invalid" for err in exc.errors()):
            raise Invalid(f"unknown scheduler command {action!r}") from None
        raise Invalid(str(exc)) from None


# Errors cross processes as their status code.
_ERRORS: dict[int, type[AppError]] = {
    cls.status_code: cls for cls in (NotFound, Conflict, Invalid, ServiceUnavailable)
}


def failure(exc: AppError) -> dict[str, Any]:
    """The columns that record `exc` on the command's row."""
    return {
        "error_status": exc.status_code,
        "error": exc.detail if isinstance(exc.detail, str) else None,
        "result": None if isinstance(exc.detail, str) else {"detail": exc.detail},
    }


def error_of(status: int | None, error: str | None, result: dict[str, Any] | None) -> AppError:
    """The typed error a failed command's row records (see `failure`)."""
    detail: Any = error
    if detail is None and result is not None:
        detail = result.get("detail")
    code = status or 500
    cls = _ERRORS.get(code)
    if cls is not None:
        return cls(detail)
    exc = AppError(detail or "The scheduler could not apply the change")
    exc.status_code = code
    return exc
