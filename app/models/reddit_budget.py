from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base_class import Base
from app.db.types import UTCDateTime, utcnow


class RedditBudget(Base):
    """What is left of a Reddit app's rate-limit window, shared by every process that
    scrapes with the app. `app_key` is the app's id, or `env` for the app configured by
    REDDIT_CLIENT_ID. See `app.services.scraping.budget` for the rules."""

    __tablename__ = "reddit_budgets"

    app_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Requests that may still be sent in this window.
    remaining: Mapped[int] = mapped_column(Integer)
    # Permits taken whose answer has not come back yet.
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
    # Counts the windows: an answer to a permit of an earlier window says nothing of this one.
    window_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Permits taken in this window (with those still in flight when it began, which may
    # reach Reddit in it): Reddit's `X-Ratelimit-Used` counts those that have arrived.
    taken: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Permits of this window that Reddit counted in its next one (they reached it after
    # the turn): they count as taken in our next window.
    spilled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What a window holds (`X-Ratelimit-Used` + `-Remaining` of the last answer), or None
    # before Reddit has said.
    window_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # When the window ends, as Reddit's headers said (the earliest any answer of the
    # window allows); until then `remaining` only falls.
    reset_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What the window holds is unknown: one request may go, whose answer's headers say.
    probing: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RedditBudgetTicket(Base):
    """A scrape waiting for a permit of an app's budget. Permits go to tickets in order
    (manual scrapes first, then by arrival), so the scrapes waiting on an app take turns;
    a ticket not refreshed for a while belongs to a process that died and is ignored."""

    __tablename__ = "reddit_budget_tickets"
    __table_args__ = (
        Index("ix_reddit_budget_tickets_app_key_priority", "app_key", "priority", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_key: Mapped[str] = mapped_column(String(32))
    # 0 for a manual scrape, 1 for a scheduled one: lower goes first.
    priority: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
