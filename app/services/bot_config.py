"""Bot config rules: who may see a config, and its scraping job kept in step with it in
the same request that changes it.

The job change is sent to the scheduler leader, which must write the job store before
the request can answer. On SQLite a transaction that has written holds the database's
only write lock until it commits, so the leader could not apply the change while the
request's transaction holds it. Hence the order: an update or a delete asks for the job
change first and writes the config after (if the leader refuses, nothing was written);
a create, which needs the config's id first, commits the new config in a short
transaction of its own and deletes it again if the job change fails. Either way a
failed job change fails the request and leaves no config change behind; and if the
request fails after the job change (its own writes, or its commit), the job change is
undone (`undo_if_not_committed`). A crash in between is repaired at the next leader
start, which reconciles jobs with configs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.crud import bot_config as bot_config_crud
from app.db.session import Database, undo_if_not_committed
from app.models.audit import AuditAction
from app.models.bot_config import BotConfig
from app.models.user import User
from app.schemas.bot_config import BotConfigCreate, BotConfigUpdate
from app.services import audit as audit_service
from app.services import reddit_app as reddit_app_service
from app.tasks.client import SchedulerClient
from app.tasks.jobs.scraping import sync_command

# The fields that decide whether a config has a job, and on what interval.
JOB_FIELDS = ("is_active", "auto_scrape_enabled", "scrape_interval_hours")


def schedule_of(config: BotConfig) -> dict[str, Any]:
    """The config's scheduling fields, as the audit log records them."""
    return {field: getattr(config, field) for field in JOB_FIELDS}


async def sync_job(
    scheduler: SchedulerClient, bot_config_id: int, *, enabled: bool, interval_hours: int
) -> None:
    """Add, reschedule or remove the config's job. The leader leaves an unchanged job
    alone, so its next run time moves only when its interval does."""
    await scheduler.submit(
        sync_command(bot_config_id, enabled=enabled, interval_hours=interval_hours)
    )


def _restore_job(
    scheduler: SchedulerClient, bot_config_id: int, schedule: dict[str, Any]
) -> Callable[[], Awaitable[None]]:
    """Put the config's job back as `schedule` (its fields before the change) has it."""

    async def restore() -> None:
        await sync_job(
            scheduler,
            bot_config_id,
            enabled=bool(schedule["is_active"] and schedule["auto_scrape_enabled"]),
            interval_hours=int(schedule["scrape_interval_hours"]),
        )

    return restore


async def get_accessible(
    db: AsyncSession, user: User, bot_config_id: int, *, for_update: bool = False
) -> BotConfig:
    """The config if `user` owns it or is a superuser. Someone else's config is "not
    found" too, so ids do not tell which configs exist."""
    config = await bot_config_crud.get(db, bot_config_id, for_update=for_update)
    if config is None or not user.may_see(config.owner_id):
        raise NotFound("Bot config not found")
    return config


async def list_configs(
    db: AsyncSession, user: User, *, limit: int, offset: int
) -> tuple[Sequence[BotConfig], int]:
    return await bot_config_crud.list_page(
        db, owner_id=user.visible_owner_id, limit=limit, offset=offset
    )


async def create_config(
    db: AsyncSession,
    database: Database,
    scheduler: SchedulerClient,
    user: User,
    data: BotConfigCreate,
) -> BotConfig:
    values = data.model_dump()
    if data.reddit_app_id is not None:
        await reddit_app_service.check_usable(db, user.id, data.reddit_app_id)
    if not (data.is_active and data.auto_scrape_enabled):
        config = await bot_config_crud.create(db, owner_id=user.id, **values)
        await audit_service.record_bot_schedule(
            db, user, AuditAction.CREATE, config.id, before=None, after=schedule_of(config)
        )
        return config
    async with database.transaction() as own:
        config = await bot_config_crud.create(own, owner_id=user.id, **values)

    async def undo_create() -> None:
        async with database.transaction() as own:
            await bot_config_crud.delete_by_id(own, config.id)

    try:
        await sync_job(
            scheduler, config.id, enabled=True, interval_hours=config.scrape_interval_hours
        )
    except BaseException:
        await undo_create()
        raise

    async def undo_create_and_job() -> None:
        await sync_job(
            scheduler, config.id, enabled=False, interval_hours=config.scrape_interval_hours
        )
        await undo_create()

    undo_if_not_committed(db, undo_create_and_job)
    await audit_service.record_bot_schedule(
        db, user, AuditAction.CREATE, config.id, before=None, after=schedule_of(config)
    )
    return config


async def update_config(
    db: AsyncSession,
    scheduler: SchedulerClient,
    config: BotConfig,
    data: BotConfigUpdate,
    *,
    actor: User,
) -> BotConfig:
    """`config` should have been read `for_update`, so that concurrent changes of one
    config reach the leader in the order they are written (on PostgreSQL)."""
    values = data.model_dump(exclude_unset=True)
    if values.get("reddit_app_id") is not None:
        await reddit_app_service.check_usable(db, config.owner_id, values["reddit_app_id"])
    before = schedule_of(config)
    if any(field in values and values[field] != getattr(config, field) for field in JOB_FIELDS):
        wanted = {field: values.get(field, getattr(config, field)) for field in JOB_FIELDS}
        await sync_job(
            scheduler,
            config.id,
            enabled=bool(wanted["is_active"] and wanted["auto_scrape_enabled"]),
            interval_hours=int(wanted["scrape_interval_hours"]),
        )
        undo_if_not_committed(db, _restore_job(scheduler, config.id, before))
    updated = await bot_config_crud.update(db, config, **values)
    if schedule_of(updated) != before:
        await audit_service.record_bot_schedule(
            db, actor, AuditAction.MODIFY, config.id, before=before, after=schedule_of(updated)
        )
    return updated


async def delete_config(
    db: AsyncSession, scheduler: SchedulerClient, config: BotConfig, *, actor: User
) -> None:
    before = schedule_of(config)
    if config.is_active and config.auto_scrape_enabled:
        await sync_job(
            scheduler, config.id, enabled=False, interval_hours=config.scrape_interval_hours
        )
        undo_if_not_committed(db, _restore_job(scheduler, config.id, before))
    await bot_config_crud.delete_by_id(db, config.id)
    await audit_service.record_bot_schedule(
        db, actor, AuditAction.DELETE, config.id, before=before, after=None
    )
