from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.errors import Conflict, NotFound
from app.crud import bot_config as bot_config_crud
from app.crud import user as user_crud
from app.models.user import User
from app.schemas.user import UserCreate, UserUpdate, UserUpdateMe
from app.tasks.client import SchedulerClient

logger = logging.getLogger(__name__)

EMAIL_TAKEN = "A user with this email already exists"


async def create_user(db: AsyncSession, data: UserCreate) -> User:
    if await user_crud.get_by_email(db, data.email) is not None:
        raise Conflict(EMAIL_TAKEN)
    try:
        return await user_crud.create(
            db,
            email=data.email.lower(),
            hashed_password=security.hash_password(data.password),
            full_name=data.full_name,
            is_active=data.is_active,
            is_superuser=data.is_superuser,
        )
    except IntegrityError:
        # A concurrent request took the email between the check and the insert; the
        # unique index on `users.email` is the only constraint an insert can break.
        raise Conflict(EMAIL_TAKEN) from None


async def get_user(db: AsyncSession, user_id: int) -> User:
    user = await user_crud.get(db, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def update_user(db: AsyncSession, user: User, data: UserUpdate | UserUpdateMe) -> User:
    values = data.model_dump(exclude_unset=True)
    if values.get("email") is not None:
        values["email"] = values["email"].lower()
        other = await user_crud.get_by_email(db, values["email"])
        if other is not None and other.id != user.id:
            raise Conflict(EMAIL_TAKEN)
    password = values.pop("password", None)
    if password is not None:
        values["hashed_password"] = security.hash_password(password)
    values = {k: v for k, v in values.items() if v is not None or k == "full_name"}
    try:
        return await user_crud.update(db, user, **values)
    except IntegrityError:
        raise Conflict(EMAIL_TAKEN) from None


async def delete_user(db: AsyncSession, scheduler: SchedulerClient, user: User) -> None:
    """The user's bot configs go with the user (ON DELETE CASCADE); their scraping jobs
    are removed first, so no job is left running for a config that no longer exists."""
    from app.services.bot_config import sync_job

    for config in await bot_config_crud.list_auto_scrape(db, owner_id=user.id):
        await sync_job(
            scheduler, config.id, enabled=False, interval_hours=config.scrape_interval_hours
        )
    await user_crud.delete(db, user)


async def ensure_superuser(db: AsyncSession, email: str, password: str) -> tuple[User, bool]:
    """The user with this email as a superuser, created when missing (True if created).
    An existing account is left as it is: its password is not reset from the environment."""
    existing = await user_crud.get_by_email(db, email)
    if existing is not None:
        return existing, False
    user = await create_user(
        db, UserCreate(email=email, password=password, is_superuser=True, is_active=True)
    )
    logger.info("created superuser %s", email)
    return user, True
