"""Catching up slots that did not fire: those missed while no scheduler ran (a job's
`catchup_window_seconds`), and those missed while the job was paused (resume with
`catch_up`). Every slot ends in a row or shows in the timeline: nothing is silently
absent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.db.session import Database
from tests.conftest import (
    PASSWORD,
    bearer,
    create_job,
    executions,
    login,
    running_app,
    stored_state,
    wait_for,
)

TASKS = "/api/v1/tasks"
EVERY_SECOND = {"type": "interval", "seconds": 1}
WINDOW = 3


async def _admin(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await login(client, "admin@example.com", PASSWORD))


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_slots_missed_while_no_scheduler_ran_run_within_the_window_and_older_are_missed(
    settings: Settings, tmp_path: Path
) -> None:
    async with running_app(settings) as (_, client):
        headers = await _admin(client)
        job = await create_job(
            client,
            headers,
            id="catching",
            task="test_record",
            params={"path": str(tmp_path / "out.txt")},
            trigger=EVERY_SECOND,
            coalesce=False,
            catchup_window_seconds=WINDOW,
        )
        assert job["catchup_window_seconds"] == WINDOW
        stopped = datetime.now(UTC)
    await asyncio.sleep(WINDOW + 5)  # down for several slots, more than the window
    restarted = datetime.now(UTC)
    async with running_app(settings) as (_, client):
        headers = await _admin(client)

        async def caught_up() -> list[dict[str, Any]] | None:
            rows = await executions(client, headers, "catching", limit=200)
            during = [r for r in rows if stopped < at(r["scheduled_at"]) < restarted]
            ran = [r for r in during if r["status"] == "success"]
            missed = [r for r in during if r["status"] == "missed"]
            return during if ran and missed else None

        during = await wait_for(caught_up, timeout=30)
        await client.post(f"{TASKS}/catching/pause", headers=headers)
    missed = [r for r in during if r["status"] == "missed"]
    ran = [r for r in during if r["status"] == "success"]
    assert all("catch-up window" in r["error_message"] for r in missed)
    # The old ones were missed, the young ones ran: each slot once, the older first.
    assert max(at(r["scheduled_at"]) for r in missed) < min(at(r["scheduled_at"]) for r in ran)
    for run in ran:
        assert at(run["started_at"]) - at(run["scheduled_at"]) <= timedelta(seconds=WINDOW + 1)
    assert len({r["scheduled_at"] for r in during}) == len(during)


async def test_resume_without_catch_up_fires_nothing_missed_while_paused(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    await create_job(
        client,
        admin_headers,
        id="held",
        task="test_record",
        params={"path": str(tmp_path / "held.txt")},
        trigger=EVERY_SECOND,
        catchup_window_seconds=60,
        paused=True,
    )
    await asyncio.sleep(2.5)  # paused through a few slots
    resumed_at = datetime.now(UTC)
    response = await client.post(f"{TASKS}/held/resume", headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "resumed"
    assert response.json()["catch_up"] is None
    await wait_for(lambda: executions(client, admin_headers, "held"), timeout=10)
    await client.post(f"{TASKS}/held/pause", headers=admin_headers)
    rows = await executions(client, admin_headers, "held")
    assert all(at(r["scheduled_at"]) >= resumed_at for r in rows)
    timeline = await client.get(
        f"{TASKS}/held/timeline",
        headers=admin_headers,
        params={
            "start": (resumed_at - timedelta(seconds=2)).isoformat(),
            "end": resumed_at.isoformat(),
        },
    )
    assert timeline.status_code == 200, timeline.text
    outcomes = {slot["outcome"] for slot in timeline.json()["slots"]}
    assert outcomes == {"paused"}


async def test_resume_with_catch_up_runs_each_slot_within_the_window(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    await create_job(
        client,
        admin_headers,
        id="each",
        task="test_record",
        params={"path": str(tmp_path / "each.txt")},
        trigger=EVERY_SECOND,
        coalesce=False,
        catchup_window_seconds=WINDOW,
        paused=True,
    )
    await asyncio.sleep(WINDOW + 3)  # paused through more slots than the window holds
    resumed_at = datetime.now(UTC)
    response = await client.post(
        f"{TASKS}/each/resume", headers=admin_headers, json={"catch_up": True}
    )
    assert response.status_code == 200, response.text
    caught = response.json()["catch_up"]
    assert WINDOW - 1 <= caught <= WINDOW + 1

    async def ran() -> list[dict[str, Any]] | None:
        rows = await executions(client, admin_headers, "each", limit=200)
        before = [r for r in rows if at(r["scheduled_at"]) < resumed_at]
        return (
            before
            if len(before) == caught and all(r["status"] == "success" for r in before)
            else None
        )

    before = await wait_for(ran, timeout=30)
    await client.post(f"{TASKS}/each/pause", headers=admin_headers)
    assert {r["trigger"] for r in before} == {"scheduled"}
    for run in before:
        assert resumed_at - at(run["scheduled_at"]) <= timedelta(seconds=WINDOW)
    audit = (await client.get(f"{TASKS}/each/audit", headers=admin_headers)).json()["items"]
    [resume] = [entry for entry in audit if entry["action"] == "resume"]
    assert resume["after"]["catch_up"] == caught


async def test_resume_with_catch_up_and_coalesce_runs_the_latest_slot_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    await create_job(
        client,
        admin_headers,
        id="once",
        task="test_record",
        params={"path": str(tmp_path / "once.txt")},
        trigger=EVERY_SECOND,
        paused=True,
    )
    await asyncio.sleep(2.5)
    resumed_at = datetime.now(UTC)
    response = await client.post(
        f"{TASKS}/once/resume", headers=admin_headers, json={"catch_up": True}
    )
    assert response.status_code == 200, response.text
    answered_at = datetime.now(UTC)
    # No window: the latest missed slot, once.
    assert response.json()["catch_up"] == 1

    async def ran() -> list[dict[str, Any]] | None:
        # The slot caught up is due at the latest when the resume was answered; the
        # slots after it come on schedule (one may fall in the answer's last moment).
        rows = await executions(client, admin_headers, "once", limit=200)
        early = sorted(
            (r for r in rows if at(r["scheduled_at"]) <= answered_at),
            key=lambda r: at(r["scheduled_at"]),
        )
        return early if early and early[0]["status"] == "success" else None

    early = await wait_for(ran, timeout=30)
    await client.post(f"{TASKS}/once/pause", headers=admin_headers)
    # The latest slot missed while paused, not an older one.
    assert at(early[0]["scheduled_at"]) > resumed_at - timedelta(seconds=1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"catch_up": "yes"}, "catch_up"),
        ({"catch_up": 1}, "catch_up"),
        ({"catch_up": None}, "catch_up"),
        ({"catchup": True}, "catchup"),
    ],
)
async def test_bad_resume_input_is_a_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database: Database,
    tmp_path: Path,
    body: dict[str, Any],
    field: str,
) -> None:
    await create_job(
        client,
        admin_headers,
        id="still",
        task="test_record",
        params={"path": str(tmp_path / "still.txt")},
        trigger={"type": "interval", "hours": 1},
        paused=True,
    )
    before = await stored_state(database)
    response = await client.post(f"{TASKS}/still/resume", headers=admin_headers, json=body)
    assert response.status_code == 422, response.text
    assert field in str([error["loc"] for error in response.json()["detail"]])
    assert await stored_state(database) == before
    assert (await client.get(f"{TASKS}/still", headers=admin_headers)).json()["paused"] is True
