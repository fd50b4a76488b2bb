"""Reddit apps: your own Reddit OAuth clients, for your bot configs to scrape with."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import CurrentUser, IdPath, LimitQuery, OffsetQuery, SessionDep, SettingsDep
from app.api.responses import AUTHENTICATED, BODY, errors
from app.api.routing import StrictJSONRoute
from app.models.reddit_app import RedditApp
from app.schemas.common import Page, page_of
from app.schemas.reddit_app import RedditAppCreate, RedditAppPublic, RedditAppUpdate
from app.services import reddit_app as reddit_app_service

router = APIRouter(
    prefix="/reddit-apps",
    tags=["reddit-apps"],
    route_class=StrictJSONRoute,
    responses=errors(AUTHENTICATED),
)


@router.post(
    "", response_model=RedditAppPublic, status_code=status.HTTP_201_CREATED, responses=errors(BODY)
)
async def create_reddit_app(
    db: SessionDep, settings: SettingsDep, user: CurrentUser, body: RedditAppCreate
) -> RedditApp:
    """Add a Reddit app (from reddit.com/prefs/apps). The secret is stored encrypted
    and never shown again: answers say `has_secret`."""
    return await reddit_app_service.create_app(db, settings, user, body)


@router.get("", responses=errors(422))
async def list_reddit_apps(
    db: SessionDep,
    user: CurrentUser,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> Page[RedditAppPublic]:
    """Your Reddit apps (a superuser sees everyone's)."""
    apps, total = await reddit_app_service.list_apps(db, user, limit=limit, offset=offset)
    return page_of(RedditAppPublic, apps, total, limit=limit, offset=offset)


@router.get("/{reddit_app_id}", response_model=RedditAppPublic, responses=errors(404, 422))
async def read_reddit_app(db: SessionDep, user: CurrentUser, reddit_app_id: IdPath) -> RedditApp:
    return await reddit_app_service.get_accessible(db, user, reddit_app_id)


@router.patch("/{reddit_app_id}", response_model=RedditAppPublic, responses=errors(BODY, 404))
async def update_reddit_app(
    db: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    reddit_app_id: IdPath,
    body: RedditAppUpdate,
) -> RedditApp:
    """Change a Reddit app; a `client_secret` sent replaces the stored one."""
    app = await reddit_app_service.get_accessible(db, user, reddit_app_id, for_update=True)
    return await reddit_app_service.update_app(db, settings, app, body)


@router.delete(
    "/{reddit_app_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409, 422)
)
async def delete_reddit_app(db: SessionDep, user: CurrentUser, reddit_app_id: IdPath) -> None:
    """Delete a Reddit app; one a bot config uses is refused (409)."""
    app = await reddit_app_service.get_accessible(db, user, reddit_app_id, for_update=True)
    await reddit_app_service.delete_app(db, app)
