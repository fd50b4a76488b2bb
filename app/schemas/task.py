"""The design's `JobInfo`, `TaskExecutionResponse` and `JobStatsResponse`, and the
shapes of the task admin API around them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.models.task_execution import ExecutionStatus, ExecutionTrigger
from app.schemas.audit import Reason
from app.schemas.types import (
    FiniteFloat,
    Flag,
    JsonObject,
    ShortString,
    String,
    Timestamp,
    TimeZone,
)
from app.schemas.worker import WorkerInfo
from app.tasks.overlap import DEFAULT_OVERLAP, OverlapPolicy
from app.tasks.retry_policy import RetryPolicy
from app.tasks.trigger_specs import TriggerSpec

JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,190}$"
# A late run still runs if it is at most this late; past it, it is recorded as missed.
# No job waits for a run more than a week late (`null`: however late, it runs).
MAX_MISFIRE_GRACE_SECONDS = 7 * 24 * 3600
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600

JobId = Annotated[String, Field(pattern=JOB_ID_PATTERN)]
TaskName = Annotated[String, Field(min_length=1, max_length=100)]
TimeoutSeconds = Annotated[FiniteFloat, Field(gt=0, le=MAX_TIMEOUT_SECONDS)]
MaxInstances = Annotated[int, Field(strict=True, ge=1, le=100)]
MisfireGraceTime = Annotated[int, Field(strict=True, ge=1, le=MAX_MISFIRE_GRACE_SECONDS)]
PauseAfterFailures = Annotated[int, Field(strict=True, ge=1, le=1000)]
# Slots missed while no scheduler ran are caught up if at most this old (30 days).
MAX_CATCHUP_WINDOW_SECONDS = 30 * 24 * 3600
CatchupWindow = Annotated[int, Field(strict=True, ge=1, le=MAX_CATCHUP_WINDOW_SECONDS)]


# The design's field `kwargs` clashes with the plugin-generated __init__(**kwargs).
class JobInfo(BaseModel):  # type: ignore[no-redef]
    id: str
    name: str
    trigger: str
    next_run_time: datetime | None = None
    # APScheduler's meaning: added, but not yet written to its job store. A stored job is
    # never pending; a paused job is one with no next run time.
    pending: bool = False
    paused: bool
    task: str | None = None
    params: dict[str, Any] | None = None
    trigger_spec: dict[str, Any] | None = None
    timeout_seconds: float | None = None
    # None: a slot runs once.
    retry: RetryPolicy | None = None
    # None: failures never pause the job.
    pause_after_failures: int | None = None
    # What becomes of a slot that comes while the previous run still runs.
    overlap: OverlapPolicy = DEFAULT_OVERLAP
    # None: slots missed while no scheduler ran all run (unless past misfire_grace_time).
    catchup_window_seconds: int | None = None
    builtin: bool = False
    bot_config_id: int | None = None
    # The trigger in words, e.g. "every day at 03:00 UTC".
    trigger_description: str | None = None
    # From the job's latest runs (RECENT_RUNS of them), read for the jobs returned only.
    last_status: ExecutionStatus | None = None
    last_run_at: datetime | None = None
    success_rate: float | None = None

    func: str | None = None
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    executor: str | None = None
    max_instances: int | None = None
    misfire_grace_time: int | None = None
    coalesce: bool | None = None


class JobPage(BaseModel):
    items: list[JobInfo]
    total: int
    limit: int
    offset: int


class JobFields(BaseModel):
    """A job as `POST /tasks` takes it, and the import (beside its next run time)."""

    model_config = ConfigDict(extra="forbid")

    id: JobId
    name: ShortString | None = None
    task: TaskName
    params: JsonObject = Field(default_factory=dict)
    trigger: TriggerSpec
    timeout_seconds: TimeoutSeconds | None = None
    retry: RetryPolicy | None = None
    pause_after_failures: PauseAfterFailures | None = None
    # Without one, a job allowed several instances runs them side by side (`allow_all`),
    # as `max_instances` did before jobs had an overlap policy.
    overlap: OverlapPolicy = DEFAULT_OVERLAP
    catchup_window_seconds: CatchupWindow | None = None
    max_instances: MaxInstances = 1
    misfire_grace_time: MisfireGraceTime | None = None
    coalesce: Flag = True
    paused: Flag = False

    @model_validator(mode="before")
    @classmethod
    def _overlap_from_max_instances(cls, data: Any) -> Any:
        if isinstance(data, dict) and "overlap" not in data:
            given = data.get("max_instances")
            if type(given) is int and given > 1:
                return {**data, "overlap": "allow_all"}
        return data


class JobCreate(JobFields):
    reason: Reason | None = None


class JobUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A job keeps a name; on create an empty one means the id.
    name: Annotated[ShortString, Field(min_length=1)] | None = None
    task: TaskName | None = None
    params: JsonObject | None = None
    trigger: TriggerSpec | None = None
    timeout_seconds: TimeoutSeconds | None = None
    # null: no retries any more.
    retry: RetryPolicy | None = None
    pause_after_failures: PauseAfterFailures | None = None
    overlap: OverlapPolicy | None = None
    # null: no catch-up window any more.
    catchup_window_seconds: CatchupWindow | None = None
    max_instances: MaxInstances | None = None
    misfire_grace_time: MisfireGraceTime | None = None
    coalesce: Flag | None = None
    reason: Reason | None = None


class TriggerPreview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: TriggerSpec
    count: Annotated[int, Field(strict=True, ge=1, le=100)] = 5
    # The zone the trigger runs in when the trigger itself names none.
    timezone: TimeZone | None = None


class TriggerPreviewResponse(BaseModel):
    trigger: str
    description: str
    timezone: str
    next_fire_times: list[datetime]


class JobActionRequest(BaseModel):
    """The optional body of pause, resume, run and delete."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


class ResumeRequest(JobActionRequest):
    """The optional body of resume. `catch_up`: run the slots missed while the job was
    paused: those younger than its `catchup_window_seconds` (only the latest with
    `coalesce`), or, for a job without a window, the latest one once."""

    catch_up: Flag = False


class BackfillRequest(BaseModel):
    """Run every slot of the job's trigger in `[start, end)`, all in the past."""

    model_config = ConfigDict(extra="forbid")

    start: Timestamp
    end: Timestamp
    reason: Reason | None = None


class BackfillResponse(BaseModel):
    status: str
    job_id: str
    # Slots in the range; those that already have a row are not run again.
    runs: int


class JobActionResponse(BaseModel):
    status: str
    job_id: str
    execution_id: int | None = None
    # Resume with `catch_up`: how many missed slots it runs.
    catch_up: int | None = None
    message: str | None = None


class TaskExecutionResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: str
    job_name: str
    task: str | None = None
    status: ExecutionStatus
    trigger: ExecutionTrigger
    scheduled_at: datetime | None = None
    started_at: datetime
    completed_at: datetime | None = None
    duration_seconds: float | None = None
    result: Any = None
    error_message: str | None = None
    runner: str | None = None
    created_at: datetime
    # 1 for a slot's first run, then 2, 3... for its retries.
    attempt: int = 1
    # A waiting retry starts at this time; a waiting slot without one starts when the
    # job's running run has ended (its overlap policy).
    not_before: datetime | None = None


class RunLogLine(BaseModel):
    time: datetime
    level: str
    message: str


class TaskExecutionDetail(TaskExecutionResponse):
    error_traceback: str | None = None
    # What the run logged, oldest first; a cut log ends with a line that says so.
    logs: list[RunLogLine] = Field(default_factory=list)
    logs_truncated: bool = False


class JobStatsResponse(BaseModel):
    total_runs: int
    successful_runs: int
    failed_runs: int
    running_runs: int = 0
    # Waiting for a worker (broker executor); like running ones, not in the success rate.
    queued_runs: int = 0
    # Runs that start later (a retry waiting for its backoff, a slot buffered behind a
    # run); counted like running ones.
    waiting_runs: int = 0
    # Every attempt of every run, retries included (the other counts are per run).
    attempts: int = 0
    success_rate: float
    avg_duration_seconds: float
    p95_duration_seconds: float | None = None
    last_run_at: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None


class LeaderInfo(BaseModel):
    holder: str | None
    since: datetime | None
    heartbeat_at: datetime | None
    alive: bool
    this_process: bool = False


class RunningExecution(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: str
    job_name: str
    trigger: ExecutionTrigger
    started_at: datetime


class SystemStats(BaseModel):
    total_jobs: int
    active_jobs: int
    paused_jobs: int
    task_types: dict[str, int]
    scheduler_running: bool
    leader: LeaderInfo
    running_executions: int
    # The oldest runs in progress (at most RUNNING_SHOWN of them).
    running_now: list[RunningExecution] = Field(default_factory=list)
    last_24h: dict[str, int]
    # Worker processes of the broker executor (none with EXECUTOR=local).
    workers: list[WorkerInfo] = Field(default_factory=list)


class TaskInfo(BaseModel):
    name: str
    description: str
    params_schema: dict[str, Any]
    default_timeout_seconds: float | None


class TimelineOutcome(enum.StrEnum):
    """What became of a slot: a run's status, or why there is none."""

    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    MISSED = "missed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    RUNNING = "running"
    WAITING = "waiting"
    # No run: the job was paused at that time (or is paused now, for a later slot).
    PAUSED = "paused"
    # Not due yet, or due and about to run.
    UPCOMING = "upcoming"


class TimelineSlot(BaseModel):
    # The slot's fire time; for a run outside the trigger's slots, its own start.
    time: datetime
    outcome: TimelineOutcome
    # `scheduled` for the trigger's slots; else the trigger of the run (`manual`).
    trigger: str
    execution_ids: list[int] = Field(default_factory=list)
    attempts: int = 0


class Timeline(BaseModel):
    job_id: str
    start: datetime
    end: datetime
    slots: list[TimelineSlot]
