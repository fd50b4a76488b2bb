from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from app.api.deps import (
    CurrentUser,
    DatabaseDep,
    IdPath,
    OffsetQuery,
    OptionalIdQuery,
    SessionDep,
    SettingsDep,
)
from app.api.responses import AUTHENTICATED, errors
from app.api.routing import StrictJSONRoute
from app.models.scrape_session import SessionStatus
from app.schemas.common import Page
from app.schemas.scrape_session import ScrapeSessionPublic, ScrapeStarted
from app.services import scrape_session as session_service
from app.services.scrape_session import BackgroundScrapes

router = APIRouter(tags=["scraping"], route_class=StrictJSONRoute, responses=errors(AUTHENTICATED))


async def get_background_scrapes(request: Request) -> BackgroundScrapes:
    scrapes: BackgroundScrapes = request.app.state.background_scrapes
    return scrapes


BackgroundScrapesDep = Annotated[BackgroundScrapes, Depends(get_background_scrapes)]


@router.post(
    "/bot-configs/{bot_config_id}/scrape",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(404, 409, 422),
)
async def start_scrape(
    db: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    database: DatabaseDep,
    scrapes: BackgroundScrapesDep,
    bot_config_id: IdPath,
) -> ScrapeStarted:
    """Start a manual scrape and answer at once; poll `/scrape-sessions/{session_id}`
    until its status is `completed` or `failed`."""
    session = await session_service.start_manual_scrape(
        db, user, bot_config_id, database=database, settings=settings, scrapes=scrapes
    )
    return ScrapeStarted.model_validate(
        {**ScrapeSessionPublic.for_viewer(session, user).model_dump(), "session_id": session.id}
    )


@router.get("/scrape-sessions", responses=errors(404, 422))
async def list_scrape_sessions(
    db: SessionDep,
    user: CurrentUser,
    bot_config_id: OptionalIdQuery = None,
    status: SessionStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: OffsetQuery = 0,
) -> Page[ScrapeSessionPublic]:
    """Sessions of your bot configs (a superuser sees all), newest first."""
    sessions, total = await session_service.list_sessions(
        db, user, bot_config_id=bot_config_id, status=status, limit=limit, offset=offset
    )
    return Page(
        items=[ScrapeSessionPublic.for_viewer(s, user) for s in sessions],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/scrape-sessions/{session_id}", responses=errors(404, 422))
async def read_scrape_session(
    db: SessionDep, user: CurrentUser, session_id: IdPath
) -> ScrapeSessionPublic:
    return ScrapeSessionPublic.for_viewer(
        await session_service.get_session(db, user, session_id), user
    )
