"""Test fixtures: a real, migrated database (SQLite always; PostgreSQL when
`TEST_BACKEND=postgresql` and `TEST_DATABASE_URL` are set), emptied after each test,
and the real app served over ASGI with its scheduler thread running."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.db.base import Base
from app.db.migrate import upgrade
from app.db.session import Database, sqlite_pragmas
from app.main import create_app

BACKEND = os.environ.get("TEST_BACKEND", "sqlite")
PASSWORD = "correct-horse-battery"


# Set by pytest-xdist in each of its workers ("gw0", "gw1", ...); absent in a plain run.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.exit("TEST_BACKEND=postgresql needs TEST_DATABASE_URL", returncode=2)
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def _sync_url(url: str) -> str:
    return Settings(DATABASE_URL=url).sync_database_url


def _sync_engine(url: str, **options: Any) -> Engine:
    return create_engine(_sync_url(url), **options)


@contextmanager
def _worker_database(url: str) -> Iterator[str]:
    """Under xdist, each worker empties tables after every test, so workers cannot
    share one database: each gets its own beside TEST_DATABASE_URL's (created from
    nothing, dropped at the end)."""
    if not WORKER:
        yield url
        return
    parsed = make_url(url)
    name = f"{parsed.database}_{WORKER}"
    admin = _sync_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the whole run: a fresh SQLite file, or the PostgreSQL
    scratch database with its schema dropped and migrated from nothing."""
    if BACKEND != "postgresql":
        path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(_sync_url(url))
        yield url
        return
    with _worker_database(_postgres_url()) as url:
        engine = _sync_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(_sync_url(url))
        yield url


def _empty_all_tables(url: str) -> None:
    engine = _sync_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            sqlite_pragmas(conn.connection.dbapi_connection, None)
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


@pytest.fixture
def settings_factory(database_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "DATABASE_URL": database_url,
            "ENVIRONMENT": "test",
            "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
            # Cheap hashes: the suite logs in hundreds of times.
            "PASSWORD_HASH_TIME_COST": 1,
            "PASSWORD_HASH_MEMORY_KIB": 1024,
            "SCHEDULER_ENABLED": True,
            # Generous: a leader is taken for dead after this long without a heartbeat,
            # and a stall of the shared test machine must not look like one. The
            # failover tests set their own.
            "SCHEDULER_FAILOVER_SECONDS": 10.0,
            "SCHEDULER_POLL_SECONDS": 0.05,
            "SCHEDULER_SHUTDOWN_GRACE_SECONDS": 2.0,
            "SCHEDULER_COMMAND_TIMEOUT_SECONDS": 10.0,
            "FIRST_SUPERUSER_EMAIL": "admin@example.com",
            "FIRST_SUPERUSER_PASSWORD": PASSWORD,
            "REDDIT_CLIENT_ID": None,
            "REDDIT_CLIENT_SECRET": None,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture(autouse=True)
def _clean_database(database_url: str) -> Iterator[None]:
    yield
    _empty_all_tables(database_url)


def free_port() -> int:
    """A port nothing listens on now (for a server to take, or for "unreachable")."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 15.0,
    interval: float = 0.05,
    process: subprocess.Popen[Any] | None = None,
) -> Any:
    """Poll `predicate` (synchronous) until it returns something truthy; fail at once if
    `process` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if process is not None:
            assert process.poll() is None, "the process exited"
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


async def wait_for(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll `predicate` (sync or async) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def executions(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/tasks/{job_id}/executions", headers=headers, params=params
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


# A run in one of these has no outcome yet.
UNFINISHED = frozenset({"queued", "running", "waiting"})


async def finished(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str, count: int = 1
) -> list[dict[str, Any]]:
    async def done() -> list[dict[str, Any]] | None:
        rows = await executions(client, headers, job_id)
        ended = [r for r in rows if r["status"] not in UNFINISHED]
        return ended if len(ended) >= count else None

    result: list[dict[str, Any]] = await wait_for(done, timeout=20)
    return result


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan run (migrations are already applied), and a client. With
    the scheduler enabled, waits until this process leads."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        service = app.state.scheduler_candidate
        if service is not None:
            # A bound for a busy machine, where taking the lead (migrated store, job
            # store load, first firing round) was seen to take over 10 s.
            await wait_for(lambda: service.is_leader, timeout=30)
            # The leader row is what API writes check before sending a command.
            await wait_for(lambda: leader_alive(app), timeout=30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


async def leader_alive(app: FastAPI) -> bool:
    async with app.state.db.sessionmaker() as db:
        return bool((await app.state.scheduler_client.leader(db)).alive)


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(settings) as pair:
        yield pair


@pytest.fixture
async def client(app_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_client[1]


@pytest.fixture
def app(app_client: tuple[FastAPI, httpx.AsyncClient]) -> FastAPI:
    return app_client[0]


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/login", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await login(client, "admin@example.com"))


@pytest.fixture
async def make_user(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> Callable[..., Any]:
    """Create a user through the API and return `(user_json, auth_headers)`."""

    async def make(
        email: str | None = None,
        *,
        superuser: bool = False,
        active: bool = True,
        role: str | None = None,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        response = await client.post(
            "/api/v1/users",
            headers=admin_headers,
            json={
                "email": email,
                "password": PASSWORD,
                "is_superuser": superuser,
                "is_active": True,
                "role": role,
            },
        )
        assert response.status_code == 201, response.text
        headers = bearer(await login(client, email))
        if not active:
            user_id = response.json()["id"]
            update = await client.patch(
                f"/api/v1/users/{user_id}", headers=admin_headers, json={"is_active": False}
            )
            assert update.status_code == 200, update.text
        return response.json(), headers

    return make


@pytest.fixture
async def user_headers(make_user: Callable[..., Any]) -> dict[str, str]:
    _, headers = await make_user()
    result: dict[str, str] = headers
    return result


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The test database, for setup and for checking what was stored."""
    db = Database(database_url)
    yield db
    await db.dispose()


# --- the task API, as the tests drive it -------------------------------------------


async def create_job(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post("/api/v1/tasks", headers=headers, json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def run_and_wait(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str
) -> dict[str, Any]:
    """Run a job now and return its finished execution."""
    response = await client.post(f"/api/v1/tasks/{job_id}/run", headers=headers)
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]

    async def finished() -> dict[str, Any] | None:
        row = await client.get(f"/api/v1/tasks/executions/{execution_id}", headers=headers)
        body: dict[str, Any] = row.json()
        return body if body["status"] not in UNFINISHED else None

    result: dict[str, Any] = await wait_for(finished, timeout=30)
    return result


# The leader's heartbeat changes on its own; every other table must stay as it was.
VOLATILE_TABLES = {"scheduler_leader"}


async def stored_state(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row, by table: equal before and after a request that was refused."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    async with database.sessionmaker() as db:
        for table in Base.metadata.sorted_tables:
            if table.name in VOLATILE_TABLES:
                continue
            rows = await db.execute(select(table).order_by(*table.primary_key.columns))
            state[table.name] = [tuple(row) for row in rows]
    return state


async def assert_job_field_refused(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    database: Database,
    job: dict[str, Any],
    change: dict[str, Any],
    named: str,
) -> None:
    """`change` is refused (422 naming `named`) both on a new job like `job` and as a
    PATCH of `job`, which exists already; nothing stored changes."""
    before = await stored_state(database)
    created = await client.post(
        "/api/v1/tasks", headers=headers, json={**job, "id": "refused", **change}
    )
    patched = await client.patch(f"/api/v1/tasks/{job['id']}", headers=headers, json=change)
    for response in (created, patched):
        assert response.status_code == 422, response.text
        assert named in response.text
    assert await stored_state(database) == before
