from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import update as update_rows
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


async def bump_token_version(db: AsyncSession, user: User) -> None:
    """End every access token of the user: they carry the version they were issued at."""
    await db.execute(
        update_rows(User).where(User.id == user.id).values(token_version=User.token_version + 1)
    )


async def lock_active_superusers(db: AsyncSession) -> None:
    """Lock the active superusers' rows (PostgreSQL) until the transaction ends, so that
    concurrent demotions are counted one after the other. In id order, so that two
    of them never wait for each other. SQLite needs no lock: its writers take turns."""
    active = User.is_superuser.is_(True) & User.is_active.is_(True)
    await db.execute(select(User.id).where(active).order_by(User.id).with_for_update())


async def count_active_superusers(db: AsyncSession) -> int:
    active = User.is_superuser.is_(True) & User.is_active.is_(True)
    return int(await db.scalar(select(func.count()).select_from(User).where(active)) or 0)
