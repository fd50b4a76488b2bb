"""`RunOutcome`: what became of one fire of a job, the one value the run path hands to
metrics and alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models.task_execution import ExecutionStatus, ExecutionTrigger


@dataclass(frozen=True)
class RunOutcome:
    job_id: str
    job_name: str
    task: str | None
    status: ExecutionStatus
    trigger: ExecutionTrigger
    execution_id: int | None
    scheduled_at: datetime | None
    # None: the fire was recorded without running (missed, skipped).
    started_at: datetime | None
    finished_at: datetime
    error_message: str | None
