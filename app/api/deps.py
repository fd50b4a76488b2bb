"""Request dependencies, used in routes as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import AfterValidator
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.config import Settings
from app.core.email import EmailSender
from app.core.errors import AppError, Forbidden, Unauthorized
from app.crud import user as user_crud
from app.db.session import Database
from app.models.user import User
from app.schemas.types import MAX_ID, MAX_OFFSET
from app.tasks.client import SchedulerClient

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed after the route returns, rolled back if it
    raises. Services never commit; this boundary does."""
    async with request.app.state.db.sessionmaker() as session:
        try:
            yield session
        except AppError as exc:
            if exc.keep_changes:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


def get_database(request: Request) -> Database:
    """The process's database, for work that commits apart from the request."""
    database: Database = request.app.state.db
    return database


def get_mailer(request: Request) -> EmailSender:
    mailer: EmailSender = request.app.state.mailer
    return mailer


def get_scheduler_client(request: Request) -> SchedulerClient:
    client: SchedulerClient = request.app.state.scheduler_client
    return client


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": commit before the response is sent, so a failed commit is an error
# response rather than a success that did not happen.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
MailerDep = Annotated[EmailSender, Depends(get_mailer)]
SchedulerDep = Annotated[SchedulerClient, Depends(get_scheduler_client)]
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


# Ids are 32-bit integer columns. A path id outside them names no row: it becomes 0,
# which names none either but, unlike the number itself, can be sent to the database
# (the driver fails on an out-of-range integer). So it is a 404 like any unknown id.
def _no_such_row(value: int) -> int:
    return value if 0 < value <= MAX_ID else 0


IdPath = Annotated[int, Path(), AfterValidator(_no_such_row)]
# As a filter, an out-of-range id is invalid input (422).
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# Every list endpoint pages with this offset (and a limit of its own size).
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


async def get_current_user(db: SessionDep, settings: SettingsDep, token: TokenDep) -> User:
    if not token:
        raise Unauthorized("Not authenticated")
    user_id = security.decode_access_token(settings, token)
    if user_id is None:
        raise Unauthorized("Invalid or expired access token")
    user = await user_crud.get(db, user_id)
    if user is None:
        raise Unauthorized("User no longer exists")
    if not user.is_active:
        raise Unauthorized("Inactive user")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_superuser(user: CurrentUser) -> User:
    if not user.is_superuser:
        raise Forbidden("Superuser privileges required")
    return user


SuperUser = Annotated[User, Depends(get_current_superuser)]
