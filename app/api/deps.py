"""Request dependencies, used in routes as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
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
from app.db.session import Database, committed, run_undo
from app.models.user import Role, User
from app.schemas.types import MAX_ID, MAX_OFFSET
from app.services import api_key as api_key_service
from app.services.auth import Principal
from app.tasks.client import SchedulerClient

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


# The dependencies that only read app state are `async def`: FastAPI runs a plain `def`
# dependency in its thread pool, a thread handoff per dependency and request.
async def get_settings(request: Request) -> Settings:
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
                await _commit(session)
            else:
                await _rollback(session)
            raise
        except BaseException:
            await _rollback(session)
            raise
        else:
            await _commit(session)


async def _commit(session: AsyncSession) -> None:
    try:
        await session.commit()
    except BaseException:
        await run_undo(session)
        raise
    await committed(session)


async def _rollback(session: AsyncSession) -> None:
    try:
        await session.rollback()
    finally:
        await run_undo(session)


async def get_database(request: Request) -> Database:
    """The process's database, for work that commits apart from the request."""
    database: Database = request.app.state.db
    return database


async def get_mailer(request: Request) -> EmailSender:
    mailer: EmailSender = request.app.state.mailer
    return mailer


async def get_access_tokens(request: Request) -> security.AccessTokens:
    tokens: security.AccessTokens = request.app.state.access_tokens
    return tokens


async def get_client_address(request: Request) -> str:
    """The peer's address: behind a proxy, run uvicorn with `--proxy-headers` and
    `--forwarded-allow-ips` so that this is the client's, not the proxy's."""
    return request.client.host if request.client else "unknown"


async def get_scheduler_client(request: Request) -> SchedulerClient:
    client: SchedulerClient = request.app.state.scheduler_client
    return client


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": commit before the response is sent, so a failed commit is an error
# response rather than a success that did not happen.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
MailerDep = Annotated[EmailSender, Depends(get_mailer)]
SchedulerDep = Annotated[SchedulerClient, Depends(get_scheduler_client)]
AccessTokensDep = Annotated[security.AccessTokens, Depends(get_access_tokens)]
ClientAddressDep = Annotated[str, Depends(get_client_address)]
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
# The limit of most lists (default 100); a list of larger rows has a smaller one.
LimitQuery = Annotated[int, Query(ge=1, le=500)]


def _access_claims(tokens: security.AccessTokens, token: str | None) -> security.AccessClaims:
    if not token:
        raise Unauthorized("Not authenticated")
    claims = tokens.verify(token)
    if claims is None:
        raise Unauthorized("Invalid or expired access token")
    return claims


async def get_principal(
    db: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    tokens: AccessTokensDep,
    address: ClientAddressDep,
    token: TokenDep,
) -> Principal:
    """Whoever the bearer token stands for: an API key (told apart by its prefix) or an
    access token."""
    if token and security.is_api_key(token):
        return await api_key_service.authenticate(db, database, settings, token, address=address)
    claims = _access_claims(tokens, token)
    user = await user_crud.get(db, claims.user_id)
    if user is None:
        raise Unauthorized("User no longer exists")
    if not user.is_active:
        raise Unauthorized("Inactive user")
    if claims.version != user.token_version:
        raise Unauthorized("This session has ended; please log in again")
    return Principal.signed_in(user, claims.family_id)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_signed_in(principal: PrincipalDep) -> Principal:
    """A user signed in with a password. API keys are for the task system and the admin
    API: refused here, a key cannot reach its user's bot configs, nor a superuser's
    view of everyone's."""
    if principal.api_key is not None:
        raise Forbidden("API keys are accepted by the task and admin API only; sign in")
    return principal


SignedIn = Annotated[Principal, Depends(get_signed_in)]


async def get_current_user(principal: SignedIn) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def _at_least(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: PrincipalDep) -> Principal:
        if not principal.has_role(role):
            raise Forbidden(f"This needs the {role} role or higher")
        return principal

    return check


# "At least this role": a superuser is an admin; a key acts with its own role, capped at
# its user's.
Viewer = Annotated[Principal, Depends(_at_least(Role.VIEWER))]
Operator = Annotated[Principal, Depends(_at_least(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(_at_least(Role.ADMIN))]
