from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import CurrentUser, IdPath, OptionalIdQuery, SessionDep
from app.models.reddit_content import RedditPost
from app.schemas.common import Page
from app.schemas.reddit_content import RedditCommentPublic, RedditPostPublic
from app.services import reddit_content as content_service

router = APIRouter(prefix="/reddit", tags=["reddit"])

SUBREDDIT_QUERY = r"^(/?[rR]/)?[A-Za-z0-9_]{3,21}$"


@router.get("/posts")
async def list_posts(
    db: SessionDep,
    user: CurrentUser,
    bot_config_id: OptionalIdQuery = None,
    subreddit: Annotated[str | None, Query(pattern=SUBREDDIT_QUERY)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in title or body")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    offset: Annotated[int, Query(ge=0)] = 0,
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
    return Page(
        items=[RedditPostPublic.model_validate(p) for p in posts],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/posts/{post_id}", response_model=RedditPostPublic)
async def read_post(db: SessionDep, user: CurrentUser, post_id: IdPath) -> RedditPost:
    return await content_service.get_post(db, user, post_id)


@router.get("/posts/{post_id}/comments")
async def list_comments(
    db: SessionDep,
    user: CurrentUser,
    post_id: IdPath,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[RedditCommentPublic]:
    """A post's comments, oldest first."""
    comments, total = await content_service.list_comments(
        db, user, post_id, limit=limit, offset=offset
    )
    return Page(
        items=[RedditCommentPublic.model_validate(c) for c in comments],
        total=total,
        limit=limit,
        offset=offset,
    )
