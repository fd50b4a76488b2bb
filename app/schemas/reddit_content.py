from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class RedditPostPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    reddit_id: str
    bot_config_id: int
    session_id: int | None
    subreddit: str
    title: str
    selftext: str
    author: str | None
    url: str | None
    permalink: str | None
    score: int
    num_comments: int
    created_utc: datetime
    scraped_at: datetime


class RedditCommentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    reddit_id: str
    post_id: int
    session_id: int | None
    parent_reddit_id: str | None
    author: str | None
    body: str
    score: int
    created_utc: datetime
    scraped_at: datetime
