from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.token import RefreshToken


async def create(
    db: AsyncSession, *, user_id: int, token_hash: str, family_id: str, expires_at: datetime
) -> RefreshToken:
    token = RefreshToken(
        user_id=user_id, token_hash=token_hash, family_id=family_id, expires_at=expires_at
    )
    db.add(token)
    await db.flush()
    return token


async def get_by_hash(db: AsyncSession, token_hash: str) -> RefreshToken | None:
    result = await db.execute(select(RefreshToken).where(RefreshToken.token_hash == token_hash))
    return result.scalar_one_or_none()


async def rotate(db: AsyncSession, token_id: int, now: datetime) -> bool:
    """Retire one token for its successor; False if it was revoked already (a concurrent
    rotation won, or the token had been used or revoked before)."""
    result = await db.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now, rotated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def rotated_at(db: AsyncSession, token_id: int) -> datetime | None:
    """When the token was rotated, as stored now (not as loaded before)."""
    value: datetime | None = await db.scalar(
        select(RefreshToken.rotated_at).where(RefreshToken.id == token_id)
    )
    return value


async def family_is_active(db: AsyncSession, family_id: str, now: datetime) -> bool:
    """Whether the login still has a usable token (it was not logged out or revoked)."""
    active = await db.scalar(
        select(
            exists().where(
                RefreshToken.family_id == family_id,
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
        )
    )
    return bool(active)


async def revoke_family(db: AsyncSession, family_id: str, now: datetime) -> None:
    await db.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_all_for_user(
    db: AsyncSession, user_id: int, now: datetime, *, keep_family_id: str | None = None
) -> None:
    statement = update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
    )
    if keep_family_id is not None:
        statement = statement.where(RefreshToken.family_id != keep_family_id)
    await db.execute(statement.values(revoked_at=now))


async def delete_expired(db: AsyncSession, now: datetime, revoked_before: datetime) -> int:
    """Expired tokens, and revoked ones once they are older than `revoked_before` (kept a
    while so reuse of a rotated token is still recognised)."""
    result = await db.execute(
        delete(RefreshToken).where(
            or_(RefreshToken.expires_at < now, RefreshToken.revoked_at < revoked_before)
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
