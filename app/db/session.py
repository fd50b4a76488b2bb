"""Async engines and sessions. One `Database` per event loop that talks to the database:
the API's loop and the scheduler's loop each own one, since async drivers bind their
connections to the loop that opened them."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Connections a pool keeps open between uses: as many as a process serves requests at
# once under load, so that a burst does not open and close a connection per request.
POOL_SIZE = 20
# A pooled connection idle for longer than this is pinged before it is handed out, so a
# connection the server dropped meanwhile (a restart, an idle timeout) is replaced
# instead of failing the request. One in use a moment ago is not pinged: under load that
# would be a round trip per request. Should the server drop it anyway, the request that
# meets the dead connection fails, and that error discards every older connection of
# the pool, so the next requests get new ones.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "idle_since"
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


def _ping_when_idle(engine: AsyncEngine) -> None:
    """`PING_AFTER_IDLE_SECONDS`: SQLAlchemy's `pool_pre_ping`, for idle connections only."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return  # just opened, or in use a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool drops this connection and hands out another one.
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc

    event.listen(pool, "checkin", checkin)
    event.listen(pool, "checkout", checkout)


def create_engine_for(
    url: str, *, pool: bool = True, pre_ping: bool = True, **options: Any
) -> AsyncEngine:
    ensure_sqlite_dir(url)
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    if not pool:
        options["poolclass"] = NullPool
    else:
        options.setdefault("pool_size", POOL_SIZE)
    engine = create_async_engine(url, **options)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
    elif pool and pre_ping:
        _ping_when_idle(engine)
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
