"""Leader election: exactly one process runs the scheduler.

PostgreSQL: a session-level advisory lock held on a dedicated connection (so not
through a transaction-pooling proxy). The lock goes when that connection goes, so a
killed leader is replaced as soon as a standby next tries. SQLite: an OS file lock
next to the database file, released by the OS when the process dies.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.config import Settings
from app.crud.scheduler import NOTIFY_CHANNEL
from app.db.session import create_engine_for

logger = logging.getLogger(__name__)


class Elector(Protocol):
    async def try_acquire(self) -> bool: ...

    async def still_leader(self) -> bool: ...

    async def release(self) -> None: ...


class FileLockElector:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(path), thread_local=False)

    async def try_acquire(self) -> bool:
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    async def still_leader(self) -> bool:
        return bool(self._lock.is_locked)

    async def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


class PostgresElector:
    def __init__(self, url: str, name: str, on_notify: Any = None) -> None:
        self._engine: AsyncEngine = create_engine_for(url, pool=False)
        self._key = zlib.crc32(f"reddit-bot-backend:{name}".encode()) & 0x7FFFFFFF
        self._conn: AsyncConnection | None = None
        self._on_notify = on_notify

    async def _connect(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self._engine.connect()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def try_acquire(self) -> bool:
        try:
            conn = await self._connect()
            got = bool(
                await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key})
            )
        except Exception as exc:
            logger.warning("leader election: database unreachable: %s", exc)
            await self._drop()
            return False
        if got and self._on_notify is not None:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.add_listener(NOTIFY_CHANNEL, self._on_notify)  # type: ignore[union-attr]
        return got

    async def still_leader(self) -> bool:
        if self._conn is None:
            return False
        try:
            async with asyncio.timeout(5):
                held = await self._conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND objid::bigint = :key AND granted"
                    ),
                    {"key": self._key},
                )
        except Exception as exc:
            logger.error("leader lost its lock connection: %s", exc)
            await self._drop()
            return False
        return bool(held)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.invalidate()
                await conn.close()
            except Exception:
                logger.debug("closing a dead lock connection failed", exc_info=True)

    async def release(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
                )
                await self._conn.close()
            except Exception:
                logger.debug("releasing the advisory lock failed", exc_info=True)
            self._conn = None
        await self._engine.dispose()


def elector_for(settings: Settings, name: str, on_notify: Any = None) -> Elector:
    if settings.is_sqlite:
        path = settings.sqlite_path
        if path is None:
            raise RuntimeError("the scheduler needs a file database, not an in-memory one")
        return FileLockElector(path.with_name(path.name + f".{name}.lock"))
    return PostgresElector(settings.DATABASE_URL, name, on_notify)
