"""Async engines and sessions. One `Database` per event loop that talks to the database:
the API's loop and the scheduler's loop each own one, since async drivers bind their
connections to the loop that opened them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
_UNDO = "undo_if_not_committed"
_AFTER_COMMIT = "after_commit"


def undo_if_not_committed(session: AsyncSession, undo: Callable[[], Awaitable[None]]) -> None:
    """Run `undo` if this unit of work ends without committing.

    For a change made outside the session that must not outlive it: a job change the
    scheduler leader applied for a request whose own writes are then rolled back, or
    whose commit fails.
    """
    session.info.setdefault(_UNDO, []).append(undo)


def after_commit(session: AsyncSession, then: Callable[[], Awaitable[None]]) -> None:
    """Run `then` once this unit of work has committed (never if it does not): for work
    that must only start once what it reads is there for other connections to see."""
    session.info.setdefault(_AFTER_COMMIT, []).append(then)


async def committed(session: AsyncSession) -> None:
    """The unit of work committed: its undo steps are dropped, its follow-ups run."""
    session.info.pop(_UNDO, None)
    for then in session.info.pop(_AFTER_COMMIT, []):
        await then()


async def run_undo(session: AsyncSession) -> None:
    session.info.pop(_AFTER_COMMIT, None)
    for undo in reversed(session.info.pop(_UNDO, [])):
        try:
            await undo()
        except Exception:
            logger.exception("could not undo a change of a unit of work that failed")


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers and the job store's writer work side by side; the busy timeout
    makes a writer wait for the lock instead of failing with 'database is locked'."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        from pathlib import Path

        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def create_engine_for(
    url: str, *, pool: bool = True, pre_ping: bool = True, **options: Any
) -> AsyncEngine:
    ensure_sqlite_dir(url)
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        options["pool_pre_ping"] = pre_ping
    if not pool:
        options["poolclass"] = NullPool
    engine = create_async_engine(url, **options)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
    return engine


class Database:
    def __init__(self, url: str, *, pool: bool = True) -> None:
        self.url = url
        self.engine = create_engine_for(url, pool=pool)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block ends and rolls back if it raises: the
        boundary that jobs and scripts use (requests use `get_session`)."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    async def dispose(self) -> None:
        await self.engine.dispose()
