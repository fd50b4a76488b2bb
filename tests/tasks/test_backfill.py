"""`POST /tasks/{job_id}/backfill`: past slots of a job's trigger run one at a time, in
order, recorded `backfill` at their own `scheduled_at`, each slot at most once."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from tests.conftest import create_job, wait_for
from tests.tasks.http_target import HttpTarget

TASKS = "/api/v1/tasks"
DAILY_AT_3 = {"type": "cron", "hour": 3, "minute": 0}
MAX_RUNS = 5


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], http_target: HttpTarget) -> Settings:
    return settings_factory(HTTP_TASK_ALLOWED_HOSTS=[http_target.host], BACKFILL_MAX_RUNS=MAX_RUNS)


def midnight(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def at_3(days_ago: int) -> str:
    return (midnight(days_ago) + timedelta(hours=3)).isoformat().replace("+00:00", "Z")


async def daily_job(
    client: httpx.AsyncClient, auth: dict[str, str], target: HttpTarget, job_id: str, path: str
) -> None:
    await create_job(
        client,
        auth,
        id=job_id,
        task="http_request",
        params={"url": f"{target.url}{path}"},
        trigger=DAILY_AT_3,
    )


async def runs(client: httpx.AsyncClient, auth: dict[str, str], job_id: str) -> list[Any]:
    response = await client.get(f"{TASKS}/{job_id}/executions", headers=auth, params={"limit": 200})
    assert response.status_code == 200, response.text
    found: list[Any] = response.json()
    return sorted(found, key=lambda run: run["id"])


async def finished_runs(
    client: httpx.AsyncClient, auth: dict[str, str], job_id: str, count: int
) -> list[Any]:
    async def done() -> list[Any] | None:
        found = await runs(client, auth, job_id)
        finished = [run for run in found if run["status"] not in ("running", "queued")]
        return found if len(finished) >= count else None

    result: list[Any] = await wait_for(done, timeout=60)
    return result


def backfill_body(start_days_ago: int, end_days_ago: int, **extra: Any) -> dict[str, Any]:
    return {
        "start": midnight(start_days_ago).isoformat(),
        "end": midnight(end_days_ago).isoformat(),
        **extra,
    }


async def test_past_slots_run_in_order_at_their_own_slots_and_show_on_the_timeline(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: Callable[..., Any],
    http_target: HttpTarget,
) -> None:
    operator, operator_auth = await make_user(role="operator")
    await daily_job(client, admin_headers, http_target, "nightly", "/ok")

    response = await client.post(
        f"{TASKS}/nightly/backfill",
        headers=operator_auth,
        json=backfill_body(5, 2, reason="the host was down"),
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "job_id": "nightly", "runs": 3}

    done = await finished_runs(client, admin_headers, "nightly", 3)
    assert [run["status"] for run in done] == ["success"] * 3
    assert [run["trigger"] for run in done] == ["backfill"] * 3
    expected = [at_3(5), at_3(4), at_3(3)]
    assert [run["scheduled_at"].replace("+00:00", "Z") for run in done] == expected
    # One at a time, in slot order: each starts after the previous one ended.
    for earlier, later in itertools.pairwise(done):
        assert later["started_at"] >= earlier["completed_at"]
    assert http_target.count("/ok") == 3

    timeline = await client.get(
        f"{TASKS}/nightly/timeline",
        headers=admin_headers,
        params={"start": midnight(5).isoformat(), "end": midnight(2).isoformat()},
    )
    assert timeline.status_code == 200, timeline.text
    slots = timeline.json()["slots"]
    assert [slot["time"].replace("+00:00", "Z") for slot in slots] == expected
    assert [(slot["outcome"], slot["trigger"]) for slot in slots] == [("success", "backfill")] * 3
    assert [slot["execution_ids"] for slot in slots] == [[run["id"]] for run in done]

    audit = (await client.get(f"{TASKS}/nightly/audit", headers=admin_headers)).json()["items"]
    [entry] = [entry for entry in audit if entry["action"] == "backfill"]
    assert entry["actor_email"] == operator["email"]
    assert entry["reason"] == "the host was down"
    assert entry["after"]["runs"] == 3


async def test_slots_that_have_a_run_are_not_run_again(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await daily_job(client, admin_headers, http_target, "again", "/ok")
    first = await client.post(
        f"{TASKS}/again/backfill", headers=admin_headers, json=backfill_body(4, 2)
    )
    assert first.status_code == 202, first.text
    await finished_runs(client, admin_headers, "again", 2)

    # Overlapping range: one slot is new.
    second = await client.post(
        f"{TASKS}/again/backfill", headers=admin_headers, json=backfill_body(5, 2)
    )
    assert second.status_code == 202, second.text
    assert second.json()["runs"] == 3
    done = await finished_runs(client, admin_headers, "again", 3)
    # The new slot ran; wait for the one after it to be sure the others were looked at.
    third = await client.post(
        f"{TASKS}/again/backfill", headers=admin_headers, json=backfill_body(6, 5)
    )
    assert third.status_code == 202, third.text
    done = await finished_runs(client, admin_headers, "again", 4)
    slots = [run["scheduled_at"].replace("+00:00", "Z") for run in done]
    assert sorted(slots) == [at_3(6), at_3(5), at_3(4), at_3(3)]
    assert len(done) == 4
    assert http_target.count("/ok") == 4


async def test_a_backfill_slot_waits_for_the_running_run_of_its_job(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await daily_job(client, admin_headers, http_target, "busy", "/slow/2")
    started = await client.post(f"{TASKS}/busy/run", headers=admin_headers)
    assert started.status_code == 202, started.text
    await wait_for(lambda: http_target.count("/slow/2") == 1)

    response = await client.post(
        f"{TASKS}/busy/backfill", headers=admin_headers, json=backfill_body(2, 1)
    )
    assert response.status_code == 202, response.text
    manual, backfilled = await finished_runs(client, admin_headers, "busy", 2)
    assert manual["trigger"] == "manual"
    assert backfilled["trigger"] == "backfill"
    assert backfilled["status"] == "success"
    assert backfilled["started_at"] >= manual["completed_at"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (backfill_body(2, 3), "end"),  # end before start
        (backfill_body(2, 2), "end"),  # empty range
        ({"start": midnight(2).isoformat(), "end": "2999-01-01T00:00:00Z"}, "end"),
        ({"start": "2026-01-01T00:00:00", "end": midnight(1).isoformat()}, "start"),
        ({"start": midnight(3).isoformat(), "end": "2026-12-01T00:00:00"}, "end"),
        (backfill_body(MAX_RUNS + 3, 1), "end"),  # more slots than BACKFILL_MAX_RUNS
        ({"end": midnight(1).isoformat()}, "start"),
        ({"start": "yesterday", "end": midnight(1).isoformat()}, "start"),
        (backfill_body(3, 1, reason=""), "reason"),
        (backfill_body(3, 1, slots=3), "slots"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_runs_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    http_target: HttpTarget,
    body: dict[str, Any],
    field: str,
) -> None:
    await daily_job(client, admin_headers, http_target, "guarded", "/ok")
    response = await client.post(f"{TASKS}/guarded/backfill", headers=admin_headers, json=body)
    assert response.status_code == 422, response.text
    assert field in str([error["loc"] for error in response.json()["detail"]])
    assert await runs(client, admin_headers, "guarded") == []
    audit = (await client.get(f"{TASKS}/guarded/audit", headers=admin_headers)).json()["items"]
    assert [entry for entry in audit if entry["action"] == "backfill"] == []


async def test_an_unknown_job_is_a_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        f"{TASKS}/nobody/backfill", headers=admin_headers, json=backfill_body(3, 1)
    )
    assert response.status_code == 404, response.text
