"""The scheduler's promises across restarts, crashes and a second scheduler."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from app.core.config import Settings
from app.db.session import Database
from app.models.task_execution import ExecutionStatus, TaskExecution
from app.tasks.registry import JobSpec
from app.tasks.scheduler import EnhancedScheduler
from app.tasks.trigger_specs import IntervalSpec
from tests.conftest import (
    PASSWORD,
    bearer,
    create_job,
    executions,
    finished,
    leader_alive,
    login,
    running_app,
    wait_for,
)
from tests.tasks.sample_tasks import lines

ROOT = Path(__file__).resolve().parents[2]


async def _admin(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await login(client, "admin@example.com", PASSWORD))


async def test_pause_and_next_run_time_survive_a_restart(settings: Settings) -> None:
    async with running_app(settings) as (_, client):
        headers = await _admin(client)
        await client.post("/api/v1/tasks/cleanup_sessions/pause", headers=headers)
        before = {
            j["id"]: j for j in (await client.get("/api/v1/tasks", headers=headers)).json()["items"]
        }
    await asyncio.sleep(1.1)  # a restart later than boot time would show in an interval
    async with running_app(settings) as (_, client):
        headers = await _admin(client)
        after = {
            j["id"]: j for j in (await client.get("/api/v1/tasks", headers=headers)).json()["items"]
        }
    assert after["cleanup_sessions"]["paused"] is True
    assert after["cleanup_tokens"]["next_run_time"] == before["cleanup_tokens"]["next_run_time"]
    assert after == before


async def test_changed_builtin_trigger_reschedules_but_keeps_pause(
    settings: Settings, database: Database
) -> None:
    async with running_app(settings) as (_, client):
        headers = await _admin(client)
        await client.post("/api/v1/tasks/cleanup_tokens/pause", headers=headers)
    # An older release stored a different trigger for the job: a start must fix the
    # trigger and still leave the job paused.
    scheduler = EnhancedScheduler(settings, database)
    await scheduler.start()
    scheduler.ensure_job(
        JobSpec(
            id="cleanup_tokens",
            name="Clean up expired tokens",
            task="cleanup_expired_tokens",
            trigger=IntervalSpec(hours=5),
        )
    )
    assert scheduler.engine.get_job("cleanup_tokens").next_run_time is None
    await scheduler.shutdown()
    async with running_app(settings) as (_, client):
        job = (
            await client.get("/api/v1/tasks/cleanup_tokens", headers=await _admin(client))
        ).json()
    assert job["trigger_spec"]["hours"] == 1
    assert job["paused"] is True


async def test_two_schedulers_never_run_the_same_slot_twice(
    settings: Settings, tmp_path: Path
) -> None:
    """Two schedulers on one store (a split brain: both think they lead). The unique
    `(job_id, scheduled_at)` index lets only one of them run each fire time."""
    out = str(tmp_path / "runs.txt")
    stop = threading.Event()
    errors: list[BaseException] = []

    def scheduler_thread() -> None:
        async def main() -> None:
            database = Database(settings.DATABASE_URL)
            scheduler = EnhancedScheduler(settings, database)
            await scheduler.start()
            scheduler.ensure_job(
                JobSpec(
                    id="shared",
                    name="shared",
                    task="test_record",
                    params={"path": out},
                    trigger=IntervalSpec(seconds=1, start_date=START),
                )
            )
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await scheduler.shutdown()
            await database.dispose()

        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)

    START = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    threads = [threading.Thread(target=scheduler_thread) for _ in range(2)]
    for t in threads:
        t.start()
    await asyncio.sleep(6)
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors

    database = Database(settings.DATABASE_URL)
    async with database.sessionmaker() as db:
        rows = (
            await db.scalars(select(TaskExecution).where(TaskExecution.job_id == "shared"))
        ).all()
    await database.dispose()
    slots = Counter(r.scheduled_at for r in rows)
    assert len(slots) >= 4
    assert max(slots.values()) == 1
    runs = lines(out)
    assert len(runs) == len(rows)  # the task body ran once per recorded slot
    assert {r.runner for r in rows}
    assert all(r.status == ExecutionStatus.SUCCESS for r in rows), [
        (r.scheduled_at, r.status, r.error_message) for r in rows
    ]


def _scheduler_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "SCHEDULER_FAILOVER_SECONDS": "3",
        "SCHEDULER_POLL_SECONDS": "0.05",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.tasks.scheduler_process"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_killed_run_is_closed_as_interrupted_at_the_next_start(
    settings_factory: Any, settings: Settings
) -> None:
    api_only = settings_factory(SCHEDULER_ENABLED=False)
    process = _scheduler_process(settings)
    try:
        async with running_app(api_only) as (app, client):
            headers = await _admin(client)
            alive = await wait_for(lambda: leader_alive(app), timeout=20)
            assert alive
            await create_job(
                client,
                headers,
                id="long_run",
                task="test_sleep",
                params={"seconds": 60},
                trigger={"type": "interval", "hours": 1},
            )
            run = await client.post("/api/v1/tasks/long_run/run", headers=headers)
            assert run.status_code == 202, run.text
            [row] = await executions(client, headers, "long_run")
            assert row["status"] == "running"
            process.send_signal(signal.SIGKILL)
            process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    async with running_app(settings) as (_, client):
        headers = await _admin(client)
        [row] = await executions(client, headers, "long_run")
        assert row["status"] == "interrupted"
        assert row["completed_at"] is not None
        assert "stopped" in row["error_message"]
        job = (await client.get("/api/v1/tasks/long_run", headers=headers)).json()
        assert job["paused"] is False


async def test_commands_from_an_api_only_process_reach_the_leader(
    settings_factory: Any, settings: Settings, tmp_path: Path
) -> None:
    api_only = settings_factory(SCHEDULER_ENABLED=False)
    process = _scheduler_process(settings)
    out = str(tmp_path / "remote.txt")
    try:
        async with running_app(api_only) as (app, client):
            headers = await _admin(client)
            await wait_for(lambda: leader_alive(app), timeout=20)
            stats = (await client.get("/api/v1/tasks/system/stats", headers=headers)).json()
            assert stats["leader"]["alive"]
            assert not stats["leader"]["this_process"]
            await create_job(
                client,
                headers,
                id="remote",
                task="test_record",
                params={"path": out},
                trigger={"type": "interval", "hours": 1},
            )
            paused = await client.post("/api/v1/tasks/remote/pause", headers=headers)
            assert paused.status_code == 200
            assert (await client.get("/api/v1/tasks/remote", headers=headers)).json()["paused"]
            await client.post("/api/v1/tasks/remote/resume", headers=headers)
            assert not (await client.get("/api/v1/tasks/remote", headers=headers)).json()["paused"]
            ran = await client.post("/api/v1/tasks/remote/run", headers=headers)
            assert ran.status_code == 202
            [row] = await finished(client, headers, "remote")
            assert row["status"] == "success"
            assert row["trigger"] == "manual"
            # The run happened in the scheduler process, not in this one.
            assert lines(out)[0][1] == str(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
    assert process.returncode == 0


async def test_shutdown_waits_for_a_short_run_and_records_a_cancelled_one(
    settings_factory: Any,
) -> None:
    settings = settings_factory(SCHEDULER_SHUTDOWN_GRACE_SECONDS=1.0)
    async with running_app(settings) as (_, client):
        headers = await _admin(client)
        for job_id, seconds in (("short", 0.3), ("long", 30)):
            await create_job(
                client,
                headers,
                id=job_id,
                task="test_sleep",
                params={"seconds": seconds},
                trigger={"type": "interval", "hours": 1},
            )
            await client.post(f"/api/v1/tasks/{job_id}/run", headers=headers)
    async with running_app(settings_factory(SCHEDULER_ENABLED=False)) as (_, client):
        headers = await _admin(client)
        [short] = await executions(client, headers, "short")
        [long] = await executions(client, headers, "long")
    assert short["status"] == "success"
    assert long["status"] == "interrupted"
    assert "Cancelled" in long["error_message"]


async def test_overlapping_run_is_recorded_as_skipped(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(
        client,
        admin_headers,
        id="overlap",
        task="test_sleep",
        params={"seconds": 2.5},
        trigger={"type": "interval", "seconds": 1},
    )

    async def skipped() -> list[dict[str, Any]]:
        return await executions(client, admin_headers, "overlap", status="skipped")

    rows = await wait_for(skipped, timeout=15)
    assert rows[0]["scheduled_at"] is not None
    assert "max_instances" in rows[0]["error_message"]


async def test_a_run_later_than_its_grace_is_recorded_as_missed(
    settings: Settings, tmp_path: Path
) -> None:
    out = str(tmp_path / "late.txt")
    async with running_app(settings) as (_, client):
        headers = await _admin(client)
        await create_job(
            client,
            headers,
            id="late",
            task="test_record",
            params={"path": out},
            trigger={
                "type": "date",
                "run_date": (datetime.now(UTC) + timedelta(seconds=2)).isoformat(),
            },
            misfire_grace_time=1,
        )
    await asyncio.sleep(4)  # down while the job was due
    async with running_app(settings) as (_, client):
        headers = await _admin(client)
        rows = await wait_for(lambda: executions(client, headers, "late"), timeout=10)
    assert [r["status"] for r in rows] == ["missed"]
    assert lines(out) == []


async def test_fire_times_coalesced_after_downtime_are_recorded_as_missed(
    settings: Settings, tmp_path: Path
) -> None:
    out = str(tmp_path / "coalesced.txt")
    async with running_app(settings) as (_, client):
        headers = await _admin(client)
        await create_job(
            client,
            headers,
            id="every_second",
            task="test_record",
            params={"path": out},
            trigger={"type": "interval", "seconds": 1},
            paused=True,
        )
        await client.post("/api/v1/tasks/every_second/resume", headers=headers)
    await asyncio.sleep(4)  # down for about four fire times
    restarted = datetime.now(UTC)

    def ran_after_restart(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # The job may also have run once before the first app stopped.
        return [
            r
            for r in rows
            if r["status"] == "success" and datetime.fromisoformat(r["started_at"]) >= restarted
        ]

    async with running_app(settings) as (_, client):
        headers = await _admin(client)

        async def first_run() -> list[dict[str, Any]] | None:
            rows = await executions(client, headers, "every_second", limit=200)
            return rows if ran_after_restart(rows) else None

        rows = await wait_for(first_run, timeout=10)
    missed = [r for r in rows if r["status"] == "missed"]
    assert missed
    assert all("Coalesced" in r["error_message"] for r in missed)
    ran = min(ran_after_restart(rows), key=lambda r: str(r["scheduled_at"]))
    ran_at = datetime.fromisoformat(ran["scheduled_at"])
    # A stall of the loaded machine after the restart may coalesce later slots into a
    # later run too; the outage's slots are the ones merged into the first run after it.
    merged = [
        m for m in missed if datetime.fromisoformat(m["error_message"].rsplit(" ", 1)[-1]) == ran_at
    ]
    assert len(merged) >= 2
    assert all(datetime.fromisoformat(m["scheduled_at"]) < ran_at for m in merged)
    # Only the latest due fire time ran after the outage, not one per missed slot.
    assert len(lines(out)) <= 2
