"""`GET /tasks/{job_id}/timeline`: every slot of a job's trigger in a window, with what
became of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.db.session import Database
from app.models.audit import AuditAction, AuditEntry
from app.models.task_execution import ExecutionStatus, ExecutionTrigger, TaskExecution
from tests.conftest import create_job, run_and_wait


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def get_timeline(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str, start: str, end: str
) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/tasks/{job_id}/timeline", headers=headers, params={"start": start, "end": end}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def times(timeline: dict[str, Any]) -> list[str]:
    return [iso(datetime.fromisoformat(slot["time"])) for slot in timeline["slots"]]


def outcomes(timeline: dict[str, Any]) -> list[str]:
    return [slot["outcome"] for slot in timeline["slots"]]


async def test_past_slots_show_their_runs_the_pauses_and_the_gaps(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database
) -> None:
    now = datetime.now(UTC)
    # A daily slot twelve hours away from now, so that none fires during the test.
    hour = (now.hour + 12) % 24
    await create_job(
        client,
        admin_headers,
        id="daily",
        task="test_sleep",
        params={"seconds": 0},
        trigger={"type": "cron", "hour": hour, "minute": 0},
    )
    last = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if last > now:
        last -= timedelta(days=1)
    day = timedelta(days=1)
    slot = [last - day * (9 - i) for i in range(10)]  # slot[9] is the latest past one
    recorded = {
        0: ExecutionStatus.SUCCESS,
        1: ExecutionStatus.FAILED,
        2: ExecutionStatus.TIMEOUT,
        3: ExecutionStatus.INTERRUPTED,
        4: ExecutionStatus.SKIPPED,
        5: ExecutionStatus.MISSED,
        8: ExecutionStatus.RUNNING,
    }
    async with database.transaction() as db:
        # The job has existed for ten days; it was paused over slot 6.
        await db.execute(
            update(AuditEntry)
            .where(AuditEntry.job_id == "daily", AuditEntry.action == AuditAction.CREATE)
            .values(created_at=slot[0] - timedelta(hours=1))
        )
        for action, at, paused in (
            (AuditAction.PAUSE, slot[6] - timedelta(hours=1), True),
            (AuditAction.RESUME, slot[6] + timedelta(hours=1), False),
        ):
            db.add(
                AuditEntry(
                    created_at=at,
                    actor_email="admin@example.com",
                    action=action,
                    job_id="daily",
                    after={"paused": paused},
                )
            )
        for index, status in recorded.items():
            db.add(
                TaskExecution(
                    job_id="daily",
                    job_name="daily",
                    task="test_sleep",
                    status=status,
                    trigger=ExecutionTrigger.SCHEDULED,
                    scheduled_at=slot[index],
                    started_at=slot[index],
                )
            )
        db.add(
            TaskExecution(
                job_id="daily",
                job_name="daily",
                task="test_sleep",
                status=ExecutionStatus.SUCCESS,
                trigger=ExecutionTrigger.MANUAL,
                scheduled_at=None,
                started_at=slot[3] + timedelta(minutes=10),
            )
        )
    start, end = slot[0] - timedelta(days=2), last + day * 3 + timedelta(hours=1)
    timeline = await get_timeline(client, admin_headers, "daily", iso(start), iso(end))
    assert timeline["job_id"] == "daily"
    scheduled = [s for s in timeline["slots"] if s["trigger"] == "scheduled"]
    # Slots before the job existed are not its own.
    assert [s["time"] for s in scheduled[:10]] == [iso(t) for t in slot]
    assert [s["outcome"] for s in scheduled] == [
        "success",
        "failed",
        "timeout",
        "interrupted",
        "skipped",
        "missed",
        "paused",
        "missed",  # nothing recorded, after the resume
        "running",
        "missed",
        "upcoming",
        "upcoming",
        "upcoming",
    ]
    assert all(s["attempts"] == 1 and len(s["execution_ids"]) == 1 for s in scheduled[:6])
    assert scheduled[6]["execution_ids"] == []
    assert scheduled[6]["attempts"] == 0
    [manual] = [s for s in timeline["slots"] if s["trigger"] == "manual"]
    assert manual["outcome"] == "success"
    assert manual["time"] == iso(slot[3] + timedelta(minutes=10))
    # In time order, between the slots around it.
    assert timeline["slots"].index(manual) == 4
    for entry in scheduled[:6]:
        [execution_id] = entry["execution_ids"]
        run = await client.get(f"/api/v1/tasks/executions/{execution_id}", headers=admin_headers)
        assert run.json()["scheduled_at"] == entry["time"]


async def test_a_paused_job_has_paused_slots_ahead_and_upcoming_ones_once_resumed(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(
        client,
        admin_headers,
        id="hourly",
        task="test_sleep",
        params={"seconds": 0},
        trigger={"type": "interval", "hours": 1},
    )
    run = await run_and_wait(client, admin_headers, "hourly")
    now = datetime.now(UTC)
    start, end = iso(now - timedelta(hours=1)), iso(now + timedelta(hours=5, minutes=30))
    await client.post("/api/v1/tasks/hourly/pause", headers=admin_headers)
    paused = await get_timeline(client, admin_headers, "hourly", start, end)
    [manual] = [s for s in paused["slots"] if s["trigger"] == "manual"]
    assert manual["execution_ids"] == [run["id"]]
    assert manual["outcome"] == "success"
    ahead = [s for s in paused["slots"] if s["trigger"] == "scheduled"]
    assert len(ahead) == 5
    assert {s["outcome"] for s in ahead} == {"paused"}
    await client.post("/api/v1/tasks/hourly/resume", headers=admin_headers)
    resumed = await get_timeline(client, admin_headers, "hourly", start, end)
    ahead = [s for s in resumed["slots"] if s["trigger"] == "scheduled"]
    assert {s["outcome"] for s in ahead} == {"upcoming"}
    job = (await client.get("/api/v1/tasks/hourly", headers=admin_headers)).json()
    assert ahead[0]["time"] == job["next_run_time"].replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("cron", "start", "end", "expected"),
    [
        # Spring: 02:30 does not exist on 28 March; the job runs at 03:00 CEST instead.
        (
            "30 2 * * *",
            "2027-03-27T00:00:00Z",
            "2027-03-30T00:00:00Z",
            ["2027-03-27T01:30:00Z", "2027-03-28T01:00:00Z", "2027-03-29T00:30:00Z"],
        ),
        # A wildcard hour has no run in the skipped hour.
        (
            "30 * * * *",
            "2027-03-28T00:00:00Z",
            "2027-03-28T03:00:00Z",
            ["2027-03-28T00:30:00Z", "2027-03-28T01:30:00Z", "2027-03-28T02:30:00Z"],
        ),
        # Autumn: 02:30 comes twice on 31 October; a fixed time runs at the first.
        (
            "30 2 * * *",
            "2027-10-30T00:00:00Z",
            "2027-11-02T00:00:00Z",
            ["2027-10-30T00:30:00Z", "2027-10-31T00:30:00Z", "2027-11-01T01:30:00Z"],
        ),
        # ...and a wildcard hour runs in both 02:30s.
        (
            "30 * * * *",
            "2027-10-30T23:00:00Z",
            "2027-10-31T03:00:00Z",
            [
                "2027-10-30T23:30:00Z",
                "2027-10-31T00:30:00Z",
                "2027-10-31T01:30:00Z",
                "2027-10-31T02:30:00Z",
            ],
        ),
    ],
)
async def test_slots_follow_the_clock_changes_of_the_zone(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    cron: str,
    start: str,
    end: str,
    expected: list[str],
) -> None:
    await create_job(
        client,
        admin_headers,
        id="berlin",
        task="test_sleep",
        params={"seconds": 0},
        trigger={"type": "cron", "expression": cron, "timezone": "Europe/Berlin"},
    )
    timeline = await get_timeline(client, admin_headers, "berlin", start, end)
    assert times(timeline) == expected
    assert set(outcomes(timeline)) == {"upcoming"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"end": "2027-01-02T00:00:00Z"}, "start"),
        ({"start": "2027-01-01T00:00:00Z"}, "end"),
        ({"start": "2027-01-01T00:00:00", "end": "2027-01-02T00:00:00Z"}, "start"),
        ({"start": "2027-01-01T00:00:00Z", "end": "2027-01-02T00:00:00"}, "end"),
        ({"start": "yesterday", "end": "2027-01-02T00:00:00Z"}, "start"),
        ({"start": "2027-01-02T00:00:00Z", "end": "2027-01-02T00:00:00Z"}, "end"),
        ({"start": "2027-01-03T00:00:00Z", "end": "2027-01-02T00:00:00Z"}, "end"),
        ({"start": "2027-01-01T00:00:00Z", "end": "2028-06-01T00:00:00Z"}, "end"),
        ({"start": "2027-01-01T00:00:00Z", "end": "3001-01-01T00:00:00Z"}, "end"),
        # Every minute for a day: 1440 slots, more than one timeline holds.
        ({"start": "2027-01-01T00:00:00Z", "end": "2027-01-02T00:00:00Z"}, "end"),
    ],
)
async def test_bad_windows_are_refused_naming_the_field(
    client: httpx.AsyncClient, admin_headers: dict[str, str], params: dict[str, str], field: str
) -> None:
    await create_job(
        client,
        admin_headers,
        id="minutely",
        task="test_sleep",
        params={"seconds": 0},
        trigger={"type": "cron", "expression": "* * * * *"},
        paused=True,
    )
    response = await client.get(
        "/api/v1/tasks/minutely/timeline", headers=admin_headers, params=params
    )
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [["query", field]]


async def test_the_timeline_of_an_unknown_job_is_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.get(
        "/api/v1/tasks/nope/timeline",
        headers=admin_headers,
        params={"start": "2027-01-01T00:00:00Z", "end": "2027-01-02T00:00:00Z"},
    )
    assert response.status_code == 404


async def test_viewers_read_the_timeline(client: httpx.AsyncClient, make_user: Any) -> None:
    _, headers = await make_user(role="viewer")
    now = datetime.now(UTC)
    timeline = await get_timeline(
        client, headers, "cleanup_tokens", iso(now), iso(now + timedelta(hours=3, minutes=1))
    )
    assert outcomes(timeline) == ["upcoming"] * 3
