"""Overlap policies through the task API: what becomes of a slot that comes while the
job's previous run still runs. Every outcome is a row: `skipped`, a buffered `waiting`
row that later runs, or a `cancelled` run."""

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
# Long enough for the leader's poll of waiting rows to have had several turns.
POLLS_SECONDS = 3 * ATTEMPT_POLL_SECONDS


def one_slot_soon(seconds: float = 2) -> dict[str, Any]:
    """A trigger with one slot in a moment (the next an hour later)."""
    start = datetime.now(UTC) + timedelta(seconds=seconds)
    return {"type": "interval", "hours": 1, "start_date": start.isoformat()}


async def rows_of(client: httpx.AsyncClient, headers: dict[str, str], job_id: str) -> list[Any]:
    rows = await executions(client, headers, job_id, limit=200)
    return sorted(rows, key=lambda r: r["id"])


async def row(client: httpx.AsyncClient, headers: dict[str, str], run_id: int) -> Any:
    response = await client.get(f"{TASKS}/executions/{run_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def pause(client: httpx.AsyncClient, headers: dict[str, str], job_id: str) -> None:
    response = await client.post(f"{TASKS}/{job_id}/pause", headers=headers)
    assert response.status_code == 200, response.text


async def resume(client: httpx.AsyncClient, headers: dict[str, str], job_id: str) -> datetime:
    """Resume the job; returns when the resume was sent, before anything it starts."""
    sent = datetime.now(UTC)
    response = await client.post(f"{TASKS}/{job_id}/resume", headers=headers)
    assert response.status_code == 200, response.text
    return sent


async def start_manual_run(client: httpx.AsyncClient, headers: dict[str, str], job_id: str) -> int:
    response = await client.post(f"{TASKS}/{job_id}/run", headers=headers)
    assert response.status_code == 202, response.text
    run_id: int = response.json()["execution_id"]
    return run_id


def buffered(rows: list[Any]) -> list[Any]:
    return [r for r in rows if r["status"] == "waiting" and r["not_before"] is None]


async def test_skip_is_the_default_and_shown(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    job = await create_job(
        client,
        admin_headers,
        id="plain",
        task="test_sleep",
        params={"seconds": 0},
        trigger={"type": "interval", "hours": 1},
    )
    assert job["overlap"] == "skip"
    assert job["catchup_window_seconds"] is None


async def test_a_job_allowed_several_instances_without_a_policy_runs_them_side_by_side(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    """`max_instances` kept the meaning it had before jobs had an overlap policy."""
    job = await create_job(
        client,
        admin_headers,
        id="several",
        task="test_sleep",
        params={"seconds": 0},
        trigger={"type": "interval", "hours": 1},
        max_instances=3,
    )
    assert job["overlap"] == "allow_all"
    listed = await client.get(f"{TASKS}/several", headers=admin_headers)
    assert listed.json()["overlap"] == "allow_all"


async def test_buffer_one_keeps_one_waiting_run_and_starts_it_when_the_running_one_ends(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    job = await create_job(
        client,
        admin_headers,
        id="one",
        task="test_sleep",
        # Long enough to pause the job before the run ends, on a busy machine too.
        params={"seconds": 5},
        trigger=EVERY_SECOND,
        overlap="buffer_one",
    )
    assert job["overlap"] == "buffer_one"

    async def one_waiting_and_a_skip() -> list[Any] | None:
        rows = await rows_of(client, admin_headers, "one")
        skipped = [r for r in rows if r["status"] == "skipped"]
        return rows if buffered(rows) and skipped else None

    rows = await wait_for(one_waiting_and_a_skip, timeout=20)
    await pause(client, admin_headers, "one")
    [waiting] = buffered(rows)
    assert waiting["trigger"] == "scheduled"
    assert waiting["attempt"] == 1
    skipped = [r for r in rows if r["status"] == "skipped"]
    assert all("buffer_one" in r["error_message"] for r in skipped)
    first_run = next(r for r in rows if r["status"] in ("running", "success"))
    # The buffered slot is due after the running one, and keeps its own slot time.
    assert waiting["scheduled_at"] > first_run["scheduled_at"]

    async def ran() -> Any:
        done = await row(client, admin_headers, waiting["id"])
        return done if done["status"] == "success" else None

    async def first_ended() -> Any:
        first = await row(client, admin_headers, first_run["id"])
        return first if first["status"] == "success" else None

    first = await wait_for(first_ended, timeout=30)
    # Paused, the job starts nothing: the buffered slot waits through the polls that
    # would have started it, and starts once the job is resumed.
    await asyncio.sleep(POLLS_SECONDS)
    assert (await row(client, admin_headers, waiting["id"]))["status"] == "waiting"
    resumed_at = await resume(client, admin_headers, "one")

    done = await wait_for(ran, timeout=30)
    assert done["scheduled_at"] == waiting["scheduled_at"]
    assert datetime.fromisoformat(done["started_at"]) >= resumed_at
    # One after the other, never both at once.
    assert done["started_at"] >= first["completed_at"]
    rows = await rows_of(client, admin_headers, "one")
    assert len({(r["scheduled_at"], r["attempt"]) for r in rows}) == len(rows)


async def test_buffer_all_queues_in_order_up_to_its_bound(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(OVERLAP_BUFFER_MAX_RUNS=2)
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com", PASSWORD))
        await create_job(
            client,
            headers,
            id="all",
            task="test_sleep",
            # Long enough to pause the job before the run ends, on a busy machine too.
            params={"seconds": 6},
            trigger=EVERY_SECOND,
            overlap="buffer_all",
        )

        async def full() -> list[Any] | None:
            rows = await rows_of(client, headers, "all")
            skipped = [r for r in rows if r["status"] == "skipped"]
            return rows if len(buffered(rows)) == 2 and skipped else None

        rows = await wait_for(full, timeout=30)
        await pause(client, headers, "all")
        assert all(
            "OVERLAP_BUFFER_MAX_RUNS" in r["error_message"]
            for r in rows
            if r["status"] == "skipped"
        )
        queued = buffered(rows)
        assert queued[0]["scheduled_at"] < queued[1]["scheduled_at"]
        # Cancelling the running one frees the job, but paused it starts nothing: the
        # queue moves on once it is resumed.
        [running] = [r for r in rows if r["status"] == "running"]
        cancel = await client.post(f"{TASKS}/executions/{running['id']}/cancel", headers=headers)
        assert cancel.status_code == 200, cancel.text
        await asyncio.sleep(POLLS_SECONDS)
        assert [(await row(client, headers, r["id"]))["status"] for r in queued] == [
            "waiting",
            "waiting",
        ]
        resumed_at = await resume(client, headers, "all")

        async def both_ran() -> list[Any] | None:
            done = [await row(client, headers, r["id"]) for r in queued]
            return done if all(r["status"] == "success" for r in done) else None

        first, second = await wait_for(both_ran, timeout=60)
    assert datetime.fromisoformat(first["started_at"]) >= resumed_at
    # In the order of their slots, one after the other.
    assert first["started_at"] < second["started_at"]
    assert second["started_at"] >= first["completed_at"]


async def test_cancel_other_cancels_the_running_run_and_starts_the_new_slot(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(
        client,
        admin_headers,
        id="newest",
        task="test_sleep",
        params={"seconds": 60},
        trigger=one_slot_soon(3),
        overlap="cancel_other",
    )
    manual = await start_manual_run(client, admin_headers, "newest")

    async def replaced() -> list[Any] | None:
        rows = await rows_of(client, admin_headers, "newest")
        scheduled = [r for r in rows if r["trigger"] == "scheduled" and r["status"] == "running"]
        return rows if scheduled else None

    rows = await wait_for(replaced, timeout=20)
    cancelled = await row(client, admin_headers, manual)
    assert cancelled["status"] == "cancelled"
    assert "cancelled by overlap policy cancel_other" in cancelled["error_message"].lower()
    assert cancelled["completed_at"] is not None
    [new] = [r for r in rows if r["trigger"] == "scheduled"]
    assert new["status"] == "running"
    assert new["started_at"] >= cancelled["completed_at"]
    stop = await client.post(f"{TASKS}/executions/{new['id']}/cancel", headers=admin_headers)
    assert stop.status_code == 200, stop.text


async def test_allow_all_runs_up_to_max_instances_at_once(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(
        client,
        admin_headers,
        id="together",
        task="test_sleep",
        params={"seconds": 4},
        trigger=EVERY_SECOND,
        overlap="allow_all",
        max_instances=2,
    )

    async def two_at_once_and_a_skip() -> list[Any] | None:
        rows = await rows_of(client, admin_headers, "together")
        running = [r for r in rows if r["status"] == "running"]
        skipped = [r for r in rows if r["status"] == "skipped"]
        return rows if len(running) == 2 and skipped else None

    rows = await wait_for(two_at_once_and_a_skip, timeout=20)
    await pause(client, admin_headers, "together")
    assert all("allow_all" in r["error_message"] for r in rows if r["status"] == "skipped")


async def test_skip_runs_one_at_a_time_whatever_max_instances_says(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(
        client,
        admin_headers,
        id="alone",
        task="test_sleep",
        params={"seconds": 3},
        trigger=EVERY_SECOND,
        overlap="skip",
        max_instances=3,
    )

    async def skipped() -> list[Any] | None:
        rows = await rows_of(client, admin_headers, "alone")
        return rows if any(r["status"] == "skipped" for r in rows) else None

    rows = await wait_for(skipped, timeout=20)
    await pause(client, admin_headers, "alone")
    assert len([r for r in rows if r["status"] == "running"]) <= 1


async def test_a_buffered_run_can_be_cancelled_and_never_runs(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(
        client,
        admin_headers,
        id="dropped",
        task="test_sleep",
        # The slot comes while the run started now still runs, with room on a busy machine.
        params={"seconds": 8},
        trigger=one_slot_soon(4),
        overlap="buffer_one",
    )
    manual = await start_manual_run(client, admin_headers, "dropped")

    async def waiting() -> list[Any] | None:
        return buffered(await rows_of(client, admin_headers, "dropped")) or None

    [slot] = await wait_for(waiting, timeout=30)
    response = await client.post(f"{TASKS}/executions/{slot['id']}/cancel", headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"

    async def manual_done() -> Any:
        done = await row(client, admin_headers, manual)
        return done if done["status"] == "success" else None

    await wait_for(manual_done, timeout=40)
    # The poll that would start a buffered run has had its turns.
    await wait_for(lambda: True)
    rows = await rows_of(client, admin_headers, "dropped")
    assert [r["status"] for r in rows] == ["success", "cancelled"]
    assert (await row(client, admin_headers, slot["id"]))["status"] == "cancelled"


async def test_a_buffered_run_survives_a_restart_of_the_scheduler(
    settings: Settings,
) -> None:
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com", PASSWORD))
        await create_job(
            client,
            headers,
            id="kept",
            task="test_sleep",
            params={"seconds": 8},
            trigger=one_slot_soon(4),
            overlap="buffer_one",
        )
        await start_manual_run(client, headers, "kept")

        async def waiting() -> list[Any] | None:
            return buffered(await rows_of(client, headers, "kept")) or None

        [slot] = await wait_for(waiting, timeout=30)
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com", PASSWORD))

        async def ran() -> Any:
            done = await row(client, headers, slot["id"])
            return done if done["status"] == "success" else None

        done = await wait_for(ran, timeout=30)
    assert done["scheduled_at"] == slot["scheduled_at"]
    assert done["attempt"] == 1


async def test_overlap_and_catchup_window_change_by_patch_and_are_audited(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(
        client,
        admin_headers,
        id="changed",
        task="test_sleep",
        params={"seconds": 0},
        trigger={"type": "interval", "hours": 1},
    )
    response = await client.patch(
        f"{TASKS}/changed",
        headers=admin_headers,
        json={"overlap": "buffer_all", "catchup_window_seconds": 600},
    )
    assert response.status_code == 200, response.text
    assert response.json()["overlap"] == "buffer_all"
    assert response.json()["catchup_window_seconds"] == 600
    shown = (await client.get(f"{TASKS}/changed", headers=admin_headers)).json()
    assert (shown["overlap"], shown["catchup_window_seconds"]) == ("buffer_all", 600)
    audit = (await client.get(f"{TASKS}/changed/audit", headers=admin_headers)).json()["items"]
    [modify] = [entry for entry in audit if entry["action"] == "modify"]
    assert modify["before"]["overlap"] == "skip"
    assert modify["after"]["overlap"] == "buffer_all"
    assert modify["before"]["catchup_window_seconds"] is None
    assert modify["after"]["catchup_window_seconds"] == 600

    # null takes the window away; the policy stays.
    cleared = await client.patch(
        f"{TASKS}/changed", headers=admin_headers, json={"catchup_window_seconds": None}
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["catchup_window_seconds"] is None
    assert cleared.json()["overlap"] == "buffer_all"


async def test_export_and_import_keep_overlap_and_catchup_window(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(
        client,
        admin_headers,
        id="moved",
        task="test_sleep",
        params={"seconds": 0},
        trigger={"type": "interval", "hours": 1},
        overlap="cancel_other",
        catchup_window_seconds=120,
    )
    exported = (await client.get(f"{TASKS}/export", headers=admin_headers)).json()
    [job] = [j for j in exported["jobs"] if j["id"] == "moved"]
    assert (job["overlap"], job["catchup_window_seconds"]) == ("cancel_other", 120)
    job = {**job, "id": "copied"}
    imported = await client.post(f"{TASKS}/import", headers=admin_headers, json={"jobs": [job]})
    assert imported.status_code == 200, imported.text
    copied = (await client.get(f"{TASKS}/copied", headers=admin_headers)).json()
    assert (copied["overlap"], copied["catchup_window_seconds"]) == ("cancel_other", 120)


VALID = {
    "id": "refused",
    "task": "test_sleep",
    "params": {"seconds": 0},
    "trigger": {"type": "interval", "hours": 1},
}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"overlap": "queue"}, "overlap"),
        ({"overlap": None}, "overlap"),
        ({"overlap": 1}, "overlap"),
        ({"catchup_window_seconds": -5}, "catchup_window_seconds"),
        ({"catchup_window_seconds": 0}, "catchup_window_seconds"),
        ({"catchup_window_seconds": 10**12}, "catchup_window_seconds"),
        ({"catchup_window_seconds": 1.5}, "catchup_window_seconds"),
        ({"catchup_window_seconds": "60"}, "catchup_window_seconds"),
    ],
)
async def test_bad_input_on_create_is_a_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database: Database,
    body: dict[str, Any],
    field: str,
) -> None:
    before = await stored_state(database)
    response = await client.post(TASKS, headers=admin_headers, json={**VALID, **body})
    assert response.status_code == 422, response.text
    assert field in str([error["loc"] for error in response.json()["detail"]])
    assert await stored_state(database) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"overlap": "queue"}, "overlap"),
        ({"overlap": None}, "overlap"),
        ({"catchup_window_seconds": 0}, "catchup_window_seconds"),
        ({"catchup_window_seconds": 10**12}, "catchup_window_seconds"),
        # A valid policy beside an invalid field changes nothing either.
        ({"overlap": "buffer_one", "max_instances": 0}, "max_instances"),
        ({"overlap": "buffer_one", "catchup_window_seconds": -1}, "catchup_window_seconds"),
    ],
)
async def test_bad_input_on_patch_is_a_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database: Database,
    body: dict[str, Any],
    field: str,
) -> None:
    await create_job(client, admin_headers, **VALID)
    before = await stored_state(database)
    response = await client.patch(f"{TASKS}/refused", headers=admin_headers, json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    located = str([error["loc"] for error in detail]) if isinstance(detail, list) else detail
    assert field in located
    assert await stored_state(database) == before
    job = (await client.get(f"{TASKS}/refused", headers=admin_headers)).json()
    assert job["overlap"] == "skip"
