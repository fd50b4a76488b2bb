"""The `reddit-bot` command line on a fresh SQLite file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from typer.testing import CliRunner, Result

from app.cli import cli
from app.core.config import Settings, get_settings
from app.db.base import Base
from app.db.migrate import alembic_config
from app.models.user import User
from tests.conftest import free_port, running_app, wait_until

runner = CliRunner()


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A database file that does not exist yet, in a directory that does not either;
    the CLI reads it from DATABASE_URL."""
    path = tmp_path / "state" / "cli.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def run(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(cli, list(args), input=stdin)


def users_in(path: Path) -> list[tuple[str, bool, bool]]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(User.email, User.is_superuser, User.is_active))
            return [(email, superuser, active) for email, superuser, active in rows]
    finally:
        engine.dispose()


def login_status(
    settings_factory: Callable[..., Settings], path: Path, email: str, password: str
) -> int:
    settings = settings_factory(
        DATABASE_URL=f"sqlite+aiosqlite:///{path}",
        SCHEDULER_ENABLED=False,
        FIRST_SUPERUSER_EMAIL=None,
        FIRST_SUPERUSER_PASSWORD=None,
    )

    async def attempt() -> int:
        async with running_app(settings) as (_, client):
            response = await client.post(
                "/api/v1/auth/login", data={"username": email, "password": password}
            )
            return response.status_code

    return asyncio.run(attempt())


def test_create_superuser(db_path: Path, settings_factory: Callable[..., Settings]) -> None:
    result = run("create-superuser", "--email", "root@example.com", "--password", "s3cret-pass")

    assert result.exit_code == 0, result.output
    assert "root@example.com created" in result.stdout
    assert users_in(db_path) == [("root@example.com", True, True)]
    assert login_status(settings_factory, db_path, "root@example.com", "s3cret-pass") == 200
    assert login_status(settings_factory, db_path, "root@example.com", "wrong-pass") == 401


def test_create_superuser_prompts_for_missing_values(db_path: Path) -> None:
    result = run("create-superuser", stdin="root@example.com\ns3cret-pass\ns3cret-pass\n")

    assert result.exit_code == 0, result.output
    assert "s3cret-pass" not in result.output
    assert users_in(db_path) == [("root@example.com", True, True)]


def test_create_superuser_twice_fails_and_changes_nothing(
    db_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    first = run("create-superuser", "--email", "root@example.com", "--password", "s3cret-pass")
    assert first.exit_code == 0, first.output

    second = run("create-superuser", "--email", "ROOT@example.com", "--password", "other-pass")

    assert second.exit_code == 1
    assert "already exists" in second.stderr
    assert "nothing changed" in second.stderr
    assert users_in(db_path) == [("root@example.com", True, True)]
    assert login_status(settings_factory, db_path, "root@example.com", "s3cret-pass") == 200


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        ("not-an-email", "s3cret-pass", "email"),
        ("root@", "s3cret-pass", "email"),
        ("root@example.com", "short", "password"),
    ],
)
def test_create_superuser_rejects_invalid_input(
    db_path: Path, email: str, password: str, field: str
) -> None:
    result = run("create-superuser", "--email", email, "--password", password)

    assert result.exit_code == 2
    assert "invalid input" in result.stderr
    assert field in result.stderr
    assert "Traceback" not in result.output
    assert not db_path.exists()


def test_migrate_builds_a_fresh_database(db_path: Path) -> None:
    result = run("migrate")

    assert result.exit_code == 0, result.output
    assert "up to date" in result.stdout
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    engine = create_engine(f"sqlite:///{db_path}")
    try:
        with engine.connect() as conn:
            assert set(Base.metadata.tables) <= set(inspect(conn).get_table_names())
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == head
            # The embedded database runs in WAL mode.
            assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
    finally:
        engine.dispose()
    # Running it again is a no-op.
    assert run("migrate").exit_code == 0


def test_installed_console_script_migrates(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("reddit-bot")
    assert script.exists(), f"console script missing: {script}"
    path = tmp_path / "fresh.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{path}"}

    completed = subprocess.run(
        [str(script), "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )

    assert completed.returncode == 0, completed.stderr
    assert "up to date" in completed.stdout
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert "users" in inspect(conn).get_table_names()
    finally:
        engine.dispose()


def keyless_env(path: Path) -> dict[str, str]:
    """An environment with no SECRET_KEY, in production, where the old settings refused
    to start without one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRET_KEY")}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{path}",
        ENVIRONMENT="production",
        FIRST_SUPERUSER_EMAIL="root@example.com",
        FIRST_SUPERUSER_PASSWORD="s3cret-pass",
        PASSWORD_HASH_TIME_COST="1",
        PASSWORD_HASH_MEMORY_KIB="1024",
        SCHEDULER_POLL_SECONDS="0.1",
        SCHEDULER_SHUTDOWN_GRACE_SECONDS="1",
    )
    return env


def stored_signing_key(path: Path) -> str:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            key = conn.scalar(text("SELECT value FROM instance_secrets WHERE name = 'jwt_signing'"))
    finally:
        engine.dispose()
    assert isinstance(key, str)
    return key


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return output


def test_serve_starts_without_secret_key_and_signs_with_a_generated_one(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("reddit-bot")
    path = tmp_path / "keyless.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [str(script), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=keyless_env(path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=60, interval=0.1, process=serve)
        tokens = httpx.post(
            f"{url}/api/v1/auth/login",
            data={"username": "root@example.com", "password": "s3cret-pass"},
            timeout=10,
        )
        assert tokens.status_code == 200, tokens.text
        headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        assert httpx.get(f"{url}/api/v1/users/me", headers=headers, timeout=10).status_code == 200
    finally:
        output = stop(serve)
    key = stored_signing_key(path)
    assert "signed with this deployment's generated key" in output
    assert key not in output


def test_scheduler_starts_without_secret_key(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("reddit-bot")
    path = tmp_path / "keyless.db"
    scheduler = subprocess.Popen(
        [str(script), "scheduler"],
        cwd=tmp_path,
        env=keyless_env(path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def leads() -> bool:
        if not path.exists():
            return False
        engine = create_engine(f"sqlite:///{path}")
        try:
            with engine.connect() as conn:
                if "scheduler_leader" not in inspect(conn).get_table_names():
                    return False
                holder = conn.scalar(text("SELECT holder FROM scheduler_leader"))
                return holder is not None and f":{scheduler.pid}:" in holder
        finally:
            engine.dispose()

    try:
        wait_until(leads, timeout=60, interval=0.1, process=scheduler)
    finally:
        output = stop(scheduler)
    assert scheduler.returncode == 0, output
