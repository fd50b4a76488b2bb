from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.bot_config import BotConfig


async def auto_scrape_intervals(db: AsyncSession) -> dict[int, int]:
    """`{bot_config_id: scrape_interval_hours}` of every config that should have a job."""
    rows = await db.execute(
        select(BotConfig.id, BotConfig.scrape_interval_hours).where(
            BotConfig.is_active.is_(True), BotConfig.auto_scrape_enabled.is_(True)
        )
    )
    return {int(i): int(h) for i, h in rows.all()}
