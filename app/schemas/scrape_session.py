from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from app.models.scrape_session import SessionStatus, SessionType


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
    error_message: str | None
    created_at: datetime


class ScrapeStarted(ScrapeSessionPublic):
    """The answer to a manual scrape: the session as it starts, to poll at
    `/scrape-sessions/{session_id}`."""

    session_id: int
