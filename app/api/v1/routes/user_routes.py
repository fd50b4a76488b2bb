from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.api.deps import CurrentUser, IdPath, SchedulerDep, SessionDep, SuperUser
from app.core.errors import Conflict
from app.crud import user as user_crud
from app.models.user import User
from app.schemas.common import Page
from app.schemas.user import UserCreate, UserPublic, UserUpdate, UserUpdateMe
from app.services import user as user_service

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
async def read_me(user: CurrentUser) -> User:
    return user


@router.patch("/me", response_model=UserPublic)
async def update_me(db: SessionDep, user: CurrentUser, body: UserUpdateMe) -> User:
    return await user_service.update_user(db, user, body)


@router.get("")
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


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
async def create_user(db: SessionDep, _: SuperUser, body: UserCreate) -> User:
    return await user_service.create_user(db, body)


@router.get("/{user_id}", response_model=UserPublic)
async def read_user(db: SessionDep, _: SuperUser, user_id: IdPath) -> User:
    return await user_service.get_user(db, user_id)


@router.patch("/{user_id}", response_model=UserPublic)
async def update_user(db: SessionDep, _: SuperUser, user_id: IdPath, body: UserUpdate) -> User:
    return await user_service.update_user(db, await user_service.get_user(db, user_id), body)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(
    db: SessionDep, scheduler: SchedulerDep, me: SuperUser, user_id: IdPath
) -> None:
    """Delete a user with their bot configs and those configs' jobs."""
    if user_id == me.id:
        raise Conflict("You cannot delete your own account")
    await user_service.delete_user(db, scheduler, await user_service.get_user(db, user_id))
