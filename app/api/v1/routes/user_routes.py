from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.api.deps import (
    Admin,
    ClientAddressDep,
    DatabaseDep,
    IdPath,
    LimitQuery,
    SchedulerDep,
    SessionDep,
    SettingsDep,
    SignedIn,
)
from app.api.responses import AUTHENTICATED, BODY, ROLE, errors
from app.api.routing import StrictJSONRoute
from app.crud import user as user_crud
from app.models.user import User
from app.schemas.common import Page, page_of
from app.schemas.user import UserCreate, UserPublic, UserUpdate, UserUpdateMe
from app.services import user as user_service

router = APIRouter(prefix="/users", tags=["users"], route_class=StrictJSONRoute)


@router.get("/me", response_model=UserPublic, responses=errors(AUTHENTICATED))
async def read_me(me: SignedIn) -> User:
    return me.user


@router.patch(
    "/me", response_model=UserPublic, responses=errors(AUTHENTICATED, BODY, 400, 409, 429)
)
async def update_me(
    db: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    me: SignedIn,
    address: ClientAddressDep,
    body: UserUpdateMe,
) -> User:
    """Change your account. A new email or password needs `current_password` (missing:
    422; wrong: 400). A new password ends your other sessions; this one goes on through
    its refresh token (its access token stops working)."""
    return await user_service.update_user(
        db, database, settings, me, me.user, body, address=address
    )


@router.get("", responses=errors(ROLE, 422))
async def list_users(
    db: SessionDep,
    _: Admin,
    limit: LimitQuery = 100,
    # Bounded so a huge offset is a 422, not a database overflow.
    offset: Annotated[int, Query(ge=0, le=user_crud.MAX_ID)] = 0,
) -> Page[UserPublic]:
    users, total = await user_crud.list_users(db, limit=limit, offset=offset)
    return page_of(UserPublic, users, total, limit=limit, offset=offset)


@router.post(
    "",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    responses=errors(ROLE, BODY, 409),
)
async def create_user(db: SessionDep, me: Admin, body: UserCreate) -> User:
    """Create a user. Only a superuser can create a superuser (403)."""
    return await user_service.create_user(db, me, body)


# `{user_id:integer}`: `me` is no user id, so a method `/users/me` does not have is a
# 405 (with `Allow`), not a 422 about a malformed id.
@router.get("/{user_id:integer}", response_model=UserPublic, responses=errors(ROLE, 404, 422))
async def read_user(db: SessionDep, _: Admin, user_id: IdPath) -> User:
    return await user_service.get_user(db, user_id)


@router.patch(
    "/{user_id:integer}",
    response_model=UserPublic,
    responses=errors(ROLE, BODY, 400, 404, 409, 429),
)
async def update_user(
    db: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    me: Admin,
    address: ClientAddressDep,
    user_id: IdPath,
    body: UserUpdate,
) -> User:
    """Change a user, their `role` too (null: a bot owner). A new password, a
    deactivation or a demotion from superuser ends the user's sessions; the last active
    superuser cannot be demoted or deactivated (409). Only a superuser can change a
    superuser or make one (403)."""
    target = await user_service.get_user(db, user_id)
    return await user_service.update_user(db, database, settings, me, target, body, address=address)


@router.delete(
    "/{user_id:integer}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(ROLE, 404, 409, 422, 503),
)
async def delete_user(db: SessionDep, scheduler: SchedulerDep, me: Admin, user_id: IdPath) -> None:
    """Delete a user with their bot configs, those configs' jobs, and their API keys."""
    await user_service.delete_user(db, scheduler, me, await user_service.get_user(db, user_id))
