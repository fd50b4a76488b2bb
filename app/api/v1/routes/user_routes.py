from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.api.deps import CurrentUser, IdPath, SchedulerDep, SessionDep, SuperUser
from app.api.responses import AUTHENTICATED, BODY, SUPERUSER, errors
from app.api.routing import StrictJSONRoute
from app.core.errors import Conflict
from app.crud import user as user_crud
from app.models.user import User
from app.schemas.common import Page
from app.schemas.user import UserCreate, UserPublic, UserUpdate, UserUpdateMe
from app.services import user as user_service

router = APIRouter(prefix="/users", tags=["users"], route_class=StrictJSONRoute)


@router.get("/me", response_model=UserPublic, responses=errors(AUTHENTICATED))
async def read_me(user: CurrentUser) -> User:
    return user


@router.patch("/me", response_model=UserPublic, responses=errors(AUTHENTICATED, BODY, 409))
async def update_me(db: SessionDep, user: CurrentUser, body: UserUpdateMe) -> User:
    return await user_service.update_user(db, user, body)


@router.get("", responses=errors(SUPERUSER, 422))
async def list_users(
    db: SessionDep,
    _: SuperUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    # Bounded so a huge offset is a 422, not a database overflow.
    offset: Annotated[int, Query(ge=0, le=user_crud.MAX_ID)] = 0,
) -> Page[UserPublic]:
    users, total = await user_crud.list_users(db, limit=limit, offset=offset)
    return Page(
        items=[UserPublic.model_validate(u) for u in users], total=total, limit=limit, offset=offset
    )


@router.post(
    "",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    responses=errors(SUPERUSER, BODY, 409),
)
async def create_user(db: SessionDep, _: SuperUser, body: UserCreate) -> User:
    return await user_service.create_user(db, body)


# `{user_id:integer}`: `me` is no user id, so a method `/users/me` does not have is a
# 405 (with `Allow`), not a 422 about a malformed id.
@router.get("/{user_id:integer}", response_model=UserPublic, responses=errors(SUPERUSER, 404, 422))
async def read_user(db: SessionDep, _: SuperUser, user_id: IdPath) -> User:
    return await user_service.get_user(db, user_id)


@router.patch(
    "/{user_id:integer}", response_model=UserPublic, responses=errors(SUPERUSER, BODY, 404, 409)
)
async def update_user(db: SessionDep, _: SuperUser, user_id: IdPath, body: UserUpdate) -> User:
    return await user_service.update_user(db, await user_service.get_user(db, user_id), body)


@router.delete(
    "/{user_id:integer}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(SUPERUSER, 404, 409, 422, 503),
)
async def delete_user(
    db: SessionDep, scheduler: SchedulerDep, me: SuperUser, user_id: IdPath
) -> None:
    """Delete a user with their bot configs and those configs' jobs."""
    if user_id == me.id:
        raise Conflict("You cannot delete your own account")
    await user_service.delete_user(db, scheduler, await user_service.get_user(db, user_id))
