from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict

from app.models.scrape_session import ScrapeSession, SessionStatus, SessionType
from app.models.user import User


class ScrapeSessionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    bot_config_id: int
    session_type: SessionType
    status: SessionStatus
    started_at: datetime | None
    completed_at: datetime | None
    posts_found: int
    posts_new: int
    comments_found: int
    comments_new: int
    # API requests sent (retries too), seconds spent waiting for the app's rate budget,
    # and per subreddit: {"requests", "posts_found", "posts_new", "comments_found",
    # "comments_new"}.
    requests_made: int
    rate_limit_wait_seconds: float
    subreddit_counts: dict[str, dict[str, int]]
    # In words for the owner; `error_detail` (URLs, upstream answers) only for superusers.
    error_message: str | None
    error_detail: str | None = None
    created_at: datetime

    @classmethod
    def for_viewer(cls, session: ScrapeSession, viewer: User) -> Self:
        public = cls.model_validate(session)
        if not viewer.is_superuser:
            public.error_detail = None
        return public


class ScrapeStarted(ScrapeSessionPublic):
    """The answer to a manual scrape: the session as it starts, to poll at
    `/scrape-sessions/{session_id}`."""

    session_id: int
