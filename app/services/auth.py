"""Login, refresh-token rotation and password reset."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.config import Settings
from app.core.email import Email, EmailSender
from app.core.errors import Invalid, Unauthorized
from app.crud import password_reset as reset_crud
from app.crud import token as token_crud
from app.crud import user as user_crud
from app.models.user import User
from app.schemas.auth import TokenPair

logger = logging.getLogger(__name__)


class RefreshTokenReused(Unauthorized):
    # The family revocation must survive the error response.
    keep_changes = True

    def default_detail(self) -> str:
        return "Refresh token has already been used; please log in again"


# A rotated token stays on record this long so its reuse is still recognised as theft.
ROTATED_TOKEN_MEMORY = timedelta(days=1)


async def authenticate(db: AsyncSession, email: str, password: str) -> User:
    user = await user_crud.get_by_email(db, email)
    if not security.verify_password(password, user.hashed_password if user else None):
        raise Unauthorized("Incorrect email or password")
    assert user is not None
    if not user.is_active:
        raise Unauthorized("Inactive user")
    return user


async def _issue(db: AsyncSession, settings: Settings, user: User, family_id: str) -> TokenPair:
    refresh = security.new_opaque_token()
    await token_crud.create(
        db,
        user_id=user.id,
        token_hash=security.hash_opaque_token(refresh),
        family_id=family_id,
        expires_at=datetime.now(UTC) + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
    )
    return TokenPair(
        access_token=security.create_access_token(settings, user.id), refresh_token=refresh
    )


async def login(db: AsyncSession, settings: Settings, email: str, password: str) -> TokenPair:
    user = await authenticate(db, email, password)
    return await _issue(db, settings, user, family_id=uuid.uuid4().hex)


async def refresh(db: AsyncSession, settings: Settings, refresh_token: str) -> TokenPair:
    now = datetime.now(UTC)
    stored = await token_crud.get_by_hash(db, security.hash_opaque_token(refresh_token))
    if stored is None:
        raise Unauthorized("Invalid refresh token")
    if stored.revoked_at is not None:
        # A rotated token came back: someone holds a copy. End the whole login.
        await token_crud.revoke_family(db, stored.family_id, now)
        logger.warning("refresh token reuse for user %s; family revoked", stored.user_id)
        raise RefreshTokenReused
    if stored.expires_at <= now:
        raise Unauthorized("Refresh token expired")
    user = await user_crud.get(db, stored.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Inactive user")
    if not await token_crud.revoke_if_active(db, stored.id, now):
        raise RefreshTokenReused
    return await _issue(db, settings, user, family_id=stored.family_id)


async def logout(db: AsyncSession, refresh_token: str) -> None:
    stored = await token_crud.get_by_hash(db, security.hash_opaque_token(refresh_token))
    if stored is not None:
        await token_crud.revoke_family(db, stored.family_id, datetime.now(UTC))


async def request_password_reset(
    db: AsyncSession, settings: Settings, mailer: EmailSender, email: str
) -> None:
    """Sends a reset link when the account exists; answers the same either way."""
    user = await user_crud.get_by_email(db, email)
    if user is None or not user.is_active:
        return
    token = security.new_opaque_token()
    await reset_crud.create(
        db,
        user_id=user.id,
        token_hash=security.hash_opaque_token(token),
        expires_at=datetime.now(UTC) + timedelta(minutes=settings.PASSWORD_RESET_EXPIRE_MINUTES),
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
    await user_crud.update(db, user, hashed_password=security.hash_password(new_password))
    await reset_crud.use_all_for_user(db, user.id, now)
    # A new password ends every existing login.
    await token_crud.revoke_all_for_user(db, user.id, now)
