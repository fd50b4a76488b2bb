from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.password_reset import PasswordReset


async def create(
    db: AsyncSession, *, user_id: int, token_hash: str, expires_at: datetime
) -> PasswordReset:
    reset = PasswordReset(user_id=user_id, token_hash=token_hash, expires_at=expires_at)
    db.add(reset)
    await db.flush()
    return reset


async def get_by_hash(db: AsyncSession, token_hash: str) -> PasswordReset | None:
    result = await db.execute(select(PasswordReset).where(PasswordReset.token_hash == token_hash))
    return result.scalar_one_or_none()


async def use_all_for_user(db: AsyncSession, user_id: int, now: datetime) -> None:
    await db.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )


async def delete_expired(db: AsyncSession, now: datetime) -> int:
    result = await db.execute(
        delete(PasswordReset).where(
            or_(PasswordReset.expires_at < now, PasswordReset.used_at.is_not(None))
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
