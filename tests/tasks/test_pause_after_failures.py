"""`pause_after_failures`: a job whose runs fail that many times in a row is paused by
the scheduler, with an alert and an audit entry by the system."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.db.session import Database
from tests.conftest import assert_job_field_refused, create_job, run_and_wait, wait_for
from tests.tasks.http_target import HttpTarget

HOURLY = {"type": "interval", "hours": 1}


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], http_target: HttpTarget) -> Settings:
    # The test server is also the alert webhook: it keeps what it is sent.
    return settings_factory(
        HTTP_TASK_ALLOWED_HOSTS=[http_target.host],
        ALERT_WEBHOOK_URLS=[f"{http_target.url}/ok"],
    )


async def job(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/tasks/fragile", headers=headers)
    body: dict[str, Any] = response.json()
    return body


def alerts(target: HttpTarget, event: str) -> list[dict[str, Any]]:
    sent = [json.loads(r["body"]) for r in target.requests if r["path"] == "/ok"]
    return [a for a in sent if a["event"] == event]


async def test_a_job_is_paused_after_its_failures_in_a_row(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    created = await create_job(
        client,
        admin_headers,
        id="fragile",
        task="http_request",
        params={"url": f"{http_target.url}/status/500"},
        trigger=HOURLY,
        pause_after_failures=2,
    )
    assert created["pause_after_failures"] == 2
    first = await run_and_wait(client, admin_headers, "fragile")
    assert first["status"] == "failed"
    # One failure is not two: the job still runs on schedule.
    assert (await job(client, admin_headers))["paused"] is False
    second = await run_and_wait(client, admin_headers, "fragile")
    assert second["status"] == "failed"

    async def paused() -> bool:
        return bool((await job(client, admin_headers))["paused"])

    await wait_for(paused, timeout=20)
    audit = (await client.get("/api/v1/tasks/fragile/audit", headers=admin_headers)).json()
    entries = audit["items"] if isinstance(audit, dict) else audit
    [pause] = [e for e in entries if e["action"] == "pause"]
    assert pause["actor_email"] == "system"
    assert pause["actor_id"] is None
    assert pause["source"] == "system"
    assert "2 failed runs in a row" in pause["reason"]
    [alert] = await wait_for(lambda: alerts(http_target, "paused"), timeout=20)
    assert alert["job_id"] == "fragile"
    assert alert["consecutive_failures"] == 2


async def test_a_success_between_failures_starts_the_count_again(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await create_job(
        client,
        admin_headers,
        id="fragile",
        task="http_request",
        params={"url": f"{http_target.url}/fail-first/1"},
        trigger=HOURLY,
        pause_after_failures=2,
    )
    assert (await run_and_wait(client, admin_headers, "fragile"))["status"] == "failed"
    assert (await run_and_wait(client, admin_headers, "fragile"))["status"] == "success"
    patched = await client.patch(
        "/api/v1/tasks/fragile",
        headers=admin_headers,
        json={"params": {"url": f"{http_target.url}/status/500"}},
    )
    assert patched.status_code == 200
    assert (await run_and_wait(client, admin_headers, "fragile"))["status"] == "failed"
    # Two failures, but not in a row; a later one in a row pauses.
    assert (await job(client, admin_headers))["paused"] is False
    assert (await run_and_wait(client, admin_headers, "fragile"))["status"] == "failed"
    await wait_for(lambda: _paused(client, admin_headers), timeout=20)


async def _paused(client: httpx.AsyncClient, headers: dict[str, str]) -> bool:
    return bool((await job(client, headers))["paused"])


async def test_a_run_counts_once_however_many_attempts_it_took(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await create_job(
        client,
        admin_headers,
        id="fragile",
        task="http_request",
        params={"url": f"{http_target.url}/status/500"},
        trigger=HOURLY,
        pause_after_failures=2,
        retry={"max_attempts": 3, "backoff_seconds": 0, "jitter": False},
    )
    response = await client.post("/api/v1/tasks/fragile/run", headers=admin_headers)
    assert response.status_code == 202

    async def three_failed() -> bool:
        rows = (await client.get("/api/v1/tasks/fragile/executions", headers=admin_headers)).json()
        return [r["status"] for r in rows] == ["failed"] * 3

    await wait_for(three_failed, timeout=30)
    # Three failed attempts are one failed run: not paused yet.
    assert (await job(client, admin_headers))["paused"] is False
    response = await client.post("/api/v1/tasks/fragile/run", headers=admin_headers)
    assert response.status_code == 202, response.text
    await wait_for(lambda: _paused(client, admin_headers), timeout=30)
    stats = (await client.get("/api/v1/tasks/fragile/stats", headers=admin_headers)).json()
    assert (stats["failed_runs"], stats["attempts"]) == (2, 6)


@pytest.mark.parametrize("value", [0, -1, 1001, "3", 2.5, True])
async def test_a_bad_pause_after_failures_is_a_422_naming_it(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database: Database,
    http_target: HttpTarget,
    value: Any,
) -> None:
    job = {
        "id": "fragile",
        "task": "http_request",
        "params": {"url": f"{http_target.url}/ok"},
        "trigger": HOURLY,
    }
    await create_job(client, admin_headers, **job)
    await assert_job_field_refused(
        client,
        admin_headers,
        database,
        job,
        {"pause_after_failures": value},
        "pause_after_failures",
    )
