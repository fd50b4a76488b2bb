"""`reddit-bot worker` and the executor settings refused before anything starts: each
refusal names the setting or option, exits 2, and touches no database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from app.cli import cli
from app.core.config import get_settings

runner = CliRunner()
POSTGRES_URL = "postgresql+asyncpg://nobody@127.0.0.1:1/never"


@pytest.fixture(autouse=True)
def fresh_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "worker.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def run(*args: str) -> Result:
    return runner.invoke(cli, list(args))


def test_broker_executor_on_sqlite_is_refused(
    monkeypatch: pytest.MonkeyPatch, fresh_settings: Path
) -> None:
    monkeypatch.setenv("EXECUTOR", "broker")
    monkeypatch.setenv("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
    for command in ("worker", "scheduler", "serve"):
        result = run(command)
        assert result.exit_code == 2, result.output
        assert "EXECUTOR=broker needs PostgreSQL" in result.output
    assert not fresh_settings.exists()


def test_broker_executor_without_a_broker_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    monkeypatch.setenv("EXECUTOR", "broker")
    result = run("worker")
    assert result.exit_code == 2, result.output
    assert "BROKER_URL" in result.output


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXECUTOR", "threads"),
        ("WORKER_CONCURRENCY", "0"),
        ("WORKER_LEASE_SECONDS", "-1"),
        ("WORKER_SHUTDOWN_GRACE_SECONDS", "soon"),
        ("BROKER_REPUBLISH_SECONDS", "0"),
    ],
)
def test_a_bad_executor_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, fresh_settings: Path, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    result = run("worker")
    assert result.exit_code == 2, result.output
    assert f"invalid setting {name}" in result.output
    assert not fresh_settings.exists()


def test_a_heartbeat_not_shorter_than_the_lease_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKER_HEARTBEAT_SECONDS", "10")
    monkeypatch.setenv("WORKER_LEASE_SECONDS", "10")
    result = run("worker")
    assert result.exit_code == 2, result.output
    assert "WORKER_HEARTBEAT_SECONDS must be shorter than WORKER_LEASE_SECONDS" in result.output


def test_worker_needs_the_broker_executor(fresh_settings: Path) -> None:
    result = run("worker")
    assert result.exit_code == 2, result.output
    assert "needs EXECUTOR=broker" in result.output
    assert not fresh_settings.exists()


@pytest.mark.parametrize("queues", ["gpu", "io,gpu", ",", ""])
def test_unknown_queues_are_named(monkeypatch: pytest.MonkeyPatch, queues: str) -> None:
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    monkeypatch.setenv("EXECUTOR", "broker")
    monkeypatch.setenv("BROKER_URL", "amqp://guest:guest@127.0.0.1:1/")
    result = run("worker", "--queues", queues)
    assert result.exit_code == 2, result.output
    assert "--queues" in result.output
