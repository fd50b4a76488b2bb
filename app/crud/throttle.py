"""Throttle counters, changed only by single statements so that concurrent requests in
any number of processes count every attempt exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.throttle import ThrottleCounter, ThrottleScope


async def hit(
    db: AsyncSession, scope: ThrottleScope, key_hash: str, now: datetime, window: timedelta
) -> tuple[int, datetime]:
    """Count one attempt; returns the attempts in the current window, this one included,
    and when the window ends. A window that has ended starts again from this attempt."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    fresh = insert(ThrottleCounter).values(
        scope=scope, key_hash=key_hash, attempts=1, window_ends_at=now + window
    )
    ended = ThrottleCounter.window_ends_at <= now
    # Both SET expressions see the row as it was before this statement.
    statement = fresh.on_conflict_do_update(
        index_elements=[ThrottleCounter.scope, ThrottleCounter.key_hash],
        set_={
            "attempts": case((ended, 1), else_=ThrottleCounter.attempts + 1),
            "window_ends_at": case(
                (ended, fresh.excluded.window_ends_at), else_=ThrottleCounter.window_ends_at
            ),
        },
    ).returning(ThrottleCounter.attempts, ThrottleCounter.window_ends_at)
    attempts, window_ends_at = (await db.execute(statement)).one()
    return int(attempts), window_ends_at


async def current(
    db: AsyncSession, scope: ThrottleScope, key_hash: str, now: datetime
) -> tuple[int, datetime] | None:
    """The attempts counted in the window running now, and when it ends (None: none)."""
    row = (
        await db.execute(
            select(ThrottleCounter.attempts, ThrottleCounter.window_ends_at).where(
                ThrottleCounter.scope == scope,
                ThrottleCounter.key_hash == key_hash,
                ThrottleCounter.window_ends_at > now,
            )
        )
    ).one_or_none()
    return None if row is None else (int(row[0]), row[1])


async def take_back(
    db: AsyncSession, scope: ThrottleScope, key_hash: str, window_ends_at: datetime
) -> None:
    """Uncount one attempt of the window that ends at `window_ends_at` (not of a later
    window)."""
    await db.execute(
        update(ThrottleCounter)
        .where(
            ThrottleCounter.scope == scope,
            ThrottleCounter.key_hash == key_hash,
            ThrottleCounter.window_ends_at == window_ends_at,
            ThrottleCounter.attempts > 0,
        )
        .values(attempts=ThrottleCounter.attempts - 1)
    )


async def clear(db: AsyncSession, scope: ThrottleScope, key_hash: str) -> None:
    await db.execute(
        delete(ThrottleCounter).where(
            ThrottleCounter.scope == scope, ThrottleCounter.key_hash == key_hash
        )
    )


async def delete_ended(db: AsyncSession, now: datetime) -> int:
    result = await db.execute(delete(ThrottleCounter).where(ThrottleCounter.window_ends_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]
