from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.paging import page
from app.models.bot_config import BotConfig
from app.models.reddit_app import RedditApp


async def create(db: AsyncSession, **values: Any) -> RedditApp:
    app = RedditApp(**values)
    db.add(app)
    await db.flush()
    return app


async def get(
    db: AsyncSession, reddit_app_id: int, *, for_update: bool = False
) -> RedditApp | None:
    return await db.get(RedditApp, reddit_app_id, with_for_update=for_update or None)


async def list_page(
    db: AsyncSession, *, owner_id: int | None, limit: int, offset: int
) -> tuple[Sequence[RedditApp], int]:
    """A page of apps by id; everyone's when `owner_id` is None."""
    query = select(RedditApp)
    if owner_id is not None:
        query = query.where(RedditApp.owner_id == owner_id)
    return await page(db, query, RedditApp.id, limit=limit, offset=offset)


async def update(db: AsyncSession, app: RedditApp, **values: Any) -> RedditApp:
    for key, value in values.items():
        setattr(app, key, value)
    await db.flush()
    return app


async def configs_using(db: AsyncSession, reddit_app_id: int) -> int:
    count = await db.scalar(
        select(func.count()).select_from(BotConfig).where(BotConfig.reddit_app_id == reddit_app_id)
    )
    return int(count or 0)


async def delete_by_id(db: AsyncSession, reddit_app_id: int) -> None:
    await db.execute(delete(RedditApp).where(RedditApp.id == reddit_app_id))
