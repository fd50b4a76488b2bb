from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.reddit_content import RedditComment, RedditPost


async def delete_older_than(db: AsyncSession, cutoff: datetime) -> tuple[int, int]:
    """Posts last seen before `cutoff` and their comments, plus old comments of newer
    posts: one set-based DELETE per table, comments first (their posts go with them)."""
    old_posts = select(RedditPost.id).where(RedditPost.scraped_at < cutoff)
    comments = await db.execute(
        delete(RedditComment).where(
            (RedditComment.scraped_at < cutoff) | RedditComment.post_id.in_(old_posts)
        )
    )
    posts = await db.execute(delete(RedditPost).where(RedditPost.scraped_at < cutoff))
    return int(posts.rowcount), int(comments.rowcount)  # type: ignore[attr-defined]
