"""Bot config payloads. Subreddit names are checked against Reddit's own rule here, so
a bad name is a 422 on the request instead of a failed scrape hours later."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models.bot_config import SortOrder, TimeFilter
from app.schemas.types import Flag, Id, String

MAX_SUBREDDITS = 50
MAX_KEYWORDS = 50
MAX_KEYWORD_LENGTH = 100
# Reddit's rule (3 to 21 letters, digits or underscores), optionally after `r/` or `/r/`,
# with surrounding spaces and slashes ignored. The same text is the JSON schema's pattern.
SUBREDDIT_INPUT_PATTERN = r"^\s*(?:/?[rR]/)?/*([A-Za-z0-9_]{3,21})/*\s*$"
SUBREDDIT_INPUT = re.compile(SUBREDDIT_INPUT_PATTERN)

Name = Annotated[String, Field(min_length=1, max_length=100)]
Description = Annotated[String, Field(max_length=2000)]
PostsLimit = Annotated[int, Field(strict=True, ge=1, le=100)]
CommentsLimit = Annotated[int, Field(strict=True, ge=0, le=500)]
IntervalHours = Annotated[int, Field(strict=True, ge=1, le=168)]
Subreddit = Annotated[
    String, Field(max_length=100, json_schema_extra={"pattern": SUBREDDIT_INPUT_PATTERN})
]
Subreddits = Annotated[list[Subreddit], Field(min_length=1, max_length=MAX_SUBREDDITS)]
# The length is checked with the list (see `normalize_keywords`), so the error names it.
Keyword = Annotated[String, Field(json_schema_extra={"maxLength": MAX_KEYWORD_LENGTH})]
Keywords = Annotated[list[Keyword], Field(max_length=MAX_KEYWORDS)]


def normalize_subreddits(values: list[str]) -> list[str]:
    """Strip an optional `r/` (or `/r/`) prefix, check Reddit's naming rule, and drop
    repeats case-insensitively, keeping the first spelling."""
    names: list[str] = []
    seen: set[str] = set()
    for raw in values:
        match = SUBREDDIT_INPUT.fullmatch(raw)
        if match is None:
            raise ValueError(
                f"{raw!r} is not a valid subreddit name: use 3 to 21 letters, digits or "
                "underscores, optionally prefixed with r/"
            )
        name = match.group(1)
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


def normalize_keywords(values: list[str]) -> list[str]:
    """Trim, drop blanks, and drop repeats case-insensitively."""
    keywords: list[str] = []
    seen: set[str] = set()
    for raw in values:
        if len(raw) > MAX_KEYWORD_LENGTH:
            raise ValueError(f"a keyword may have at most {MAX_KEYWORD_LENGTH} characters")
        keyword = raw.strip()
        if not keyword:
            continue
        if keyword.lower() not in seen:
            seen.add(keyword.lower())
            keywords.append(keyword)
    return keywords


class BotConfigCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    subreddits: Subreddits
    keywords: Keywords = Field(default_factory=list)
    sort: SortOrder = SortOrder.NEW
    time_filter: TimeFilter = TimeFilter.DAY
    posts_limit: PostsLimit = 25
    include_comments: Flag = True
    comments_limit: CommentsLimit = 20
    is_active: Flag = True
    auto_scrape_enabled: Flag = False
    scrape_interval_hours: IntervalHours = 6
    # One of the owner's Reddit apps; without one, the app of REDDIT_CLIENT_ID.
    reddit_app_id: Id | None = None

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
    `description` and `reddit_app_id`, the fields that may be empty."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    subreddits: Subreddits | None = None
    keywords: Keywords | None = None
    sort: SortOrder | None = None
    time_filter: TimeFilter | None = None
    posts_limit: PostsLimit | None = None
    include_comments: Flag | None = None
    comments_limit: CommentsLimit | None = None
    is_active: Flag | None = None
    auto_scrape_enabled: Flag | None = None
    scrape_interval_hours: IntervalHours | None = None
    # `null` goes back to the app of REDDIT_CLIENT_ID.
    reddit_app_id: Id | None = None

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
    reddit_app_id: int | None
    created_at: datetime
    updated_at: datetime
