from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base_class import Base
from app.db.types import JSONType, UTCDateTime, str_enum, utcnow


class ExecutionStatus(enum.StrEnum):
    # Broker executor only: the row is written and its message published, no worker
    # has claimed it yet.
    QUEUED = "queued"
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    RUNNING = "running"
    MISSED = "missed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    # A run that starts later: a retry waiting for its backoff to pass (`not_before`), or
    # a slot buffered by the job's overlap policy until its running run ends (no
    # `not_before`).
    WAITING = "waiting"
    # Ended or dropped on an operator's request (`error_message` names who): finished,
    # not failed.
    CANCELLED = "cancelled"


class ExecutionTrigger(enum.StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    # A past slot run on request (`POST /tasks/{job_id}/backfill`), at its own
    # `scheduled_at`.
    BACKFILL = "backfill"


class TaskExecution(Base):
    """One row per run attempt of a job, written before the run starts.

    The unique `(job_id, scheduled_at, attempt)` index is what makes a fire time run at
    most once per attempt: a second scheduler that reaches the same slot fails to insert
    and skips. Manual runs have no fire time (NULL never conflicts).
    """

    __tablename__ = "task_executions"
    __table_args__ = (
        Index(
            "uq_task_executions_job_slot_attempt", "job_id", "scheduled_at", "attempt", unique=True
        ),
        # A job's page of runs walks it by start; its stats read their columns from it
        # without visiting the table (ten thousand runs of a job are as many pages).
        Index(
            "ix_task_executions_job_started_outcome",
            "job_id",
            "started_at",
            "status",
            "attempt",
            "duration_seconds",
        ),
        Index("ix_task_executions_created_at", "created_at"),
        Index("ix_task_executions_status", "status"),
        Index("ix_task_executions_runner_status", "runner", "status"),
        Index("ix_task_executions_status_not_before", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(191))
    job_name: Mapped[str] = mapped_column(String(255))
    task: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[ExecutionStatus] = mapped_column(str_enum(ExecutionStatus))
    trigger: Mapped[ExecutionTrigger] = mapped_column(str_enum(ExecutionTrigger))
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_traceback: Mapped[str | None] = mapped_column(Text)
    # Which process ran it ("host:pid:boot-id", or a worker's id), to close its rows if
    # it dies.
    runner: Mapped[str | None] = mapped_column(String(255))
    # Broker executor only. The token a worker must present to claim the queued row, so
    # a message of an older publication of the row (or a forged one) claims nothing.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    # Queued: when the run is missed if no worker has claimed it. Running: when it is
    # past its timeout.
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The message last published for the row (the outbox), and when.
    message: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # 1 for a slot's first run; a retry of the same slot is the next number.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Waiting: when the attempt may start (its backoff has passed).
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TaskExecutionLog(Base):
    """What a run logged (`[{time, level, message}]`, bounded), one row per run that
    logged anything. Deleted with its run."""

    __tablename__ = "task_execution_logs"

    execution_id: Mapped[int] = mapped_column(
        ForeignKey("task_executions.id", ondelete="CASCADE"), primary_key=True
    )
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
