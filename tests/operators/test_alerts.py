"""Webhook alerts, received by a local HTTP server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.core.config import Settings
from app.db.session import Database
from app.models.task_execution import ExecutionStatus, ExecutionTrigger
from app.tasks.alerts import AlertDispatcher
from app.tasks.outcome import RunOutcome
from tests.conftest import bearer, create_job, login, run_and_wait, running_app, wait_for
from tests.operators.conftest import Delivery, Receiver


def alert_settings(factory: Callable[..., Settings], *urls: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ALERT_WEBHOOK_URLS": list(urls),
        "ALERT_CONSECUTIVE_FAILURES": 2,
        "ALERT_TIMEOUT_SECONDS": 2.0,
        "ALERT_MAX_RETRIES": 2,
        "ALERT_BACKOFF_SECONDS": 0.05,
    }
    return factory(**(values | overrides))


async def add_failing_job(
    client: httpx.AsyncClient, headers: dict[str, str], tmp_path: Path, job_id: str = "flaky"
) -> None:
    await create_job(
        client,
        headers,
        id=job_id,
        name="Flaky",
        task="test_record",
        params={"path": str(tmp_path / job_id), "fail": True},
        trigger={"type": "interval", "hours": 1},
    )


async def settle(seconds: float = 0.5) -> None:
    """Long enough for a delivery that should not happen to have happened."""
    await asyncio.sleep(seconds)


async def test_failures_timeouts_and_a_streak_are_posted(
    settings_factory: Callable[..., Settings], receiver: Receiver, tmp_path: Path
) -> None:
    settings = alert_settings(settings_factory, f"{receiver.url}/ok")
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        await add_failing_job(client, headers, tmp_path)
        first = await run_and_wait(client, headers, "flaky")
        await wait_for(lambda: receiver.events() == ["failed"])
        await run_and_wait(client, headers, "flaky")
        await wait_for(lambda: len(receiver.events()) == 3)
        assert sorted(receiver.events()) == ["consecutive_failures", "failed", "failed"]
        # The streak is announced once, when it reaches the threshold.
        await run_and_wait(client, headers, "flaky")
        await wait_for(lambda: len(receiver.events()) == 4)
        await settle()
        assert receiver.events().count("consecutive_failures") == 1

        await create_job(
            client,
            headers,
            id="sluggish",
            task="test_sleep",
            params={"seconds": 10},
            trigger={"type": "interval", "hours": 1},
            timeout_seconds=0.2,
        )
        timed_out = await run_and_wait(client, headers, "sluggish")
        assert timed_out["status"] == "timeout"
        await wait_for(lambda: "timeout" in receiver.events())

        await create_job(
            client,
            headers,
            id="fine",
            task="test_record",
            params={"path": str(tmp_path / "fine")},
            trigger={"type": "interval", "hours": 1},
        )
        await run_and_wait(client, headers, "fine")
        await settle()

    bodies = [d.body for d in receiver.received()]
    assert {b["job_id"] for b in bodies} == {"flaky", "sluggish"}  # success: no alert
    failed = next(b for b in bodies if b["event"] == "failed")
    assert failed["execution_id"] == first["id"]
    assert failed["status"] == "failed"
    assert failed["job_name"] == "Flaky"
    assert failed["task"] == "test_record"
    assert failed["trigger"] == "manual"
    assert "boom" in failed["error_message"]
    assert "flaky" in failed["text"]
    streak = next(b for b in bodies if b["event"] == "consecutive_failures")
    assert streak["consecutive_failures"] == 2
    timeout = next(b for b in bodies if b["event"] == "timeout")
    assert timeout["job_id"] == "sluggish"
    assert timeout["status"] == "timeout"


async def test_a_missed_run_is_posted(
    settings_factory: Callable[..., Settings], receiver: Receiver, tmp_path: Path
) -> None:
    settings = alert_settings(settings_factory, f"{receiver.url}/ok")
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        await create_job(
            client,
            headers,
            id="late",
            task="test_record",
            params={"path": str(tmp_path / "late")},
            trigger={
                "type": "date",
                "run_date": (datetime.now(UTC) + timedelta(seconds=2)).isoformat(),
            },
            misfire_grace_time=1,
        )
    await asyncio.sleep(4)  # down while the job was due
    async with running_app(settings):
        await wait_for(lambda: receiver.events() == ["missed"], timeout=10)
    [missed] = receiver.received()
    assert missed.body["job_id"] == "late"
    assert missed.body["trigger"] == "scheduled"
    assert missed.body["scheduled_at"] is not None


async def test_a_failing_webhook_is_retried_a_bounded_number_of_times(
    settings_factory: Callable[..., Settings],
    receiver: Receiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="app.tasks.alerts")
    settings = alert_settings(
        settings_factory,
        f"{receiver.url}/fail",
        f"{receiver.url}/ok",
        ALERT_CONSECUTIVE_FAILURES=0,
        ALERT_MAX_RETRIES=2,
        ALERT_BACKOFF_SECONDS=0.2,
    )
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        await add_failing_job(client, headers, tmp_path)
        run = await run_and_wait(client, headers, "flaky")
        await wait_for(lambda: len(receiver.received("/fail")) == 3)
        await settle(1.0)
        # 1 + ALERT_MAX_RETRIES attempts, then it gives up; the other URL got it once.
        assert len(receiver.received("/fail")) == 3
        assert len(receiver.received("/ok")) == 1
        times = [d.at for d in receiver.received("/fail")]
        assert times[1] - times[0] >= 0.2
        assert times[2] - times[1] >= 0.4  # backing off
        # The run's own record is what the run did.
        detail = await client.get(f"/api/v1/tasks/executions/{run['id']}", headers=headers)
        assert detail.json()["status"] == "failed"
        assert "boom" in detail.json()["error_message"]
        job = (await client.get("/api/v1/tasks/flaky", headers=headers)).json()
        assert job["paused"] is False
        assert job["last_status"] == "failed"
    assert "not delivered after 3 attempt(s)" in caplog.text
    assert "HTTP 500" in caplog.text


async def test_a_webhook_that_never_answers_does_not_hold_up_the_job(
    settings_factory: Callable[..., Settings],
    receiver: Receiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="app.tasks.alerts")
    settings = alert_settings(
        settings_factory,
        f"{receiver.url}/slow",
        ALERT_CONSECUTIVE_FAILURES=0,
        ALERT_TIMEOUT_SECONDS=0.3,
        ALERT_MAX_RETRIES=1,
    )
    engine = create_engine(settings.sync_database_url)

    def stored_status(execution_id: int) -> str:
        with engine.connect() as connection:
            status: str = connection.execute(
                text("SELECT status FROM task_executions WHERE id = :id"), {"id": execution_id}
            ).scalar_one()
        return status

    # What each run's row held when an attempt of its alert reached the webhook.
    at_arrival: list[tuple[int, str]] = []

    def record(delivery: Delivery) -> None:
        execution_id = delivery.body["execution_id"]
        at_arrival.append((execution_id, stored_status(execution_id)))

    receiver.on_delivery = record
    try:
        async with running_app(settings) as (_, client):
            headers = bearer(await login(client, "admin@example.com"))
            await add_failing_job(client, headers, tmp_path)
            first = await run_and_wait(client, headers, "flaky")
            # The next run is not held up by the first run's alert still being tried.
            second = await run_and_wait(client, headers, "flaky")
            await wait_for(lambda: len(receiver.received("/slow")) >= 4, timeout=10)
            await settle(1.0)
            assert len(receiver.received("/slow")) == 4  # two alerts, two attempts each
        final = {run["id"]: stored_status(run["id"]) for run in (first, second)}
    finally:
        engine.dispose()
    for run in (first, second):
        assert run["status"] == "failed"
    # Every attempt found its run's row already final: the run was recorded without
    # waiting for the webhook.
    assert sorted(at_arrival) == sorted(
        [(first["id"], final[first["id"]])] * 2 + [(second["id"], final[second["id"]])] * 2
    )
    assert "no answer within 0.3 s" in caplog.text


async def test_no_urls_means_no_alerts(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path, app: Any
) -> None:
    await add_failing_job(client, admin_headers, tmp_path)
    await run_and_wait(client, admin_headers, "flaky")
    scheduler = app.state.scheduler_candidate.scheduler
    assert scheduler.alerts.urls == []
    assert scheduler.alerts.pending == 0


def test_webhook_urls_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URLS", "http://127.0.0.1:9/a, https://hooks.example.com/b")
    assert Settings(_env_file=None).ALERT_WEBHOOK_URLS == [
        "http://127.0.0.1:9/a",
        "https://hooks.example.com/b",
    ]
    monkeypatch.setenv("ALERT_WEBHOOK_URLS", "ftp://nope")
    with pytest.raises(ValueError, match="not an http"):
        Settings(_env_file=None)


async def test_missed_runs_of_one_job_make_one_alert(
    settings_factory: Callable[..., Settings], receiver: Receiver, database: Database
) -> None:
    """A scheduler that fell behind records each fire time it skipped as missed; the
    webhook hears of them once per job."""
    dispatcher = AlertDispatcher(
        alert_settings(settings_factory, f"{receiver.url}/ok"), database, "runner-1"
    )
    now = datetime.now(UTC)

    def missed(job_id: str, seconds_ago: int) -> RunOutcome:
        return RunOutcome(
            job_id=job_id,
            job_name=job_id.title(),
            task="test_record",
            status=ExecutionStatus.MISSED,
            trigger=ExecutionTrigger.SCHEDULED,
            execution_id=None,
            scheduled_at=now - timedelta(seconds=seconds_ago),
            started_at=None,
            finished_at=now,
            error_message="Coalesced into a later run",
        )

    for seconds_ago in (50, 40, 30, 20, 10):
        dispatcher.notify(missed("behind", seconds_ago))
    dispatcher.notify(missed("other", 5))
    await dispatcher.aclose(timeout=5)

    bodies = {d.body["job_id"]: d.body for d in receiver.received()}
    assert len(receiver.received()) == 2
    assert bodies["behind"]["missed_runs"] == 5
    assert bodies["behind"]["first_scheduled_at"] == (now - timedelta(seconds=50)).isoformat()
    assert bodies["behind"]["scheduled_at"] == (now - timedelta(seconds=10)).isoformat()
    assert bodies["behind"]["text"] == "Job behind (Behind) missed 5 runs"
    assert bodies["other"]["missed_runs"] == 1
    assert bodies["other"]["text"] == "Job other (Other) missed its run"
