"""Jobs are refused at the API when they could not run, and a run that cannot start
still ends in a row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db.session import Database
from app.tasks import runs as runs_module
from tests.conftest import create_job, run_and_wait, stored_state, wait_for

WEEK = 7 * 24 * 3600


def record_job(tmp_path: Path, job_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job_id,
        "task": "test_record",
        "params": {"path": str(tmp_path / f"{job_id}.log")},
        "trigger": {"type": "interval", "hours": 1},
    }
    body.update(overrides)
    return body


def error_locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]


async def bot_config(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    response = await client.post(
        "/api/v1/bot-configs", headers=headers, json={"name": "bot", "subreddits": ["python"]}
    )
    assert response.status_code == 201, response.text
    bot_id: int = response.json()["id"]
    return bot_id


async def test_misfire_grace_time_is_at_most_a_week(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path, database: Database
) -> None:
    await create_job(client, admin_headers, **record_job(tmp_path, "graceful"))
    before = await stored_state(database)
    for value in (10**15, WEEK + 1, 0, True, 1.5):
        created = await client.post(
            "/api/v1/tasks",
            headers=admin_headers,
            json=record_job(tmp_path, "late", misfire_grace_time=value),
        )
        assert ["body", "misfire_grace_time"] in error_locs(created), value
        patched = await client.patch(
            "/api/v1/tasks/graceful", headers=admin_headers, json={"misfire_grace_time": value}
        )
        assert ["body", "misfire_grace_time"] in error_locs(patched), value
    assert await stored_state(database) == before
    job = await create_job(
        client, admin_headers, **record_job(tmp_path, "late", misfire_grace_time=WEEK)
    )
    assert job["misfire_grace_time"] == WEEK


async def test_a_job_cannot_be_renamed_to_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path, database: Database
) -> None:
    await create_job(client, admin_headers, **record_job(tmp_path, "named", name="Named"))
    before = await stored_state(database)

    patched = await client.patch("/api/v1/tasks/named", headers=admin_headers, json={"name": ""})

    assert ["body", "name"] in error_locs(patched)
    assert await stored_state(database) == before


@pytest.mark.parametrize(
    "params",
    [
        {"bot_config_id": 10**20},
        {"bot_config_id": True},
        {"bot_config_id": "1"},
        {"bot_config_id": 1.0},
        {"bot_config_id": 0},
        {"bot_config_id": 999_999},
        {},
    ],
)
async def test_bot_job_params_must_name_a_bot_config_that_exists(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    tmp_path: Path,
    database: Database,
    params: dict[str, Any],
) -> None:
    bot_id = await bot_config(client, admin_headers)
    await create_job(
        client,
        admin_headers,
        id="scrape_now_and_then",
        task="scrape_bot",
        params={"bot_config_id": bot_id},
        trigger={"type": "interval", "hours": 12},
    )
    await create_job(client, admin_headers, **record_job(tmp_path, "recorder"))
    before = await stored_state(database)

    created = await client.post(
        "/api/v1/tasks",
        headers=admin_headers,
        json={
            "id": "scrape_nothing",
            "task": "scrape_bot",
            "params": params,
            "trigger": {"type": "interval", "hours": 1},
        },
    )
    assert ["body", "params", "bot_config_id"] in error_locs(created)
    patched = await client.patch(
        "/api/v1/tasks/scrape_now_and_then", headers=admin_headers, json={"params": params}
    )
    assert ["body", "params", "bot_config_id"] in error_locs(patched)
    # A new task is checked against the params the job already has.
    retasked = await client.patch(
        "/api/v1/tasks/recorder", headers=admin_headers, json={"task": "scrape_bot"}
    )
    assert retasked.status_code == 422, retasked.text
    assert await stored_state(database) == before


async def test_params_must_be_an_object(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path, database: Database
) -> None:
    before = await stored_state(database)
    for params in (True, [1], "x", 1):
        response = await client.post(
            "/api/v1/tasks", headers=admin_headers, json=record_job(tmp_path, "p", params=params)
        )
        assert ["body", "params"] in error_locs(response), params
    assert await stored_state(database) == before


async def stored_job_change(app: FastAPI, job_id: str, **changes: Any) -> None:
    """Change a stored job as an older version of this code could have left it (the API
    refuses such values now)."""
    engine = app.state.scheduler_candidate.scheduler.engine
    engine.modify_job(job_id, **changes)


async def first_scheduled_run(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str
) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        response = await client.get(f"/api/v1/tasks/{job_id}/executions", headers=headers)
        # A busy machine may fire late: fire times merged into a later run are `missed`.
        rows = [r for r in response.json() if r["status"] not in ("running", "missed")]
        return rows[-1] if rows else None

    row: dict[str, Any] = await wait_for(ended, timeout=20)
    assert row["trigger"] == "scheduled"
    return row


async def test_a_stored_grace_time_too_large_for_a_timedelta_still_runs(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path, app: FastAPI
) -> None:
    await create_job(
        client,
        admin_headers,
        **record_job(tmp_path, "legacy", trigger={"type": "interval", "seconds": 1}, paused=True),
    )
    await stored_job_change(app, "legacy", misfire_grace_time=10**15)
    resumed = await client.post("/api/v1/tasks/legacy/resume", headers=admin_headers)
    assert resumed.status_code == 200, resumed.text
    row = await first_scheduled_run(client, admin_headers, "legacy")
    assert row["status"] == "success", row


async def test_a_run_that_cannot_start_ends_in_a_failed_row(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreadable(*_: Any) -> None:
        raise RuntimeError("the clock could not be read")

    monkeypatch.setattr(runs_module, "_missed_by", unreadable)
    await create_job(
        client,
        admin_headers,
        **record_job(tmp_path, "doomed", trigger={"type": "interval", "seconds": 1}),
    )
    row = await first_scheduled_run(client, admin_headers, "doomed")
    assert row["status"] == "failed"
    assert row["error_message"] == (
        "Could not start the run: RuntimeError: the clock could not be read"
    )
    assert not (tmp_path / "doomed.log").exists()


async def test_params_stored_bad_end_in_a_failed_row_with_the_reason(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path, app: FastAPI
) -> None:
    await create_job(client, admin_headers, **record_job(tmp_path, "stale"))
    await stored_job_change(
        app, "stale", kwargs={"task": "test_record", "params": {"path": 5, "gone": True}}
    )
    row = await run_and_wait(client, admin_headers, "stale")
    assert row["status"] == "failed"
    assert "ValidationError" in row["error_message"]
    assert "gone" in row["error_message"]
