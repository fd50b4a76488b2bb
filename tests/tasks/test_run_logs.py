"""A run's logs: what its task logs is stored with the run, per run, bounded, and removed
with it by history retention."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.core.config import Settings
from app.db.session import Database
from app.models.task_execution import TaskExecution, TaskExecutionLog
from tests.conftest import create_job, run_and_wait, wait_for
from tests.tasks.http_target import HttpTarget

HOURLY = {"type": "interval", "hours": 1}


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], http_target: HttpTarget) -> Settings:
    return settings_factory(HTTP_TASK_ALLOWED_HOSTS=[http_target.host], RUN_LOG_MAX_BYTES=4096)


def messages(run: dict[str, Any]) -> list[str]:
    return [line["message"] for line in run["logs"]]


async def log_job(
    client: httpx.AsyncClient, auth: dict[str, str], job_id: str, **params: Any
) -> None:
    await create_job(client, auth, id=job_id, task="test_log", params=params, trigger=HOURLY)


async def test_an_http_request_run_logs_its_request_and_response(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    url = f"{http_target.url}/ok"
    await create_job(
        client,
        admin_headers,
        id="ping",
        task="http_request",
        params={"url": url},
        trigger=HOURLY,
    )
    run = await run_and_wait(client, admin_headers, "ping")
    assert run["status"] == "success", run
    logged = messages(run)
    assert f"request: GET {url}" in logged
    [response] = [m for m in logged if m.startswith("response:")]
    assert response.startswith(f"response: GET {url}: 200 in ")
    assert response.endswith(" ms")
    assert all(line["level"] == "INFO" for line in run["logs"])
    assert all(datetime.fromisoformat(line["time"]).tzinfo is not None for line in run["logs"])
    assert run["logs_truncated"] is False


async def test_a_failed_run_keeps_its_logs_beside_its_traceback(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await log_job(client, admin_headers, "loud", marker="M1", lines=2, fail=True)
    run = await run_and_wait(client, admin_headers, "loud")
    assert run["status"] == "failed"
    assert "M1 failed on purpose" in run["error_traceback"]
    logged = messages(run)
    # Lines from the task, from a thread and a task it started; INFO and up only.
    assert logged[:2] == ["M1 line 0 ", "M1 line 1 "]
    assert "M1 from a thread" in logged
    assert "M1 from a task" in logged
    assert "M1 about to fail" in logged
    assert not any("debug" in m for m in logged)
    levels = {line["message"]: line["level"] for line in run["logs"]}
    assert levels["M1 from a task"] == "WARNING"
    assert levels["M1 about to fail"] == "ERROR"


async def test_runs_at_the_same_time_keep_their_own_lines(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    markers = ["alpha", "bravo", "charlie"]
    for marker in markers:
        await log_job(client, admin_headers, f"job_{marker}", marker=marker, lines=5, pause=0.05)
    started = await asyncio.gather(
        *(client.post(f"/api/v1/tasks/job_{m}/run", headers=admin_headers) for m in markers)
    )
    ids = [response.json()["execution_id"] for response in started]

    async def all_done() -> list[dict[str, Any]] | None:
        runs = [
            (await client.get(f"/api/v1/tasks/executions/{i}", headers=admin_headers)).json()
            for i in ids
        ]
        return runs if all(run["status"] != "running" for run in runs) else None

    runs = await wait_for(all_done, timeout=30)
    for marker, run in zip(markers, runs, strict=True):
        assert run["status"] == "success", run
        logged = messages(run)
        assert len(logged) == 7, logged
        assert all(m.startswith(marker) for m in logged), logged


async def test_a_run_log_is_cut_at_the_size_setting_and_says_so(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await log_job(client, admin_headers, "chatty", marker="C", lines=200, size=100)
    run = await run_and_wait(client, admin_headers, "chatty")
    assert run["status"] == "success"
    assert run["logs_truncated"] is True
    kept = run["logs"][:-1]
    assert sum(len(line["message"].encode()) for line in kept) <= 4096
    assert 10 < len(kept) < 200
    assert kept[0]["message"].startswith("C line 0 ")
    marker = run["logs"][-1]
    assert marker["level"] == "WARNING"
    assert "truncated at RUN_LOG_MAX_BYTES (4096 bytes)" in marker["message"]


async def test_a_run_that_logs_nothing_has_no_lines(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    run = await run_and_wait(client, admin_headers, "cleanup_tokens")
    assert run["status"] == "success"
    assert run["logs"] == []
    assert run["logs_truncated"] is False


async def test_history_retention_removes_a_run_with_its_logs(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database
) -> None:
    await log_job(client, admin_headers, "old_logs", marker="O", lines=3)
    old = await run_and_wait(client, admin_headers, "old_logs")
    recent = await run_and_wait(client, admin_headers, "old_logs")
    assert len(old["logs"]) == 5
    async with database.transaction() as db:
        await db.execute(
            update(TaskExecution)
            .where(TaskExecution.id == old["id"])
            .values(created_at=datetime.now(UTC) - timedelta(days=40))
        )
    cleanup = await run_and_wait(client, admin_headers, "cleanup_executions")
    assert cleanup["result"]["deleted_executions"] == 1
    gone = await client.get(f"/api/v1/tasks/executions/{old['id']}", headers=admin_headers)
    assert gone.status_code == 404
    kept = await client.get(f"/api/v1/tasks/executions/{recent['id']}", headers=admin_headers)
    assert len(kept.json()["logs"]) == 5
    async with database.sessionmaker() as db:
        left = await db.scalar(
            select(func.count())
            .select_from(TaskExecutionLog)
            .where(TaskExecutionLog.execution_id == old["id"])
        )
    assert left == 0
