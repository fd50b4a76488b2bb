from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base_class import Base
from app.db.types import JSONType, UTCDateTime, str_enum, utcnow


class SessionType(enum.StrEnum):
    MANUAL = "manual"
    AUTO = "auto"


class SessionStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class ScrapeSession(Base):
    __tablename__ = "scrape_sessions"
    __table_args__ = (
        Index("ix_scrape_sessions_created_at", "created_at"),
        # One scrape of a config at a time, across every process: a second start while a
        # session is pending or running fails on this index.
        Index(
            "uq_scrape_sessions_active",
            "bot_config_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'running')"),
            postgresql_where=text("status IN ('pending', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_config_id: Mapped[int] = mapped_column(
        ForeignKey("bot_configs.id", ondelete="CASCADE"), index=True
    )
    session_type: Mapped[SessionType] = mapped_column(str_enum(SessionType))
    status: Mapped[SessionStatus] = mapped_column(
        str_enum(SessionStatus), default=SessionStatus.PENDING
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    posts_found: Mapped[int] = mapped_column(Integer, default=0)
    posts_new: Mapped[int] = mapped_column(Integer, default=0)
    comments_found: Mapped[int] = mapped_column(Integer, default=0)
    comments_new: Mapped[int] = mapped_column(Integer, default=0)
    # Requests sent to Reddit's API (retries included), and the seconds spent waiting
    # for the app's rate budget (a slot, or a 429's Retry-After).
    requests_made: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rate_limit_wait_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # {subreddit: {"requests", "posts_found", "posts_new", "comments_found",
    # "comments_new"}}, filled in as each subreddit is done.
    subreddit_counts: Mapped[dict[str, dict[str, int]]] = mapped_column(
        JSONType, default=dict, server_default="{}"
    )
    # Why it failed, in words for the config's owner; the detail (URLs, upstream
    # answers, exception text) is for superusers and the log.
    error_message: Mapped[str | None] = mapped_column(Text)
    error_detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
