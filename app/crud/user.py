from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.user import User

# `users.id` is a 32-bit INTEGER on PostgreSQL; a larger id (from a URL or a token) cannot
# exist, and sending it would fail in the driver instead of finding nothing.
MAX_ID = 2**31 - 1


async def get(db: AsyncSession, user_id: int) -> User | None:
    if not 0 < user_id <= MAX_ID:
        return None
    return await db.get(User, user_id)


async def get_by_email(db: AsyncSession, email: str) -> User | None:
    result = await db.execute(select(User).where(func.lower(User.email) == email.lower()))
    return result.scalar_one_or_none()


async def list_users(db: AsyncSession, *, limit: int, offset: int) -> tuple[Sequence[User], int]:
    total = await db.scalar(select(func.count()).select_from(User)) or 0
    rows = await db.scalars(select(User).order_by(User.id).limit(limit).offset(offset))
    return rows.all(), total


async def create(db: AsyncSession, **values: Any) -> User:
    user = User(**values)
    db.add(user)
    await db.flush()
    return user


async def update(db: AsyncSession, user: User, **values: Any) -> User:
    for key, value in values.items():
        setattr(user, key, value)
    await db.flush()
    return user


async def delete(db: AsyncSession, user: User) -> None:
    await db.delete(user)
    await db.flush()
