"""Scraping jobs: one `scrape_bot` job per bot config with auto-scrape on, kept in step
with `bot_configs` by the bot config API and by reconciliation at leader start."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Invalid
from app.crud import bot_config as bot_config_crud
from app.schemas.types import Id
from app.tasks.registry import JobSpec, NoParams, TaskContext, registry
from app.tasks.triggers import IntervalSpec

if TYPE_CHECKING:
    from app.tasks.scheduler import EnhancedScheduler

logger = logging.getLogger(__name__)


class ScrapeBotParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bot_config_id: Id


def bot_job_id(bot_config_id: int) -> str:
    return f"bot_scraping_{bot_config_id}"


def bot_job_spec(bot_config_id: int, interval_hours: int) -> JobSpec:
    return JobSpec(
        id=bot_job_id(bot_config_id),
        name=f"Bot-{bot_config_id} auto-scrape",
        task="scrape_bot",
        params={"bot_config_id": bot_config_id},
        trigger=IntervalSpec(hours=interval_hours),
    )


async def bot_config_exists(db: AsyncSession, params: ScrapeBotParams) -> None:
    if await bot_config_crud.get(db, params.bot_config_id) is None:
        raise Invalid(
            f"bot config {params.bot_config_id} does not exist", field="params.bot_config_id"
        )


@registry.task(
    "scrape_bot", "Scrape Reddit for one bot config", ScrapeBotParams, check=bot_config_exists
)
async def scrape_bot(ctx: TaskContext, params: ScrapeBotParams) -> dict[str, Any]:
    from app.models.scrape_session import SessionType
    from app.services.scraping.orchestrator import ScrapingOrchestrator

    return await ScrapingOrchestrator(ctx.database, ctx.settings).execute_scraping_session(
        ctx.db, params.bot_config_id, SessionType.AUTO
    )


@registry.task("auto_scraping_batch", "Scrape Reddit for every bot config with auto-scrape on")
async def auto_scraping_task(ctx: TaskContext, _: NoParams) -> dict[str, Any]:
    from app.services.scraping.orchestrator import ScrapingOrchestrator

    results = await ScrapingOrchestrator(ctx.database, ctx.settings).execute_auto_scraping(ctx.db)
    successful = sum(1 for r in results if r.get("status") == "completed")
    return {
        "total_configs": len(results),
        "successful": successful,
        "failed": len(results) - successful,
        "details": results,
    }


async def reconcile_bot_jobs(scheduler: EnhancedScheduler) -> None:
    """Make the stored bot jobs match `bot_configs`: add the missing, fix changed
    intervals, remove orphans. An unchanged job keeps its next run time."""
    async with scheduler.database.transaction() as db:
        wanted = await bot_config_crud.auto_scrape_intervals(db)
    changed, removed = await asyncio.to_thread(scheduler.sync_bot_jobs, wanted)
    if removed or changed:
        logger.info("bot jobs reconciled: %d added or changed, %d removed", changed, removed)
