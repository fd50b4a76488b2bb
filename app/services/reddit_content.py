"""Stored Reddit content, as its owners may see it: the posts of their bot configs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.crud import reddit_content as content_crud
from app.models.reddit_content import RedditComment, RedditPost
from app.models.user import User
from app.schemas.bot_config import normalize_subreddits
from app.services import bot_config as bot_config_service


async def list_posts(
    db: AsyncSession,
    user: User,
    *,
    bot_config_id: int | None,
    subreddit: str | None,
    q: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[RedditPost], int]:
    if bot_config_id is not None:
        await bot_config_service.get_accessible(db, user, bot_config_id)
    if subreddit is not None:
        # The route checked the name; this only drops an `r/` prefix.
        subreddit = normalize_subreddits([subreddit])[0]
    return await content_crud.list_posts(
        db,
        owner_id=user.visible_owner_id,
        bot_config_id=bot_config_id,
        subreddit=subreddit,
        q=q.strip() or None if q is not None else None,
        limit=limit,
        offset=offset,
    )


async def get_post(db: AsyncSession, user: User, post_id: int) -> RedditPost:
    found = await content_crud.get_post_with_owner(db, post_id)
    if found is None or not user.may_see(found[1]):
        raise NotFound("Post not found")
    return found[0]


async def list_comments(
    db: AsyncSession, user: User, post_id: int, *, limit: int, offset: int
) -> tuple[Sequence[RedditComment], int]:
    post = await get_post(db, user, post_id)
    return await content_crud.list_comments(db, post.id, limit=limit, offset=offset)
