"""What the dashboard reads from the API: triggers in words, last status and success
rate in the job list, runs in progress, and trigger previews."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_job, run_and_wait


async def test_the_job_list_says_when_jobs_run_and_how_they_did(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    await create_job(
        client,
        admin_headers,
        id="mixed",
        task="test_record",
        params={"path": str(tmp_path / "m")},
        trigger={"type": "cron", "expression": "0 9 * * 1-5"},
    )
    for _ in range(3):
        await run_and_wait(client, admin_headers, "mixed")
    await client.patch(
        "/api/v1/tasks/mixed",
        headers=admin_headers,
        json={"params": {"path": str(tmp_path / "m"), "fail": True}},
    )
    await run_and_wait(client, admin_headers, "mixed")

    page = (await client.get("/api/v1/tasks", headers=admin_headers)).json()
    jobs = {j["id"]: j for j in page["items"]}
    assert jobs["cleanup_executions"]["trigger_description"] == "every day at 03:00 UTC"
    assert jobs["cleanup_sessions"]["trigger_description"] == "every day at 02:00 UTC"
    assert jobs["cleanup_content"]["trigger_description"] == "every Sunday at 02:30 UTC"
    assert jobs["cleanup_tokens"]["trigger_description"] == "every hour"
    assert jobs["cleanup_tokens"]["last_status"] is None
    assert jobs["cleanup_tokens"]["success_rate"] is None
    mixed = jobs["mixed"]
    assert mixed["trigger_description"] == "every weekday (Monday to Friday) at 09:00 UTC"
    assert mixed["last_status"] == "failed"
    assert mixed["success_rate"] == 75.0
    assert mixed["last_run_at"] is not None
    single = (await client.get("/api/v1/tasks/mixed", headers=admin_headers)).json()
    assert single["success_rate"] == 75.0
    assert single["last_status"] == "failed"


async def test_system_stats_list_the_runs_in_progress(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(
        client,
        admin_headers,
        id="long",
        task="test_sleep",
        params={"seconds": 3},
        trigger={"type": "interval", "hours": 1},
    )
    started = await client.post("/api/v1/tasks/long/run", headers=admin_headers)
    stats = (await client.get("/api/v1/tasks/system/stats", headers=admin_headers)).json()
    assert stats["running_executions"] == 1
    [running] = stats["running_now"]
    assert running["job_id"] == "long"
    assert running["id"] == started.json()["execution_id"]
    assert running["trigger"] == "manual"


async def preview(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post("/api/v1/tasks/preview", headers=headers, json=body)


async def test_preview_in_a_time_zone(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await preview(
        client,
        admin_headers,
        trigger={"type": "cron", "expression": "30 8 * * *"},
        timezone="Europe/Paris",
        count=3,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timezone"] == "Europe/Paris"
    assert body["description"] == "every day at 08:30 Europe/Paris"
    times = [datetime.fromisoformat(t) for t in body["next_fire_times"]]
    assert len(times) == 3
    assert all((t.hour, t.minute) == (8, 30) for t in times)
    # Paris is ahead of UTC all year.
    assert all((t.utcoffset() or timedelta(0)) > timedelta(0) for t in times)

    same = await preview(
        client,
        admin_headers,
        trigger={"type": "interval", "hours": 2, "timezone": "Europe/Paris"},
        timezone="Europe/Paris",
    )
    assert same.status_code == 200
    assert same.json()["description"] == "every 2 hours"
    assert len(same.json()["next_fire_times"]) == 5


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"trigger": {"type": "cron", "expression": "61 * * * *"}}, ["body", "trigger", "cron"]),
        ({"trigger": {"type": "interval", "minutes": 0}}, ["body", "trigger", "interval"]),
        ({"trigger": {"type": "date", "run_date": "2001-01-01T00:00:00Z"}}, ["body", "trigger"]),
        (
            {"trigger": {"type": "interval", "hours": 1, "end_date": "2001-01-01T00:00:00Z"}},
            ["body", "trigger"],
        ),
        (
            {"trigger": {"type": "cron", "hour": 3}, "timezone": "Mars/Olympus"},
            ["body", "timezone"],
        ),
        (
            {"trigger": {"type": "cron", "hour": 3, "timezone": "UTC"}, "timezone": "Asia/Tokyo"},
            ["body", "timezone"],
        ),
        ({"trigger": {"type": "cron", "hour": 3}, "count": 0}, ["body", "count"]),
        ({"trigger": {"type": "cron", "hour": 3}, "count": 101}, ["body", "count"]),
    ],
)
async def test_preview_rejects_what_job_creation_rejects(
    client: httpx.AsyncClient, admin_headers: dict[str, str], body: dict[str, Any], where: list[str]
) -> None:
    response = await preview(client, admin_headers, **body)
    assert response.status_code == 422, response.text
    [error, *_] = response.json()["detail"]
    assert error["loc"][: len(where)] == where


async def test_preview_is_for_superusers(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    body = {"trigger": {"type": "interval", "hours": 1}}
    assert (await client.post("/api/v1/tasks/preview", json=body)).status_code == 401
    response = await client.post("/api/v1/tasks/preview", headers=user_headers, json=body)
    assert response.status_code == 403
