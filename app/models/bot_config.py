from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base_class import Base
from app.db.types import UTCDateTime, str_enum, utcnow


class SortOrder(enum.StrEnum):
    NEW = "new"
    HOT = "hot"
    TOP = "top"
    RISING = "rising"


class TimeFilter(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    ALL = "all"


class BotConfig(Base):
    __tablename__ = "bot_configs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # One of the owner's Reddit apps; None scrapes with REDDIT_CLIENT_ID's. An app in use
    # cannot be deleted (409), hence no ON DELETE action.
    reddit_app_id: Mapped[int | None] = mapped_column(ForeignKey("reddit_apps.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    subreddits: Mapped[list[str]] = mapped_column(JSON)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    sort: Mapped[SortOrder] = mapped_column(str_enum(SortOrder), default=SortOrder.NEW)
    time_filter: Mapped[TimeFilter] = mapped_column(str_enum(TimeFilter), default=TimeFilter.DAY)
    posts_limit: Mapped[int] = mapped_column(Integer, default=25)
    include_comments: Mapped[bool] = mapped_column(Boolean, default=True)
    comments_limit: Mapped[int] = mapped_column(Integer, default=20)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_scrape_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    scrape_interval_hours: Mapped[int] = mapped_column(Integer, default=6)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
