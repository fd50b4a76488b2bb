"""Tables through which API processes reach the one scheduler that writes the job store."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, LargeBinary, String, Text, Unicode
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base_class import Base
from app.db.types import JSONType, UTCDateTime, str_enum, utcnow


class CommandStatus(enum.StrEnum):
    PENDING = "pending"
    APPLYING = "applying"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


class SchedulerCommand(Base):
    __tablename__ = "scheduler_commands"
    __table_args__ = (Index("ix_scheduler_commands_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(191))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[CommandStatus] = mapped_column(
        str_enum(CommandStatus), default=CommandStatus.PENDING
    )
    # On failure: the HTTP status the API answers with, and why.
    error_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The audit entry of this change (actor, action, before, reason), which the leader
    # writes in the transaction that claims the command and deletes again if applying it
    # fails: a change that happened always has its entry, and a refused one has none.
    audit: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SchedulerLeader(Base):
    """One row per scheduler name: who leads, since when, and a heartbeat that API
    processes read to tell whether a leader is alive."""

    __tablename__ = "scheduler_leader"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)


class APSchedulerJob(Base):
    """APScheduler's own `apscheduler_jobs` table, as `SQLAlchemyJobStore` defines it.

    It is created by our migrations so API processes can read jobs before any scheduler
    has started; only the scheduler leader writes it, through the job store.
    `next_run_time` is a UTC timestamp, NULL while the job is paused.
    """

    __tablename__ = "apscheduler_jobs"

    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    # Float(25) is the job store's spelling of an 8-byte float.
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
