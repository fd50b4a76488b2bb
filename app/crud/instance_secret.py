from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.instance_secret import InstanceSecret


async def insert_if_missing(db: AsyncSession, name: str, value: str) -> None:
    """Store `value` under `name` unless a value is there already: of processes starting
    together, the first insert wins and the others keep it."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    await db.execute(
        insert(InstanceSecret)
        .values(name=name, value=value)
        .on_conflict_do_nothing(index_elements=[InstanceSecret.name])
    )


async def get_value(db: AsyncSession, name: str) -> str | None:
    value: str | None = await db.scalar(
        select(InstanceSecret.value).where(InstanceSecret.name == name)
    )
    return value
