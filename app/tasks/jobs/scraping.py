"""Scraping jobs: one `scrape_bot` job per bot config with auto-scrape on, kept in step
with `bot_configs` by the bot config API and by reconciliation at leader start. The bot
job id scheme lives here and nowhere else."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import Invalid
from app.crud import bot_config as bot_config_crud
from app.models.scrape_session import SessionType
from app.schemas.types import Id
from app.services.scraping.orchestrator import ScrapingOrchestrator
from app.tasks.commands import Command, SyncJob
from app.tasks.registry import JobSpec, NoParams, TaskContext, registry
from app.tasks.trigger_specs import IntervalSpec

BOT_JOB_PREFIX = "bot_scraping_"


class ScrapeBotParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bot_config_id: Id


def bot_job_id(bot_config_id: int) -> str:
    return f"{BOT_JOB_PREFIX}{bot_config_id}"


def bot_config_id_of(job_id: str) -> int | None:
    """The bot config a job follows, if it is a bot job."""
    rest = job_id.removeprefix(BOT_JOB_PREFIX)
    return int(rest) if rest != job_id and rest.isdigit() else None


def is_bot_job(job_id: str) -> bool:
    return job_id.startswith(BOT_JOB_PREFIX)


def bot_job_spec(bot_config_id: int, interval_hours: int) -> JobSpec:
    return JobSpec(
        id=bot_job_id(bot_config_id),
        name=f"Bot-{bot_config_id} auto-scrape",
        task="scrape_bot",
        params={"bot_config_id": bot_config_id},
        trigger=IntervalSpec(hours=interval_hours),
    )


def sync_command(bot_config_id: int, *, enabled: bool, interval_hours: int) -> SyncJob:
    """The command that makes a bot's job match its config: present with the right
    interval when active with auto-scrape on, absent otherwise."""
    return SyncJob(
        job_id=bot_job_id(bot_config_id),
        spec=bot_job_spec(bot_config_id, interval_hours) if enabled else None,
    )


def legacy_sync_bot(job_id: str | None, payload: dict[str, Any]) -> Command:
    """A `sync_bot` command written by the previous release."""
    try:
        bot_config_id = int(payload["bot_config_id"])
        enabled = bool(payload.get("enabled"))
        hours = int(payload["interval_hours"]) if enabled else 1
    except (KeyError, TypeError, ValueError):
        raise Invalid(f"malformed sync_bot command for {job_id!r}") from None
    return sync_command(bot_config_id, enabled=enabled, interval_hours=hours)


async def wanted_bot_jobs(db: AsyncSession) -> list[JobSpec]:
    """The bot jobs `bot_configs` calls for."""
    wanted = await bot_config_crud.auto_scrape_intervals(db)
    return [bot_job_spec(bot_config_id, hours) for bot_config_id, hours in wanted.items()]


async def bot_config_exists(db: AsyncSession, _: Settings, params: ScrapeBotParams) -> None:
    if await bot_config_crud.get(db, params.bot_config_id) is None:
        raise Invalid(
            f"bot config {params.bot_config_id} does not exist", field="params.bot_config_id"
        )


# Scrapes spend their time waiting on Reddit and on the app's rate budget: `io`.
@registry.task(
    "scrape_bot",
    "Scrape Reddit for one bot config",
    ScrapeBotParams,
    check=bot_config_exists,
    kind="io",
)
async def scrape_bot(ctx: TaskContext, params: ScrapeBotParams) -> dict[str, Any]:
    return await ScrapingOrchestrator(ctx.database, ctx.settings).execute_scraping_session(
        ctx.db, params.bot_config_id, SessionType.AUTO
    )


@registry.task(
    "auto_scraping_batch", "Scrape Reddit for every bot config with auto-scrape on", kind="io"
)
async def auto_scraping_task(ctx: TaskContext, _: NoParams) -> dict[str, Any]:
    results = await ScrapingOrchestrator(ctx.database, ctx.settings).execute_auto_scraping(ctx.db)
    successful = sum(1 for r in results if r.get("status") == "completed")
    return {
        "total_configs": len(results),
        "successful": successful,
        "failed": len(results) - successful,
        "details": results,
    }
