"""Who changed which job, when, how, and why."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base_class import Base
from app.db.types import JSONType, UTCDateTime, str_enum, utcnow


class AuditAction(enum.StrEnum):
    CREATE = "create"
    MODIFY = "modify"
    PAUSE = "pause"
    RESUME = "resume"
    RUN = "run"
    DELETE = "delete"
    CANCEL = "cancel"
    BACKFILL = "backfill"


class AuditSource(enum.StrEnum):
    """Where the change was asked for: the task API, or a bot config whose scheduling
    fields decide its scraping job."""

    TASKS = "tasks"
    BOT_CONFIG = "bot_config"
    # The scheduler itself, e.g. pausing a job after its failures.
    SYSTEM = "system"


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_job_created", "job_id", "created_at"),
        Index("ix_audit_log_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The email is copied so the entry still names its actor after the user is deleted.
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_email: Mapped[str] = mapped_column(String(320))
    # Set when the actor used an API key: the key, and its name copied like the email.
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )
    api_key_name: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[AuditAction] = mapped_column(str_enum(AuditAction))
    source: Mapped[AuditSource] = mapped_column(str_enum(AuditSource), default=AuditSource.TASKS)
    job_id: Mapped[str] = mapped_column(String(191))
    # No foreign key: the entry outlives the bot config it describes.
    bot_config_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reason: Mapped[str | None] = mapped_column(Text)
