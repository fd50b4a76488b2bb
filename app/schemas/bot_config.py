"""Bot config payloads. Subreddit names are checked against Reddit's own rule here, so
a bad name is a 422 on the request instead of a failed scrape hours later."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models.bot_config import SortOrder, TimeFilter

SUBREDDIT_NAME = re.compile(r"[A-Za-z0-9_]{3,21}")
MAX_SUBREDDITS = 50
MAX_KEYWORDS = 50
MAX_KEYWORD_LENGTH = 100

Name = Annotated[str, Field(min_length=1, max_length=100)]
Description = Annotated[str, Field(max_length=2000)]
PostsLimit = Annotated[int, Field(ge=1, le=100)]
CommentsLimit = Annotated[int, Field(ge=0, le=500)]
IntervalHours = Annotated[int, Field(ge=1, le=168)]


def normalize_subreddits(values: list[str]) -> list[str]:
    """Strip an optional `r/` (or `/r/`) prefix, check Reddit's naming rule, and drop
    repeats case-insensitively, keeping the first spelling."""
    names: list[str] = []
    seen: set[str] = set()
    for raw in values:
        name = raw.strip()
        lowered = name.lower()
        for prefix in ("/r/", "r/"):
            if lowered.startswith(prefix):
                name = name[len(prefix) :]
                break
        name = name.strip("/")
        if not SUBREDDIT_NAME.fullmatch(name):
            raise ValueError(
                f"{raw!r} is not a valid subreddit name: use 3 to 21 letters, digits or "
                "underscores, optionally prefixed with r/"
            )
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    if not names:
        raise ValueError("at least one subreddit is required")
    if len(names) > MAX_SUBREDDITS:
        raise ValueError(f"at most {MAX_SUBREDDITS} subreddits are allowed")
    return names


def normalize_keywords(values: list[str]) -> list[str]:
    keywords: list[str] = []
    seen: set[str] = set()
    for raw in values:
        keyword = raw.strip()
        if not keyword:
            continue
        if len(keyword) > MAX_KEYWORD_LENGTH:
            raise ValueError(f"a keyword may have at most {MAX_KEYWORD_LENGTH} characters")
        if keyword.lower() not in seen:
            seen.add(keyword.lower())
            keywords.append(keyword)
    if len(keywords) > MAX_KEYWORDS:
        raise ValueError(f"at most {MAX_KEYWORDS} keywords are allowed")
    return keywords


class BotConfigCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    subreddits: list[str]
    keywords: list[str] = Field(default_factory=list)
    sort: SortOrder = SortOrder.NEW
    time_filter: TimeFilter = TimeFilter.DAY
    posts_limit: PostsLimit = 25
    include_comments: bool = True
    comments_limit: CommentsLimit = 20
    is_active: bool = True
    auto_scrape_enabled: bool = False
    scrape_interval_hours: IntervalHours = 6

    @field_validator("subreddits")
    @classmethod
    def _subreddits(cls, value: list[str]) -> list[str]:
        return normalize_subreddits(value)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        return normalize_keywords(value)


class BotConfigUpdate(BaseModel):
    """A partial change: only the fields sent are changed. `null` is accepted only for
    `description`, the one field that may be empty."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    subreddits: list[str] | None = None
    keywords: list[str] | None = None
    sort: SortOrder | None = None
    time_filter: TimeFilter | None = None
    posts_limit: PostsLimit | None = None
    include_comments: bool | None = None
    comments_limit: CommentsLimit | None = None
    is_active: bool | None = None
    auto_scrape_enabled: bool | None = None
    scrape_interval_hours: IntervalHours | None = None

    @field_validator(
        "name",
        "subreddits",
        "keywords",
        "sort",
        "time_filter",
        "posts_limit",
        "include_comments",
        "comments_limit",
        "is_active",
        "auto_scrape_enabled",
        "scrape_interval_hours",
        mode="before",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value

    @field_validator("subreddits")
    @classmethod
    def _subreddits(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else normalize_subreddits(value)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else normalize_keywords(value)


class BotConfigPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    owner_id: int
    name: str
    description: str | None
    subreddits: list[str]
    keywords: list[str]
    sort: SortOrder
    time_filter: TimeFilter
    posts_limit: int
    include_comments: bool
    comments_limit: int
    is_active: bool
    auto_scrape_enabled: bool
    scrape_interval_hours: int
    created_at: datetime
    updated_at: datetime
