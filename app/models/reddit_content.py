from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base_class import Base
from app.db.types import UTCDateTime, utcnow


class RedditPost(Base):
    """A post found by a bot config, once per config and Reddit id (two configs that
    find the same post each keep their own row). A later scrape updates its score and
    comment count; `scraped_at` is when we last saw it, which content retention goes by."""

    __tablename__ = "reddit_posts"
    __table_args__ = (
        UniqueConstraint("bot_config_id", "reddit_id"),
        Index("ix_reddit_posts_bot_subreddit", "bot_config_id", "subreddit"),
        Index("ix_reddit_posts_scraped_at", "scraped_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reddit_id: Mapped[str] = mapped_column(String(20))
    bot_config_id: Mapped[int] = mapped_column(ForeignKey("bot_configs.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("scrape_sessions.id", ondelete="SET NULL"), index=True
    )
    subreddit: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(Text)
    selftext: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(50))
    url: Mapped[str | None] = mapped_column(Text)
    permalink: Mapped[str | None] = mapped_column(Text)
    score: Mapped[int] = mapped_column(Integer, default=0)
    num_comments: Mapped[int] = mapped_column(Integer, default=0)
    created_utc: Mapped[datetime] = mapped_column(UTCDateTime)
    scraped_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RedditComment(Base):
    __tablename__ = "reddit_comments"
    __table_args__ = (
        UniqueConstraint("post_id", "reddit_id"),
        Index("ix_reddit_comments_scraped_at", "scraped_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reddit_id: Mapped[str] = mapped_column(String(20))
    post_id: Mapped[int] = mapped_column(
        ForeignKey("reddit_posts.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("scrape_sessions.id", ondelete="SET NULL"), index=True
    )
    parent_reddit_id: Mapped[str | None] = mapped_column(String(20))
    author: Mapped[str | None] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[int] = mapped_column(Integer, default=0)
    created_utc: Mapped[datetime] = mapped_column(UTCDateTime)
    scraped_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
