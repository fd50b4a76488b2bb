"""The design's `JobInfo`, `TaskExecutionResponse` and `JobStatsResponse`, and the
shapes of the task admin API around them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models.task_execution import ExecutionStatus, ExecutionTrigger
from app.schemas.audit import Reason
from app.tasks.triggers import TriggerSpec

JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,190}$"


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


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=JOB_ID_PATTERN)
    name: str | None = Field(default=None, max_length=255)
    task: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)
    trigger: TriggerSpec
    timeout_seconds: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    max_instances: int = Field(default=1, ge=1, le=100)
    misfire_grace_time: int | None = Field(default=None, ge=1)
    coalesce: bool = True
    paused: bool = False
    reason: Reason | None = None


class JobUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=255)
    task: str | None = Field(default=None, min_length=1, max_length=100)
    params: dict[str, Any] | None = None
    trigger: TriggerSpec | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    max_instances: int | None = Field(default=None, ge=1, le=100)
    misfire_grace_time: int | None = Field(default=None, ge=1)
    coalesce: bool | None = None
    reason: Reason | None = None


class TriggerPreview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: TriggerSpec
    count: int = Field(default=5, ge=1, le=100)
    # The zone the trigger runs in when the trigger itself names none.
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class TriggerPreviewResponse(BaseModel):
    trigger: str
    description: str
    timezone: str
    next_fire_times: list[datetime]


class JobActionRequest(BaseModel):
    """The optional body of pause, resume, run and delete."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


class JobActionResponse(BaseModel):
    status: str
    job_id: str
    execution_id: int | None = None
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


class TaskExecutionDetail(TaskExecutionResponse):
    error_traceback: str | None = None


class JobStatsResponse(BaseModel):
    total_runs: int
    successful_runs: int
    failed_runs: int
    running_runs: int = 0
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


class TaskInfo(BaseModel):
    name: str
    description: str
    params_schema: dict[str, Any]
    default_timeout_seconds: float | None
