from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.paging import page
from app.models.bot_config import BotConfig
from app.models.reddit_content import RedditComment, RedditPost


def _insert(db: AsyncSession) -> Any:
    return postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert


async def upsert_posts(db: AsyncSession, bot_config_id: int, rows: list[dict[str, Any]]) -> int:
    """Insert a bot config's posts, or refresh the score, comment count, text and
    `scraped_at` of those it already has (by Reddit id): the session that first found a
    post stays. Rows must have distinct Reddit ids. Returns how many were new."""
    if not rows:
        return 0
    ids = [row["reddit_id"] for row in rows]
    known = set(
        await db.scalars(
            select(RedditPost.reddit_id).where(
                RedditPost.bot_config_id == bot_config_id, RedditPost.reddit_id.in_(ids)
            )
        )
    )
    statement = _insert(db)(RedditPost).values(
        [{**row, "bot_config_id": bot_config_id} for row in rows]
    )
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=[RedditPost.bot_config_id, RedditPost.reddit_id],
            set_={
                "score": statement.excluded.score,
                "num_comments": statement.excluded.num_comments,
                "selftext": statement.excluded.selftext,
                "scraped_at": statement.excluded.scraped_at,
            },
        )
    )
    return len(set(ids) - known)


async def post_ids(
    db: AsyncSession, bot_config_id: int, reddit_ids: Sequence[str]
) -> dict[str, int]:
    """`{reddit_id: id}` of the bot config's stored posts among `reddit_ids`."""
    if not reddit_ids:
        return {}
    rows = await db.execute(
        select(RedditPost.reddit_id, RedditPost.id).where(
            RedditPost.bot_config_id == bot_config_id, RedditPost.reddit_id.in_(reddit_ids)
        )
    )
    return {str(reddit_id): int(id_) for reddit_id, id_ in rows.all()}


async def comment_counts(
    db: AsyncSession, bot_config_id: int, reddit_ids: Sequence[str]
) -> dict[str, int]:
    """`{reddit_id: num_comments}` of the bot config's stored posts among `reddit_ids`."""
    if not reddit_ids:
        return {}
    rows = await db.execute(
        select(RedditPost.reddit_id, RedditPost.num_comments).where(
            RedditPost.bot_config_id == bot_config_id, RedditPost.reddit_id.in_(reddit_ids)
        )
    )
    return {str(reddit_id): int(count) for reddit_id, count in rows.all()}


async def newest_created(db: AsyncSession, bot_config_id: int, subreddit: str) -> datetime | None:
    """When the newest post the bot config has stored from `subreddit` was posted."""
    newest: datetime | None = await db.scalar(
        select(func.max(RedditPost.created_utc)).where(
            RedditPost.bot_config_id == bot_config_id,
            func.lower(RedditPost.subreddit) == subreddit.lower(),
        )
    )
    return newest


async def upsert_comments(db: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert comments, or refresh the score, body and `scraped_at` of those already
    stored (by post and Reddit id). Rows must have distinct `(post_id, reddit_id)`.
    Returns how many were new."""
    if not rows:
        return 0
    keys = {(row["post_id"], row["reddit_id"]) for row in rows}
    known = {
        (post_id, reddit_id)
        for post_id, reddit_id in await db.execute(
            select(RedditComment.post_id, RedditComment.reddit_id).where(
                RedditComment.post_id.in_({post_id for post_id, _ in keys}),
                RedditComment.reddit_id.in_({reddit_id for _, reddit_id in keys}),
            )
        )
    }
    statement = _insert(db)(RedditComment).values(rows)
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=[RedditComment.post_id, RedditComment.reddit_id],
            set_={
                "score": statement.excluded.score,
                "body": statement.excluded.body,
                "scraped_at": statement.excluded.scraped_at,
            },
        )
    )
    return len(keys - known)


async def list_posts(
    db: AsyncSession,
    *,
    owner_id: int | None,
    bot_config_id: int | None,
    subreddit: str | None,
    q: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[RedditPost], int]:
    """Newest first. `owner_id` limits to posts of that user's bot configs; `q` matches
    title or body, case-insensitively."""
    query = select(RedditPost)
    if owner_id is not None:
        query = query.join(BotConfig, BotConfig.id == RedditPost.bot_config_id).where(
            BotConfig.owner_id == owner_id
        )
    if bot_config_id is not None:
        query = query.where(RedditPost.bot_config_id == bot_config_id)
    if subreddit is not None:
        query = query.where(func.lower(RedditPost.subreddit) == subreddit.lower())
    if q:
        query = query.where(
            or_(
                RedditPost.title.icontains(q, autoescape=True),
                RedditPost.selftext.icontains(q, autoescape=True),
            )
        )
    order = (RedditPost.created_utc.desc(), RedditPost.id.desc())
    return await page(db, query, *order, limit=limit, offset=offset)


async def get_post_with_owner(db: AsyncSession, post_id: int) -> tuple[RedditPost, int] | None:
    """The post and the id of its bot config's owner."""
    row = (
        await db.execute(
            select(RedditPost, BotConfig.owner_id)
            .join(BotConfig, BotConfig.id == RedditPost.bot_config_id)
            .where(RedditPost.id == post_id)
        )
    ).first()
    return None if row is None else (row[0], int(row[1]))


async def list_comments(
    db: AsyncSession, post_id: int, *, limit: int, offset: int
) -> tuple[Sequence[RedditComment], int]:
    """A post's comments, oldest first, so replies come after what they answer."""
    query = select(RedditComment).where(RedditComment.post_id == post_id)
    order = (RedditComment.created_utc, RedditComment.id)
    return await page(db, query, *order, limit=limit, offset=offset)


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
