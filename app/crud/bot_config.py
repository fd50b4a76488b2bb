from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.paging import page
from app.models.bot_config import BotConfig


async def get(
    db: AsyncSession, bot_config_id: int, *, for_update: bool = False
) -> BotConfig | None:
    """`for_update` locks the row until the transaction ends (PostgreSQL; SQLite has
    no row locks and ignores it)."""
    return await db.get(BotConfig, bot_config_id, with_for_update=for_update or None)


async def list_page(
    db: AsyncSession, *, owner_id: int | None, limit: int, offset: int
) -> tuple[Sequence[BotConfig], int]:
    """A page of configs by id; all of them when `owner_id` is None."""
    query = select(BotConfig)
    if owner_id is not None:
        query = query.where(BotConfig.owner_id == owner_id)
    return await page(db, query, BotConfig.id, limit=limit, offset=offset)


async def create(db: AsyncSession, **values: Any) -> BotConfig:
    config = BotConfig(**values)
    db.add(config)
    await db.flush()
    return config


async def update(db: AsyncSession, config: BotConfig, **values: Any) -> BotConfig:
    for key, value in values.items():
        setattr(config, key, value)
    await db.flush()
    return config


async def delete_by_id(db: AsyncSession, bot_config_id: int) -> None:
    """Its sessions, posts and comments go with it (ON DELETE CASCADE)."""
    await db.execute(sql_delete(BotConfig).where(BotConfig.id == bot_config_id))


async def list_auto_scrape(db: AsyncSession, owner_id: int | None = None) -> Sequence[BotConfig]:
    """Every config that should be scraped on a schedule (of one owner), by id."""
    query = select(BotConfig).where(
        BotConfig.is_active.is_(True), BotConfig.auto_scrape_enabled.is_(True)
    )
    if owner_id is not None:
        query = query.where(BotConfig.owner_id == owner_id)
    return (await db.scalars(query.order_by(BotConfig.id))).all()


async def auto_scrape_intervals(db: AsyncSession) -> dict[int, int]:
    """`{bot_config_id: scrape_interval_hours}` of every config that should have a job."""
    rows = await db.execute(
        select(BotConfig.id, BotConfig.scrape_interval_hours).where(
            BotConfig.is_active.is_(True), BotConfig.auto_scrape_enabled.is_(True)
        )
    )
    return {int(i): int(h) for i, h in rows.all()}
