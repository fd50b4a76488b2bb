from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.api_key import ApiKey
from app.models.user import User

# `api_keys.id` is a 32-bit INTEGER on PostgreSQL.
MAX_ID = 2**31 - 1


async def create(db: AsyncSession, **values: Any) -> ApiKey:
    key = ApiKey(**values)
    db.add(key)
    await db.flush()
    return key


async def get(db: AsyncSession, key_id: int) -> ApiKey | None:
    if not 0 < key_id <= MAX_ID:
        return None
    return await db.get(ApiKey, key_id)


async def get_by_hash(db: AsyncSession, key_hash: str) -> ApiKey | None:
    return (await db.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash))).one_or_none()


async def list_with_users(
    db: AsyncSession, *, limit: int, offset: int
) -> tuple[Sequence[tuple[ApiKey, str]], int]:
    """Keys, newest first, each with its user's email, and how many there are."""
    total = await db.scalar(select(func.count()).select_from(ApiKey)) or 0
    rows = await db.execute(
        select(ApiKey, User.email)
        .join(User, User.id == ApiKey.user_id)
        .order_by(ApiKey.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [(key, email) for key, email in rows], int(total)


async def revoke(db: AsyncSession, key: ApiKey, now: datetime) -> None:
    """Revoke the key; a key revoked before keeps its time."""
    unrevoked = (ApiKey.id == key.id) & ApiKey.revoked_at.is_(None)
    await db.execute(update(ApiKey).where(unrevoked).values(revoked_at=now))
    await db.refresh(key)


async def touch(db: AsyncSession, key_id: int, now: datetime, stale_before: datetime) -> None:
    """Note a use, unless one was noted since `stale_before` (by any process)."""
    await db.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale_before),
        )
        .values(last_used_at=now)
    )
