"""API keys: made, listed and revoked by admins; checked on every request that sends
one instead of an access token.

A key acts as the user who made it, with the key's role capped at that user's role at
the time of the request, so a user's demotion or deactivation takes the key's power
with it at once. Only a signed-in user makes keys: a key cannot make another."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.config import Settings
from app.core.errors import Forbidden, Invalid, NotFound, TooManyRequests, Unauthorized
from app.crud import api_key as api_key_crud
from app.crud import throttle as throttle_crud
from app.crud import user as user_crud
from app.db.session import Database
from app.models.api_key import ApiKey
from app.models.throttle import ThrottleScope
from app.schemas.api_key import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from app.schemas.common import Page
from app.services.auth import Principal

# `last_used_at` is as precise as this, so that a busy key is not a write per request.
LAST_USED_PRECISION = timedelta(seconds=60)
MAX_LIFETIME = timedelta(days=3650)
KEYS_THROTTLED = "Too many requests with invalid API keys; try again later"


def _public(key: ApiKey, user_email: str) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=key.id,
        name=key.name,
        role=key.role,
        prefix=key.prefix,
        user_id=key.user_id,
        user_email=user_email,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


async def create_key(db: AsyncSession, creator: Principal, data: ApiKeyCreate) -> ApiKeyCreated:
    if creator.api_key is not None:
        raise Forbidden("An API key cannot make API keys; sign in with a password")
    if not creator.has_role(data.role):
        raise Forbidden(
            f"role: a key cannot hold a role above yours ({creator.role or 'none'}), "
            f"not {data.role}"
        )
    now = datetime.now(UTC)
    if data.expires_at is not None:
        if data.expires_at <= now:
            raise Invalid("must be in the future", field="expires_at")
        if data.expires_at > now + MAX_LIFETIME:
            raise Invalid("must be within 10 years from now", field="expires_at")
    secret = security.new_api_key()
    key = await api_key_crud.create(
        db,
        user_id=creator.user.id,
        name=data.name,
        role=data.role,
        key_hash=security.hash_opaque_token(secret),
        prefix=secret[: security.API_KEY_SHOWN_LENGTH],
        created_at=now,
        expires_at=data.expires_at,
    )
    return ApiKeyCreated(**_public(key, creator.user.email).model_dump(), key=secret)


async def list_keys(db: AsyncSession, *, limit: int, offset: int) -> Page[ApiKeyPublic]:
    """Every user's keys, newest first: an admin may revoke any of them."""
    rows, total = await api_key_crud.list_with_users(db, limit=limit, offset=offset)
    return Page(
        items=[_public(key, email) for key, email in rows], total=total, limit=limit, offset=offset
    )


async def revoke_key(db: AsyncSession, key_id: int) -> None:
    key = await api_key_crud.get(db, key_id)
    if key is None:
        raise NotFound("API key not found")
    await api_key_crud.revoke(db, key, datetime.now(UTC))


def _address_key(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


async def authenticate(
    db: AsyncSession, database: Database, settings: Settings, secret: str, *, address: str
) -> Principal:
    """The principal an API key stands for. Unknown, revoked and expired keys are
    counted per client address; past the limit, every key from that address is refused
    (429) until the window ends, a valid one too, so that guessing gains nothing."""
    now = datetime.now(UTC)
    address_key = _address_key(address)
    limit = settings.API_KEY_MAX_FAILURES_PER_ADDRESS
    counted = await throttle_crud.current(db, ThrottleScope.API_KEY_ADDRESS, address_key, now)
    if counted is not None and counted[0] >= limit:
        raise TooManyRequests(KEYS_THROTTLED, retry_after_seconds=_seconds_until(counted[1], now))
    key = await api_key_crud.get_by_hash(db, security.hash_opaque_token(secret))
    problem: str | None = None
    if key is None:
        problem = "Invalid API key"
    elif key.revoked_at is not None:
        problem = "This API key has been revoked"
    elif key.expires_at is not None and key.expires_at <= now:
        problem = "This API key has expired"
    if problem is not None:
        window = timedelta(seconds=settings.API_KEY_THROTTLE_WINDOW_SECONDS)
        # In a transaction of its own: the failure must stay counted though the request
        # is refused (and rolled back).
        async with database.transaction() as own:
            attempts, window_ends_at = await throttle_crud.hit(
                own, ThrottleScope.API_KEY_ADDRESS, address_key, now, window
            )
        if attempts > limit:
            raise TooManyRequests(
                KEYS_THROTTLED, retry_after_seconds=_seconds_until(window_ends_at, now)
            )
        raise Unauthorized(problem)
    assert key is not None
    user = await user_crud.get(db, key.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The user of this API key is inactive")
    if key.last_used_at is None or key.last_used_at <= now - LAST_USED_PRECISION:
        # Apart from the request, which on SQLite would otherwise hold the write lock
        # from its first line to its last.
        async with database.transaction() as own:
            await api_key_crud.touch(own, key.id, now, stale_before=now - LAST_USED_PRECISION)
    return Principal.with_key(key, user)
