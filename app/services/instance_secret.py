"""Secrets of the deployment that need no configuration: generated once, kept in the
database, the same for every process."""

from __future__ import annotations

import enum
from datetime import timedelta

from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.config import Settings
from app.crud import instance_secret as secret_crud

JWT_SIGNING = "jwt_signing"
REDDIT_APP_SECRETS = "reddit_app_secrets"


class KeySource(enum.StrEnum):
    ENVIRONMENT = "environment"
    DATABASE = "database"


async def signing_key(db: AsyncSession, settings: Settings) -> tuple[str, KeySource]:
    """The key that signs access tokens: SECRET_KEY when set, otherwise the one this
    deployment generated (by whichever process asked first)."""
    if settings.SECRET_KEY:
        return settings.SECRET_KEY, KeySource.ENVIRONMENT
    await secret_crud.insert_if_missing(db, JWT_SIGNING, security.new_secret_key())
    key = await secret_crud.get_value(db, JWT_SIGNING)
    assert key is not None
    return key, KeySource.DATABASE


async def encryption_key(db: AsyncSession, settings: Settings) -> Fernet:
    """What encrypts stored Reddit app secrets: SECRETS_ENCRYPTION_KEY when set,
    otherwise the key this deployment generated (by whichever process asked first)."""
    if settings.SECRETS_ENCRYPTION_KEY:
        return Fernet(settings.SECRETS_ENCRYPTION_KEY)
    await secret_crud.insert_if_missing(db, REDDIT_APP_SECRETS, Fernet.generate_key().decode())
    key = await secret_crud.get_value(db, REDDIT_APP_SECRETS)
    assert key is not None
    return Fernet(key)


async def access_tokens(
    db: AsyncSession, settings: Settings
) -> tuple[security.AccessTokens, KeySource]:
    key, source = await signing_key(db, settings)
    previous = (settings.SECRET_KEY_PREVIOUS,) if settings.SECRET_KEY_PREVIOUS else ()
    tokens = security.AccessTokens(
        key=key,
        previous_keys=previous,
        lifetime=timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES),
    )
    return tokens, source
