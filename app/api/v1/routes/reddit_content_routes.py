from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import CurrentUser, IdPath, LimitQuery, OffsetQuery, OptionalIdQuery, SessionDep
from app.api.responses import AUTHENTICATED, errors
from app.api.routing import StrictJSONRoute
from app.models.reddit_content import RedditPost
from app.schemas.common import Page, page_of
from app.schemas.reddit_content import RedditCommentPublic, RedditPostPublic
from app.schemas.types import String
from app.services import reddit_content as content_service

router = APIRouter(
    prefix="/reddit",
    tags=["reddit"],
    route_class=StrictJSONRoute,
    responses=errors(AUTHENTICATED),
)

SUBREDDIT_QUERY = r"^(/?[rR]/)?[A-Za-z0-9_]{3,21}$"


@router.get("/posts", responses=errors(404, 422))
async def list_posts(
    db: SessionDep,
    user: CurrentUser,
    bot_config_id: OptionalIdQuery = None,
    subreddit: Annotated[str | None, Query(pattern=SUBREDDIT_QUERY)] = None,
    q: Annotated[String | None, Query(max_length=200, description="Text in title or body")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    offset: OffsetQuery = 0,
) -> Page[RedditPostPublic]:
    """Posts found by your bot configs (a superuser sees all), newest first."""
    posts, total = await content_service.list_posts(
        db,
        user,
        bot_config_id=bot_config_id,
        subreddit=subreddit,
        q=q,
        limit=limit,
        offset=offset,
    )
    return page_of(RedditPostPublic, posts, total, limit=limit, offset=offset)


@router.get("/posts/{post_id}", response_model=RedditPostPublic, responses=errors(404, 422))
async def read_post(db: SessionDep, user: CurrentUser, post_id: IdPath) -> RedditPost:
    return await content_service.get_post(db, user, post_id)


@router.get("/posts/{post_id}/comments", responses=errors(404, 422))
async def list_comments(
    db: SessionDep,
    user: CurrentUser,
    post_id: IdPath,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> Page[RedditCommentPublic]:
    """A post's comments, oldest first."""
    comments, total = await content_service.list_comments(
        db, user, post_id, limit=limit, offset=offset
    )
    return page_of(RedditCommentPublic, comments, total, limit=limit, offset=offset)
