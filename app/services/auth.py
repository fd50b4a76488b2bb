"""Who is asking (`Principal`), login, refresh-token rotation, password reset, the
throttles on guessing, and ending a user's sessions."""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.config import Settings
from app.core.email import Email, EmailSender
from app.core.errors import BadRequest, Invalid, TooManyRequests, Unauthorized
from app.crud import password_reset as reset_crud
from app.crud import throttle as throttle_crud
from app.crud import token as token_crud
from app.crud import user as user_crud
from app.db.session import Database
from app.models.api_key import ApiKey
from app.models.throttle import ThrottleScope
from app.models.user import Role, User
from app.schemas.auth import TokenPair

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a user signed in with a password (`family_id` names the
    login), or a script holding an API key, which acts as the key's user with the key's
    role capped at that user's role now."""

    user: User
    role: Role | None
    family_id: str | None = None
    api_key: ApiKey | None = None

    @classmethod
    def signed_in(cls, user: User, family_id: str) -> Principal:
        return cls(user=user, role=user.task_role, family_id=family_id)

    @classmethod
    def with_key(cls, key: ApiKey, user: User) -> Principal:
        ceiling = user.task_role
        role = None if ceiling is None else min(key.role, ceiling, key=lambda r: r.rank)
        return cls(user=user, role=role, api_key=key)

    @property
    def is_superuser(self) -> bool:
        # A key carries a role and nothing more: not a superuser's other powers.
        return self.api_key is None and self.user.is_superuser

    def has_role(self, needed: Role) -> bool:
        return self.role is not None and self.role.rank >= needed.rank


class RefreshTokenReused(Unauthorized):
    # The family revocation must survive the error response.
    keep_changes = True

    def default_detail(self) -> str:
        return "Refresh token has already been used; please log in again"


# A rotated token stays on record this long so its reuse is still recognised as theft.
ROTATED_TOKEN_MEMORY = timedelta(days=1)

LOGINS_THROTTLED = "Too many failed logins; try again later"
RESETS_THROTTLED = "Too many password reset requests for this email; try again later"


def _key_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _account_key(email: str) -> str:
    # Emails are matched case-insensitively, so they are counted that way too.
    return _key_hash(email.strip().lower())


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


@dataclass(frozen=True)
class _LoginAttempt:
    account_key: str
    address_key: str
    address_window_ends_at: datetime


async def _count_login_attempt(
    database: Database, settings: Settings, email: str, address: str
) -> _LoginAttempt:
    """Count an attempt against the account and the client address before its password
    is checked, and refuse it past either limit. Counting first, in a transaction of its
    own, is what holds under concurrency: however many attempts arrive at once, each gets
    its own number, and only those within the limit reach the password check. An unknown
    account is counted like a known one, so a refusal says nothing about which exist."""
    now = datetime.now(UTC)
    window = timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    account_key, address_key = _account_key(email), _key_hash(address)
    async with database.transaction() as own:
        account = await throttle_crud.hit(
            own, ThrottleScope.LOGIN_ACCOUNT, account_key, now, window
        )
        by_address = await throttle_crud.hit(
            own, ThrottleScope.LOGIN_ADDRESS, address_key, now, window
        )
    over = [
        window_ends_at
        for (attempts, window_ends_at), limit in (
            (account, settings.LOGIN_MAX_FAILURES_PER_ACCOUNT),
            (by_address, settings.LOGIN_MAX_FAILURES_PER_ADDRESS),
        )
        if attempts > limit
    ]
    if over:
        raise TooManyRequests(LOGINS_THROTTLED, retry_after_seconds=_seconds_until(max(over), now))
    return _LoginAttempt(account_key, address_key, by_address[1])


async def _login_succeeded(database: Database, attempt: _LoginAttempt) -> None:
    """The account starts afresh; the address only gets this attempt back, so one good
    account does not clear an address that guesses at others."""
    async with database.transaction() as own:
        await throttle_crud.clear(own, ThrottleScope.LOGIN_ACCOUNT, attempt.account_key)
        await throttle_crud.take_back(
            own, ThrottleScope.LOGIN_ADDRESS, attempt.address_key, attempt.address_window_ends_at
        )


async def check_password(
    database: Database,
    settings: Settings,
    email: str,
    password: str,
    hashed: str | None,
    *,
    address: str,
) -> bool:
    """Whether `password` matches `hashed` (None: no such account), counted as a login
    attempt for `email` from `address`. Raises TooManyRequests past the limits."""
    attempt = await _count_login_attempt(database, settings, email, address)
    if not await security.verify_password(password, hashed):
        return False
    await _login_succeeded(database, attempt)
    return True


async def confirm_current_password(
    database: Database, settings: Settings, user: User, password: str | None, *, address: str
) -> None:
    """A signed-in user proves again that they know their password, as a login would
    (and throttled as one: a stolen access token must not make guessing free)."""
    if password is None:
        raise Invalid("Required to change your email or password", field="current_password")
    if not await check_password(
        database, settings, user.email, password, user.hashed_password, address=address
    ):
        raise BadRequest("Wrong password", field="current_password")


async def _issue(
    db: AsyncSession,
    settings: Settings,
    tokens: security.AccessTokens,
    user: User,
    family_id: str,
) -> TokenPair:
    refresh = security.new_opaque_token()
    await token_crud.create(
        db,
        user_id=user.id,
        token_hash=security.hash_opaque_token(refresh),
        family_id=family_id,
        expires_at=datetime.now(UTC) + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
    )
    claims = security.AccessClaims(user_id=user.id, version=user.token_version, family_id=family_id)
    return TokenPair(access_token=tokens.issue(claims), refresh_token=refresh)


async def login(
    db: AsyncSession,
    database: Database,
    settings: Settings,
    tokens: security.AccessTokens,
    email: str,
    password: str,
    *,
    address: str,
) -> TokenPair:
    user = await user_crud.get_by_email(db, email)
    hashed = user.hashed_password if user else None
    if not await check_password(database, settings, email, password, hashed, address=address):
        raise Unauthorized("Incorrect email or password")
    assert user is not None
    if not user.is_active:
        raise Unauthorized("Inactive user")
    return await _issue(db, settings, tokens, user, family_id=uuid.uuid4().hex)


async def refresh(
    db: AsyncSession, settings: Settings, tokens: security.AccessTokens, refresh_token: str
) -> TokenPair:
    now = datetime.now(UTC)
    stored = await token_crud.get_by_hash(db, security.hash_opaque_token(refresh_token))
    if stored is None:
        raise Unauthorized("Invalid refresh token")
    rotated = False
    if stored.revoked_at is None:
        if stored.expires_at <= now:
            raise Unauthorized("Refresh token expired")
        rotated = await token_crud.rotate(db, stored.id, now)
    if not rotated:
        # Used before, or by a concurrent request that won the rotation.
        rotated_at = await token_crud.rotated_at(db, stored.id)
        grace = timedelta(seconds=settings.REFRESH_REUSE_GRACE_SECONDS)
        retried = (
            rotated_at is not None
            and now - rotated_at <= grace
            and await token_crud.family_is_active(db, stored.family_id, now)
        )
        if not retried:
            # A rotated token came back: someone holds a copy. End the whole login.
            await token_crud.revoke_family(db, stored.family_id, now)
            logger.warning("refresh token reuse for user %s; family revoked", stored.user_id)
            raise RefreshTokenReused
        # A client retrying a refresh whose answer it lost (or refreshing from two tabs)
        # gets a pair of its own in the same login.
        logger.info("refresh token of user %s repeated within the grace", stored.user_id)
    user = await user_crud.get(db, stored.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Inactive user")
    return await _issue(db, settings, tokens, user, family_id=stored.family_id)


async def logout(db: AsyncSession, refresh_token: str) -> None:
    stored = await token_crud.get_by_hash(db, security.hash_opaque_token(refresh_token))
    if stored is not None:
        await token_crud.revoke_family(db, stored.family_id, datetime.now(UTC))


async def end_sessions(db: AsyncSession, user: User, *, keep_family_id: str | None = None) -> None:
    """End the user's logins, all or all but one: their refresh tokens are revoked, and
    their access tokens stop working at once (they carry the old token version). An
    access token of the kept login stops too; its refresh token gets a new one."""
    await token_crud.revoke_all_for_user(
        db, user.id, datetime.now(UTC), keep_family_id=keep_family_id
    )
    await user_crud.bump_token_version(db, user)


async def request_password_reset(
    db: AsyncSession, database: Database, settings: Settings, mailer: EmailSender, email: str
) -> None:
    """Sends a reset link when the account exists; answers the same either way, and
    throttles known and unknown emails alike."""
    now = datetime.now(UTC)
    window = timedelta(seconds=settings.PASSWORD_RESET_THROTTLE_WINDOW_SECONDS)
    async with database.transaction() as own:
        attempts, window_ends_at = await throttle_crud.hit(
            own, ThrottleScope.PASSWORD_RESET, _account_key(email), now, window
        )
    if attempts > settings.PASSWORD_RESET_MAX_PER_EMAIL:
        raise TooManyRequests(
            RESETS_THROTTLED, retry_after_seconds=_seconds_until(window_ends_at, now)
        )
    user = await user_crud.get_by_email(db, email)
    if user is None or not user.is_active:
        return
    token = security.new_opaque_token()
    await reset_crud.create(
        db,
        user_id=user.id,
        token_hash=security.hash_opaque_token(token),
        expires_at=now + timedelta(minutes=settings.PASSWORD_RESET_EXPIRE_MINUTES),
    )
    await mailer.send(
        Email(
            to=user.email,
            subject="Reset your password",
            body=(
                f"Use this link within {settings.PASSWORD_RESET_EXPIRE_MINUTES} minutes:\n"
                f"{settings.PASSWORD_RESET_URL}?token={token}\n\nToken: {token}\n"
            ),
        )
    )


async def confirm_password_reset(db: AsyncSession, token: str, new_password: str) -> None:
    now = datetime.now(UTC)
    reset = await reset_crud.get_by_hash(db, security.hash_opaque_token(token))
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        raise Invalid("Invalid or expired reset token", field="token")
    user = await user_crud.get(db, reset.user_id)
    if user is None or not user.is_active:
        raise Invalid("Invalid or expired reset token", field="token")
    hashed = await security.hash_password(new_password)
    await user_crud.update(db, user, hashed_password=hashed)
    await reset_crud.use_all_for_user(db, user.id, now)
    await end_sessions(db, user)
    # Whoever holds the mailbox may log in again at once, even after failed guesses.
    await throttle_crud.clear(db, ThrottleScope.LOGIN_ACCOUNT, _account_key(user.email))
