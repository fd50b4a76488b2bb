from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.config import Settings
from app.core.errors import Conflict, Forbidden, NotFound
from app.crud import bot_config as bot_config_crud
from app.crud import user as user_crud
from app.db.session import Database
from app.models.user import User
from app.schemas.user import UserCreate, UserUpdate, UserUpdateMe
from app.services import auth as auth_service
from app.services.auth import Principal
from app.services.bot_config import sync_job
from app.tasks.client import SchedulerClient

logger = logging.getLogger(__name__)

EMAIL_TAKEN = "A user with this email already exists"
LAST_SUPERUSER = "The last active superuser cannot be demoted or deactivated"
SUPERUSERS_ONLY = "Only a superuser can make superusers or change a superuser's account"


def _check_superuser_rights(caller: Principal, target: User | None, grants: bool) -> None:
    """An admin manages users, but superusers are for superusers to make and change: an
    admin (or any API key) that could would be a superuser in all but name."""
    if caller.is_superuser:
        return
    if grants or (target is not None and target.is_superuser):
        raise Forbidden(SUPERUSERS_ONLY)


async def create_user(db: AsyncSession, caller: Principal, data: UserCreate) -> User:
    _check_superuser_rights(caller, None, grants=data.is_superuser)
    return await _create(db, data)


async def _create(db: AsyncSession, data: UserCreate) -> User:
    if await user_crud.get_by_email(db, data.email) is not None:
        raise Conflict(EMAIL_TAKEN)
    try:
        return await user_crud.create(
            db,
            email=data.email.lower(),
            hashed_password=await security.hash_password(data.password),
            full_name=data.full_name,
            is_active=data.is_active,
            is_superuser=data.is_superuser,
            role=data.role,
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


async def update_user(
    db: AsyncSession,
    database: Database,
    settings: Settings,
    caller: Principal,
    user: User,
    data: UserUpdate | UserUpdateMe,
    *,
    address: str,
) -> User:
    """Change a user (the caller's own account, or anyone's for an admin; a superuser's
    only for a superuser). `address` is the caller's, for the password throttle.

    Changing one's own email or password needs `current_password`. A new password, a
    deactivation and a demotion end the user's sessions; after a change of one's own
    password the caller's login goes on (its access token must be refreshed). A new
    role takes effect at the user's next request, through keys too."""
    values = data.model_dump(exclude_unset=True, exclude={"current_password"})
    # Null clears these; elsewhere it means "unchanged".
    values = {k: v for k, v in values.items() if v is not None or k in ("full_name", "role")}
    is_self = user.id == caller.user.id
    _check_superuser_rights(caller, user, grants=values.get("is_superuser") is True)
    if data.current_password is not None or (
        is_self and ("email" in values or "password" in values)
    ):
        await auth_service.confirm_current_password(
            database, settings, caller.user, data.current_password, address=address
        )
    if "email" in values:
        values["email"] = values["email"].lower()
        other = await user_crud.get_by_email(db, values["email"])
        if other is not None and other.id != user.id:
            raise Conflict(EMAIL_TAKEN)
    password = values.pop("password", None)
    if password is not None:
        values["hashed_password"] = await security.hash_password(password)
    losing_power = values.get("is_superuser") is False or values.get("is_active") is False
    if losing_power:
        await user_crud.lock_active_superusers(db)
        # As it is now that concurrent demotions have been counted.
        await db.refresh(user)
    demoted = (values.get("is_superuser") is False and user.is_superuser) or (
        values.get("is_active") is False and user.is_active
    )
    try:
        user = await user_crud.update(db, user, **values)
    except IntegrityError:
        raise Conflict(EMAIL_TAKEN) from None
    # Counted after the change, inside its transaction: on SQLite the write holds the
    # lock that makes concurrent demotions take turns.
    if losing_power and await user_crud.count_active_superusers(db) == 0:
        raise Conflict(LAST_SUPERUSER)
    if demoted:
        await auth_service.end_sessions(db, user)
    elif password is not None:
        keep = caller.family_id if is_self else None
        await auth_service.end_sessions(db, user, keep_family_id=keep)
    return user


async def delete_user(
    db: AsyncSession, scheduler: SchedulerClient, caller: Principal, user: User
) -> None:
    """The user's bot configs and API keys go with the user (ON DELETE CASCADE); their
    scraping jobs are removed first, so no job is left running for a config that no
    longer exists."""
    if user.id == caller.user.id:
        raise Conflict("You cannot delete your own account")
    _check_superuser_rights(caller, user, grants=False)
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
    user = await _create(
        db, UserCreate(email=email, password=password, is_superuser=True, is_active=True)
    )
    logger.info("created superuser %s", email)
    return user, True
