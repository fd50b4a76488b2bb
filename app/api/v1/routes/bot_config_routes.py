from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import (
    CurrentUser,
    DatabaseDep,
    IdPath,
    LimitQuery,
    OffsetQuery,
    SchedulerDep,
    SessionDep,
)
from app.api.responses import AUTHENTICATED, BODY, errors
from app.api.routing import StrictJSONRoute
from app.models.bot_config import BotConfig
from app.schemas.bot_config import BotConfigCreate, BotConfigPublic, BotConfigUpdate
from app.schemas.common import Page, page_of
from app.services import bot_config as bot_config_service

router = APIRouter(
    prefix="/bot-configs",
    tags=["bot-configs"],
    route_class=StrictJSONRoute,
    responses=errors(AUTHENTICATED),
)


@router.get("", responses=errors(422))
async def list_bot_configs(
    db: SessionDep,
    user: CurrentUser,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> Page[BotConfigPublic]:
    """Your bot configs (a superuser sees everyone's)."""
    configs, total = await bot_config_service.list_configs(db, user, limit=limit, offset=offset)
    return page_of(BotConfigPublic, configs, total, limit=limit, offset=offset)


@router.post(
    "",
    response_model=BotConfigPublic,
    status_code=status.HTTP_201_CREATED,
    responses=errors(BODY, 503),
)
async def create_bot_config(
    db: SessionDep,
    database: DatabaseDep,
    scheduler: SchedulerDep,
    user: CurrentUser,
    body: BotConfigCreate,
) -> BotConfig:
    """Create a bot config; with auto-scrape on and active, its job exists on return."""
    return await bot_config_service.create_config(db, database, scheduler, user, body)


@router.get("/{bot_config_id}", response_model=BotConfigPublic, responses=errors(404, 422))
async def read_bot_config(db: SessionDep, user: CurrentUser, bot_config_id: IdPath) -> BotConfig:
    return await bot_config_service.get_accessible(db, user, bot_config_id)


@router.patch("/{bot_config_id}", response_model=BotConfigPublic, responses=errors(BODY, 404, 503))
async def update_bot_config(
    db: SessionDep,
    scheduler: SchedulerDep,
    user: CurrentUser,
    bot_config_id: IdPath,
    body: BotConfigUpdate,
) -> BotConfig:
    """Change a bot config. Its job follows `is_active`, `auto_scrape_enabled` and
    `scrape_interval_hours`; other changes leave the job's schedule alone."""
    config = await bot_config_service.get_accessible(db, user, bot_config_id, for_update=True)
    return await bot_config_service.update_config(db, scheduler, config, body, actor=user)


@router.delete(
    "/{bot_config_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(404, 422, 503),
)
async def delete_bot_config(
    db: SessionDep, scheduler: SchedulerDep, user: CurrentUser, bot_config_id: IdPath
) -> None:
    """Delete a bot config with its job, sessions, posts and comments."""
    config = await bot_config_service.get_accessible(db, user, bot_config_id, for_update=True)
    await bot_config_service.delete_config(db, scheduler, config, actor=user)
