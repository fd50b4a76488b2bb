"""Per-job retries through the task API, with the `http_request` task against a local
server: each attempt is a history row of its own, a waiting one says when it starts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.db.session import Database
from app.tasks.scheduler import ATTEMPT_POLL_SECONDS
from tests.conftest import (
    assert_job_field_refused,
    bearer,
    create_job,
    executions,
    login,
    running_app,
    wait_for,
)
from tests.tasks.http_target import HttpTarget

HOURLY = {"type": "interval", "hours": 1}
NO_WAIT = {"backoff_seconds": 0, "jitter": False}
# Long enough for the leader's poll of waiting rows to have had several turns.
POLLS_SECONDS = 3 * ATTEMPT_POLL_SECONDS


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], http_target: HttpTarget) -> Settings:
    return settings_factory(HTTP_TASK_ALLOWED_HOSTS=[http_target.host])


def soon() -> dict[str, Any]:
    """A trigger whose first slot comes in a moment (the next an hour later): its runs
    have a `scheduled_at`. A few seconds ahead: a job created after its start date would
    first fire an hour later."""
    start = datetime.now(UTC) + timedelta(seconds=3)
    return {"type": "interval", "hours": 1, "start_date": start.isoformat()}


async def attempts(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str, count: int
) -> list[dict[str, Any]]:
    """The job's rows, oldest first, once `count` of them have ended."""

    async def ended() -> list[dict[str, Any]] | None:
        rows = sorted(await executions(client, headers, job_id), key=lambda r: r["id"])
        done = [r for r in rows if r["status"] not in ("running", "waiting")]
        return rows if len(done) >= count else None

    rows: list[dict[str, Any]] = await wait_for(ended, timeout=30)
    return rows


async def test_a_failing_slot_is_retried_each_attempt_its_own_row(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    job = await create_job(
        client,
        admin_headers,
        id="flaky",
        task="http_request",
        params={"url": f"{http_target.url}/fail-first/2"},
        trigger=soon(),
        retry={"max_attempts": 5, **NO_WAIT},
    )
    assert job["retry"] == {
        "max_attempts": 5,
        "backoff_seconds": 0,
        "backoff_max_seconds": 3600,
        "jitter": False,
        "on": ["failed", "timeout", "interrupted"],
    }
    rows = await attempts(client, admin_headers, "flaky", 3)
    assert [r["status"] for r in rows] == ["failed", "failed", "success"]
    assert [r["attempt"] for r in rows] == [1, 2, 3]
    assert rows[0]["scheduled_at"] is not None
    assert {r["scheduled_at"] for r in rows} == {rows[0]["scheduled_at"]}
    assert http_target.count("/fail-first/2") == 3
    # A slot that succeeded is not tried again.
    assert len(await executions(client, admin_headers, "flaky")) == 3
    stats = (await client.get("/api/v1/tasks/flaky/stats", headers=admin_headers)).json()
    assert stats["total_runs"] == 1
    assert stats["successful_runs"] == 1
    assert stats["failed_runs"] == 0
    assert stats["success_rate"] == 100.0
    assert stats["attempts"] == 3


async def test_attempts_stop_at_max_attempts(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await create_job(
        client,
        admin_headers,
        id="down",
        task="http_request",
        params={"url": f"{http_target.url}/status/500"},
        trigger=HOURLY,
        retry={"max_attempts": 3, **NO_WAIT},
    )
    response = await client.post("/api/v1/tasks/down/run", headers=admin_headers)
    assert response.status_code == 202, response.text
    rows = await attempts(client, admin_headers, "down", 3)
    assert [r["status"] for r in rows] == ["failed", "failed", "failed"]
    assert [r["attempt"] for r in rows] == [1, 2, 3]
    # A manual run's attempts keep its trigger and have no slot.
    assert {r["trigger"] for r in rows} == {"manual"}
    assert {r["scheduled_at"] for r in rows} == {None}
    stats = (await client.get("/api/v1/tasks/down/stats", headers=admin_headers)).json()
    assert (stats["total_runs"], stats["failed_runs"], stats["attempts"]) == (1, 1, 3)


async def test_an_attempt_waits_in_a_row_that_says_when_it_starts(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await create_job(
        client,
        admin_headers,
        id="patient",
        task="http_request",
        params={"url": f"{http_target.url}/status/500"},
        trigger=soon(),
        retry={"max_attempts": 2, "backoff_seconds": 600, "jitter": False},
    )

    async def waiting() -> list[dict[str, Any]] | None:
        rows = sorted(await executions(client, admin_headers, "patient"), key=lambda r: r["id"])
        return rows if len(rows) == 2 and rows[1]["status"] == "waiting" else None

    first, second = await wait_for(waiting, timeout=20)
    assert first["status"] == "failed"
    assert second["attempt"] == 2
    assert second["scheduled_at"] == first["scheduled_at"]
    not_before = datetime.fromisoformat(second["not_before"])
    completed = datetime.fromisoformat(first["completed_at"])
    # The backoff without jitter is exactly 600 s after the failure was recorded.
    assert completed + timedelta(seconds=590) < not_before < completed + timedelta(seconds=610)
    detail = await client.get(f"/api/v1/tasks/executions/{second['id']}", headers=admin_headers)
    assert detail.json()["status"] == "waiting"
    assert http_target.count("/status/500") == 1
    stats = (await client.get("/api/v1/tasks/patient/stats", headers=admin_headers)).json()
    assert (stats["total_runs"], stats["failed_runs"]) == (1, 0)
    assert (stats["waiting_runs"], stats["attempts"]) == (1, 2)


async def retry_waiting_while_paused(
    client: httpx.AsyncClient, headers: dict[str, str], http_target: HttpTarget, job_id: str
) -> dict[str, Any]:
    """A job paused while its run runs: the run times out, and its retry, due at once,
    waits. Returns the waiting row, once its backoff has long passed."""
    await create_job(
        client,
        headers,
        id=job_id,
        task="http_request",
        params={"url": f"{http_target.url}/slow/6"},
        trigger=HOURLY,
        timeout_seconds=3,
        retry={"max_attempts": 2, "on": ["timeout"], **NO_WAIT},
    )
    response = await client.post(f"/api/v1/tasks/{job_id}/run", headers=headers)
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]

    async def running() -> bool:
        row = await client.get(f"/api/v1/tasks/executions/{execution_id}", headers=headers)
        return bool(row.json()["status"] == "running")

    await wait_for(running, timeout=20)
    paused = await client.post(f"/api/v1/tasks/{job_id}/pause", headers=headers)
    assert paused.status_code == 200, paused.text

    async def retry_written() -> list[dict[str, Any]] | None:
        rows = sorted(await executions(client, headers, job_id), key=lambda r: r["id"])
        return rows if len(rows) == 2 and rows[1]["status"] == "waiting" else None

    first, retry = await wait_for(retry_written, timeout=20)
    assert (first["status"], retry["attempt"]) == ("timeout", 2)
    await asyncio.sleep(POLLS_SECONDS)
    still = await client.get(f"/api/v1/tasks/executions/{retry['id']}", headers=headers)
    assert still.json()["status"] == "waiting"
    assert http_target.count("/slow/6") == 1
    waiting: dict[str, Any] = retry
    return waiting


async def test_a_retry_of_a_paused_job_waits_for_its_resume(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    retry = await retry_waiting_while_paused(client, admin_headers, http_target, "held")
    resumed_at = datetime.now(UTC)
    response = await client.post("/api/v1/tasks/held/resume", headers=admin_headers)
    assert response.status_code == 200, response.text
    rows = await attempts(client, admin_headers, "held", 2)
    assert [(r["status"], r["attempt"]) for r in rows] == [("timeout", 1), ("timeout", 2)]
    assert rows[1]["id"] == retry["id"]
    assert datetime.fromisoformat(rows[1]["started_at"]) >= resumed_at
    assert http_target.count("/slow/6") == 2


async def test_a_waiting_retry_of_a_paused_job_can_be_cancelled(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    retry = await retry_waiting_while_paused(client, admin_headers, http_target, "dropped")
    cancel = await client.post(
        f"/api/v1/tasks/executions/{retry['id']}/cancel", headers=admin_headers
    )
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["status"] == "cancelled"
    response = await client.post("/api/v1/tasks/dropped/resume", headers=admin_headers)
    assert response.status_code == 200, response.text
    await asyncio.sleep(POLLS_SECONDS)
    rows = sorted(await executions(client, admin_headers, "dropped"), key=lambda r: r["id"])
    assert [r["status"] for r in rows] == ["timeout", "cancelled"]
    assert http_target.count("/slow/6") == 1


async def test_a_retry_only_on_listed_outcomes(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    # A failure is not retried when only timeouts are; the timeout right after is.
    await create_job(
        client,
        admin_headers,
        id="picky",
        task="http_request",
        params={"url": f"{http_target.url}/status/500"},
        trigger=HOURLY,
        retry={"max_attempts": 2, "on": ["timeout"], **NO_WAIT},
    )
    response = await client.post("/api/v1/tasks/picky/run", headers=admin_headers)
    assert response.status_code == 202
    [failed] = await attempts(client, admin_headers, "picky", 1)
    assert failed["status"] == "failed"
    patched = await client.patch(
        "/api/v1/tasks/picky",
        headers=admin_headers,
        json={"params": {"url": f"{http_target.url}/slow/3"}, "timeout_seconds": 0.5},
    )
    assert patched.status_code == 200, patched.text
    response = await client.post("/api/v1/tasks/picky/run", headers=admin_headers)
    assert response.status_code == 202, response.text
    rows = await attempts(client, admin_headers, "picky", 3)
    assert [(r["status"], r["attempt"]) for r in rows] == [
        ("failed", 1),
        ("timeout", 1),
        ("timeout", 2),
    ]


async def test_retry_is_changed_by_patch_shown_exported_and_audited(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await create_job(
        client,
        admin_headers,
        id="tuned",
        task="http_request",
        params={"url": f"{http_target.url}/ok"},
        trigger=HOURLY,
    )
    job = (await client.get("/api/v1/tasks/tuned", headers=admin_headers)).json()
    assert job["retry"] is None
    response = await client.patch(
        "/api/v1/tasks/tuned",
        headers=admin_headers,
        json={"retry": {"max_attempts": 4, "backoff_seconds": 30, "on": ["failed"]}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["retry"]["max_attempts"] == 4
    assert response.json()["retry"]["on"] == ["failed"]
    exported = (await client.get("/api/v1/tasks/export", headers=admin_headers)).json()
    [item] = [j for j in exported["jobs"] if j["id"] == "tuned"]
    assert item["retry"]["backoff_seconds"] == 30
    audit = (await client.get("/api/v1/tasks/tuned/audit", headers=admin_headers)).json()
    entries = audit["items"] if isinstance(audit, dict) else audit
    [modify] = [e for e in entries if e["action"] == "modify"]
    assert modify["before"]["retry"] is None
    assert modify["after"]["retry"]["max_attempts"] == 4
    cleared = await client.patch("/api/v1/tasks/tuned", headers=admin_headers, json={"retry": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["retry"] is None


@pytest.mark.parametrize(
    ("retry", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 21}, "max_attempts"),
        ({"max_attempts": "3"}, "max_attempts"),
        ({"backoff_seconds": -1}, "backoff_seconds"),
        ({"backoff_max_seconds": "later"}, "backoff_max_seconds"),
        ({"jitter": "yes"}, "jitter"),
        ({"on": ["failed", "missed"]}, "on"),
        ({"on": []}, "on"),
        ({"tries": 3}, "tries"),
        ("3 times", "retry"),
    ],
)
async def test_a_bad_retry_is_a_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database: Database,
    http_target: HttpTarget,
    retry: Any,
    field: str,
) -> None:
    job = {
        "id": "kept",
        "task": "http_request",
        "params": {"url": f"{http_target.url}/ok"},
        "trigger": HOURLY,
    }
    await create_job(client, admin_headers, **job)
    await assert_job_field_refused(client, admin_headers, database, job, {"retry": retry}, field)


async def test_a_waiting_attempt_survives_a_restart(
    settings: Settings, http_target: HttpTarget
) -> None:
    async with running_app(settings) as (_, client):
        headers = await _admin(client)
        await create_job(
            client,
            headers,
            id="resilient",
            task="http_request",
            params={"url": f"{http_target.url}/fail-first/1"},
            trigger=HOURLY,
            retry={"max_attempts": 2, "backoff_seconds": 3, "jitter": False},
        )
        response = await client.post("/api/v1/tasks/resilient/run", headers=headers)
        assert response.status_code == 202

        async def waiting() -> bool:
            rows = await executions(client, headers, "resilient")
            return any(r["status"] == "waiting" for r in rows)

        await wait_for(waiting, timeout=20)
    # The process that wrote the attempt is gone; the next leader starts it.
    async with running_app(settings) as (_, client):
        headers = await _admin(client)
        rows = await attempts(client, headers, "resilient", 2)
    assert [(r["status"], r["attempt"]) for r in rows] == [("failed", 1), ("success", 2)]
    assert rows[1]["runner"] != rows[0]["runner"]


async def _admin(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await login(client, "admin@example.com"))
