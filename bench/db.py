"""Scratch databases for the benchmarks, and the bulk data they start from.

Every session gets a database of its own, built by a recipe on top of the migrated
schema and the superuser. A recipe is built once and copied after that: a PostgreSQL
template database (`CREATE DATABASE ... TEMPLATE`), a SQLite file copy. Bulk data goes in
with set-based SQL (`INSERT ... SELECT` over a generated series, `COPY` for pickled jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, create_engine, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.core.config import Settings
from app.db.migrate import upgrade
from app.db.session import sqlite_pragmas
from bench.jobstore import JobRow

SECRET_KEY = "bench-secret-key-0123456789-0123456789-abcdef"
SUPERUSER_EMAIL = "admin@example.com"
SUPERUSER_PASSWORD = "correct-horse-battery"
SUPERUSER_ID = 1
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DAY = 86_400


def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, DATABASE_URL=url, SECRET_KEY=SECRET_KEY)


def sync_engine(url: str) -> Engine:
    """A synchronous engine on the database of an async URL (psycopg 3 / sqlite3)."""
    sync = settings_for(url).sync_database_url
    if sync.startswith("sqlite"):
        engine = create_engine(sync, poolclass=NullPool, connect_args={"timeout": 60})
        event.listen(engine, "connect", sqlite_pragmas)
        return engine
    return create_engine(sync, poolclass=NullPool)


@dataclass(frozen=True)
class Recipe:
    """Data a session starts from. `key` names it, so it is built only once."""

    key: str
    build: Callable[[Engine], None]


EMPTY = Recipe("empty", lambda _engine: None)


# Alembic's `context` is module state: one migration at a time in this process.
_MIGRATING = threading.Lock()


def _base(url: str) -> None:
    """Migrations, and the superuser every contender's API authenticates."""
    from app.core.security import hash_password
    from app.models.user import User

    with _MIGRATING:
        upgrade(settings_for(url).sync_database_url)
    engine = sync_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(cast(Table, User.__table__)).values(
                id=SUPERUSER_ID,
                email=SUPERUSER_EMAIL,
                hashed_password=asyncio.run(hash_password(SUPERUSER_PASSWORD)),
                full_name="Bench Admin",
                is_active=True,
                is_superuser=True,
                created_at=now,
                updated_at=now,
            )
        )
        if engine.dialect.name == "postgresql":
            # Keep the sequence ahead of the explicit id.
            conn.execute(text("SELECT setval('users_id_seq', 1)"))
    engine.dispose()


class Backend(ABC):
    name: str
    # Whether sessions may run side by side (each on a database of its own).
    concurrent = True

    @abstractmethod
    def prepare(self, recipe: Recipe) -> str:
        """A fresh database holding `recipe`'s data; returns its async URL."""

    @abstractmethod
    def release(self, url: str) -> None: ...

    def forget(self, recipe: Recipe) -> None:  # noqa: B027 (most backends keep none)
        """Drop `recipe`'s template, if one was kept (for big data used once)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def version(self) -> str: ...

    def server_started(self) -> str | None:
        """When the server last started (a restart during a run spoils it)."""
        return None


class SQLiteFiles(Backend):
    name = "sqlite"

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="reddit-bot-bench-"))
        self.templates: dict[str, Path] = {}
        self.count = 0
        # Sessions side by side: a template is built once, and only ever copied whole.
        self._lock = threading.RLock()

    def _url(self, path: Path) -> str:
        return f"sqlite+aiosqlite:///{path}"

    def _template(self, recipe: Recipe) -> Path:
        with self._lock:
            return self._built(recipe)

    def _built(self, recipe: Recipe) -> Path:
        if recipe.key not in self.templates:
            path = self.root / f"template-{recipe.key}.db"
            _base(self._url(path))
            engine = sync_engine(self._url(path))
            recipe.build(engine)
            with engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            self.templates[recipe.key] = path
        return self.templates[recipe.key]

    def prepare(self, recipe: Recipe) -> str:
        with self._lock:
            template = self._template(recipe)
            self.count += 1
            path = self.root / f"session-{self.count}.db"
        shutil.copyfile(template, path)
        return self._url(path)

    def forget(self, recipe: Recipe) -> None:
        with self._lock:
            path = self.templates.pop(recipe.key, None)
        if path is not None:
            self.release(self._url(path))

    def release(self, url: str) -> None:
        path = Path(make_url(url).database or "")
        for extra in ("", "-wal", "-shm", ".scheduler.lock"):
            Path(f"{path}{extra}").unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def version(self) -> str:
        return sqlite3.sqlite_version


class PostgresScratch(Backend):
    """Scratch databases on a server, dropped afterwards (templates included)."""

    name = "postgresql"

    def __init__(self, server_url: str) -> None:
        parsed = make_url(server_url).set(drivername="postgresql+asyncpg")
        self.server = parsed
        self.admin = create_engine(
            parsed.set(drivername="postgresql+psycopg", database="postgres"),
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,
        )
        self.prefix = f"bench_{uuid.uuid4().hex[:8]}"
        self.templates: dict[str, str] = {}
        self.sessions: set[str] = set()
        self.count = 0
        # Sessions side by side: a template is built once, and copied only when built.
        self._lock = threading.RLock()

    def _url(self, database: str) -> str:
        return self.server.set(database=database).render_as_string(hide_password=False)

    def _create(self, database: str, template: str | None = None) -> None:
        sql = f'CREATE DATABASE "{database}"'
        if template is not None:
            sql += f' TEMPLATE "{template}" STRATEGY FILE_COPY'
        with self.admin.connect() as conn:
            conn.exec_driver_sql(sql)

    def _drop(self, database: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def _template(self, recipe: Recipe) -> str:
        with self._lock:
            return self._built(recipe)

    def _built(self, recipe: Recipe) -> str:
        if "empty" not in self.templates:
            database = f"{self.prefix}_t_empty"
            self._create(database)
            self.templates["empty"] = database
            _base(self._url(database))
        if recipe.key not in self.templates:
            database = f"{self.prefix}_t_{recipe.key}"
            self._create(database, self.templates["empty"])
            self.templates[recipe.key] = database
            engine = sync_engine(self._url(database))
            recipe.build(engine)
            vacuum_analyze(engine)
            engine.dispose()
        return self.templates[recipe.key]

    def prepare(self, recipe: Recipe) -> str:
        with self._lock:
            template = self._template(recipe)
            self.count += 1
            database = f"{self.prefix}_s{self.count}"
            # A copy of a template while it is copied again fails: one at a time.
            self._create(database, template)
            self.sessions.add(database)
        return self._url(database)

    def forget(self, recipe: Recipe) -> None:
        with self._lock:
            database = self.templates.pop(recipe.key, None)
        if database is not None:
            self._drop(database)

    def release(self, url: str) -> None:
        database = make_url(url).database or ""
        with self._lock:
            known = database in self.sessions
            self.sessions.discard(database)
        if known:
            self._drop(database)

    def close(self) -> None:
        for database in [*self.sessions, *self.templates.values()]:
            try:
                self._drop(database)
            except Exception as exc:
                log(f"could not drop {database}: {exc}")
        self.admin.dispose()

    def version(self) -> str:
        with self.admin.connect() as conn:
            return str(conn.exec_driver_sql("SHOW server_version").scalar())

    def server_started(self) -> str | None:
        with self.admin.connect() as conn:
            return str(conn.exec_driver_sql("SELECT pg_postmaster_start_time()").scalar())


class PostgresGiven(Backend):
    """`BENCH_DATABASE_URL`: one database, emptied and rebuilt for every session."""

    name = "postgresql"
    concurrent = False

    def __init__(self, url: str) -> None:
        self.url = make_url(url).set(drivername="postgresql+asyncpg").render_as_string(False)

    def prepare(self, recipe: Recipe) -> str:
        engine = sync_engine(self.url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        _base(self.url)
        recipe.build(engine)
        vacuum_analyze(engine)
        engine.dispose()
        return self.url

    def release(self, url: str) -> None:
        pass

    def close(self) -> None:
        pass

    def version(self) -> str:
        return self._scalar("SHOW server_version")

    def server_started(self) -> str | None:
        return self._scalar("SELECT pg_postmaster_start_time()")

    def _scalar(self, sql: str) -> str:
        engine = sync_engine(self.url)
        try:
            with engine.connect() as conn:
                return str(conn.exec_driver_sql(sql).scalar())
        finally:
            engine.dispose()


def postgres_backend() -> Backend | None:
    """`BENCH_DATABASE_URL` if set, else scratch databases on the local server; None
    when no server answers."""
    given = os.environ.get("BENCH_DATABASE_URL")
    backend: Backend = PostgresGiven(given) if given else PostgresScratch(DEFAULT_POSTGRES)
    try:
        backend.version()
    except Exception as exc:
        log(f"PostgreSQL unavailable ({type(exc).__name__}: {exc}); its benchmarks are skipped")
        return None
    return backend


def vacuum_analyze(engine: Engine) -> None:
    """What autovacuum would have done by the time a real table got this big."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    os.write(2, f"[bench {stamp}] {message}\n".encode())


# --- bulk data ---------------------------------------------------------------------


def insert_job_rows(engine: Engine, rows: Iterable[JobRow]) -> int:
    """`apscheduler_jobs` rows: `COPY` on PostgreSQL, one batched insert on SQLite."""
    count = 0
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            copy_sql = "COPY apscheduler_jobs (id, next_run_time, job_state) FROM STDIN"
            with cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            raw.commit()
        finally:
            raw.close()
        return count
    # Big transactions, not the whole store in memory at once.
    batch: list[JobRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == 100_000:
            count += _insert_sqlite_jobs(engine, batch)
            batch = []
    return count + _insert_sqlite_jobs(engine, batch)


def _insert_sqlite_jobs(engine: Engine, rows: list[JobRow]) -> int:
    if rows:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO apscheduler_jobs (id, next_run_time, job_state) VALUES (?, ?, ?)",
                rows,
            )
    return len(rows)


TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "app/tasks/scheduler.py", line 240, in _run_once\n'
    "    result = await job.func(*job.args, **job.kwargs)\n"
    "ValueError: bench failure\n"
)


def _history_params(
    jobs: int,
    runs_per_job: int,
    expired_per_job: int | None = None,
    old_span_s: int = 29 * DAY,
    new_span_s: int = 29 * DAY,
) -> dict[str, Any]:
    half = runs_per_job // 2 if expired_per_job is None else expired_per_job
    return {
        "jobs": jobs,
        "total": jobs * runs_per_job,
        "half": half,
        "rest": max(runs_per_job - half, 1),
        # The first `half` runs of each job: from `old_span_s` past the 30-day retention
        # up to 31 days old (expired); the rest: from `new_span_s` old up to a few
        # minutes old.
        "old_max": 31 * DAY + old_span_s,
        "old_span": old_span_s,
        "new_max": new_span_s,
        "new_span": new_span_s,
        "now": int(time.time()),
        "traceback": TRACEBACK,
    }


_PG_HISTORY = """
INSERT INTO task_executions (job_id, job_name, task, status, "trigger", scheduled_at,
    started_at, completed_at, duration_seconds, result, error_message, error_traceback,
    runner, created_at)
SELECT
    'hist_' || lpad(j::text, 6, '0'),
    'hist_' || lpad(j::text, 6, '0'),
    'bench_noop',
    CASE WHEN h < 3 THEN 'failed' WHEN h < 4 THEN 'timeout' ELSE 'success' END,
    'scheduled',
    ts, ts, ts + interval '1 second',
    0.001 + ((i * 104729) % 1000) / 10000.0,
    CASE WHEN h >= 4 THEN jsonb_build_object('t', extract(epoch FROM ts)) END,
    CASE WHEN h < 3 THEN 'ValueError: bench failure'
         WHEN h < 4 THEN 'task did not finish within 60 s' END,
    CASE WHEN h < 3 THEN :traceback END,
    'bench',
    ts
FROM (
    SELECT i, j, h, to_timestamp(:now - age) + j * interval '1 millisecond' AS ts
    FROM (
        SELECT i, i % :jobs AS j, (i * 7919) % 100 AS h,
            CASE WHEN i / :jobs < :half
                THEN :old_max - (i / :jobs) * :old_span / :half
                ELSE :new_max - (i / :jobs - :half) * :new_span / :rest
            END AS age
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) AS i
    ) a
) b
"""

_SQLITE_HISTORY = """
INSERT INTO task_executions (job_id, job_name, task, status, "trigger", scheduled_at,
    started_at, completed_at, duration_seconds, result, error_message, error_traceback,
    runner, created_at)
WITH RECURSIVE n(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :hi)
SELECT
    printf('hist_%06d', j),
    printf('hist_%06d', j),
    'bench_noop',
    CASE WHEN h < 3 THEN 'failed' WHEN h < 4 THEN 'timeout' ELSE 'success' END,
    'scheduled',
    stamp, stamp,
    strftime('%Y-%m-%d %H:%M:%S', ts + 1, 'unixepoch') || printf('.%06d', j * 1000),
    0.001 + ((i * 104729) % 1000) / 10000.0,
    CASE WHEN h >= 4 THEN json_object('t', ts + j / 1000.0) END,
    CASE WHEN h < 3 THEN 'ValueError: bench failure'
         WHEN h < 4 THEN 'task did not finish within 60 s' END,
    CASE WHEN h < 3 THEN :traceback END,
    'bench',
    stamp
FROM (
    SELECT i, j, h, ts,
        strftime('%Y-%m-%d %H:%M:%S', ts, 'unixepoch') || printf('.%06d', j * 1000) AS stamp
    FROM (
        SELECT i, i % :jobs AS j, (i * 7919) % 100 AS h,
            :now - CASE WHEN i / :jobs < :half
                THEN :old_max - (i / :jobs) * :old_span / :half
                ELSE :new_max - (i / :jobs - :half) * :new_span / :rest
            END AS ts
        FROM n
    )
)
"""


def history_recipe(
    jobs: int,
    runs_per_job: int,
    *,
    expired_per_job: int | None = None,
    old_span_s: int = 29 * DAY,
    new_span_s: int = 29 * DAY,
) -> Recipe:
    """`jobs * runs_per_job` finished runs (`hist_%06d`), `expired_per_job` of each job's
    (by default half) older than the 30-day retention. ~96% success, 3% failed (with a
    traceback), 1% timeout. Millions of rows go in without the table's indexes, which
    are built again afterwards from their own definitions."""

    def build(engine: Engine) -> None:
        params = _history_params(jobs, runs_per_job, expired_per_job, old_span_s, new_span_s)
        started = time.monotonic()
        chunk = 1_000_000 if engine.dialect.name == "postgresql" else 200_000
        with _without_indexes(engine, "task_executions"):
            for lo in range(0, params["total"], chunk):
                hi = min(lo + chunk, params["total"])
                with engine.begin() as conn:
                    if engine.dialect.name == "postgresql":
                        conn.execute(text(_PG_HISTORY), {**params, "lo": lo, "hi": hi})
                    else:
                        conn.execute(text(_SQLITE_HISTORY), {**params, "lo": lo, "hi": hi})
        log(
            f"  {params['total']:,} executions inserted on {engine.dialect.name} "
            f"in {time.monotonic() - started:.1f} s"
        )

    key = f"history_{jobs}x{runs_per_job}"
    if expired_per_job is not None:
        key += f"_e{expired_per_job}_{old_span_s}_{new_span_s}"
    return Recipe(key, build)


@contextlib.contextmanager
def _without_indexes(engine: Engine, table: str) -> Iterator[None]:
    """Drop `table`'s secondary indexes for a bulk load, and create them again from
    their stored definitions after it."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            found = conn.execute(
                text(
                    "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                    "JOIN pg_class c ON c.relname = i.indexname "
                    "JOIN pg_index x ON x.indexrelid = c.oid "
                    "WHERE i.tablename = :t AND NOT x.indisprimary"
                ),
                {"t": table},
            ).all()
        else:
            found = conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master "
                    "WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
                ),
                {"t": table},
            ).all()
        for name, _definition in found:
            conn.execute(text(f'DROP INDEX "{name}"'))
    try:
        yield
    finally:
        started = time.monotonic()
        for _name, definition in found:
            with engine.begin() as conn:
                conn.execute(text(definition))
        log(f"  {len(found)} indexes of {table} built in {time.monotonic() - started:.1f} s")


def bot_configs_recipe(count: int) -> Recipe:
    """`count` active bot configs with auto-scrape on, every 6 hours."""

    def build(engine: Engine) -> None:
        from app.models.bot_config import BotConfig

        now = datetime.now(UTC)
        rows = [
            {
                "owner_id": SUPERUSER_ID,
                "name": f"bench bot {i}",
                "description": None,
                "subreddits": ["python"],
                "keywords": [],
                "sort": "new",
                "time_filter": "day",
                "posts_limit": 25,
                "include_comments": True,
                "comments_limit": 20,
                "is_active": True,
                "auto_scrape_enabled": True,
                "scrape_interval_hours": 6,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(count)
        ]
        with engine.begin() as conn:
            conn.execute(insert(cast(Table, BotConfig.__table__)), rows)

    return Recipe(f"bots_{count}", build)


def jobs_recipe(key: str, rows: Callable[[], Iterable[JobRow]]) -> Recipe:
    def build(engine: Engine) -> None:
        started = time.monotonic()
        count = insert_job_rows(engine, rows())
        log(
            f"  {count:,} stored jobs inserted on {engine.dialect.name} "
            f"in {time.monotonic() - started:.1f} s"
        )

    return Recipe(key, build)


def json_value(value: Any) -> Any:
    """A JSON column's value as read through a plain driver (text on SQLite)."""
    if isinstance(value, str):
        return json.loads(value)
    return value
