"""The task admin API over the real scheduler (its own thread, real job store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_job, executions, finished, wait_for
from tests.tasks.sample_tasks import lines

BUILTIN = {"cleanup_tokens", "cleanup_sessions", "cleanup_content", "cleanup_executions"}


async def test_builtin_jobs_listed_with_the_design_schedules(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/tasks", headers=admin_headers)
    assert response.status_code == 200
    jobs = {j["id"]: j for j in response.json()["items"]}
    assert set(jobs) == BUILTIN
    assert jobs["cleanup_tokens"]["trigger_spec"]["hours"] == 1
    assert jobs["cleanup_sessions"]["trigger"] == "cron[hour='2', minute='0']"
    assert jobs["cleanup_content"]["trigger"] == "cron[day_of_week='sun', hour='2', minute='30']"
    assert jobs["cleanup_executions"]["trigger"] == "cron[hour='3', minute='0']"
    for job in jobs.values():
        assert job["func"] == "app.tasks.runner:run"
        assert job["max_instances"] == 1
        assert job["paused"] is False
        assert job["pending"] is False
        assert job["next_run_time"] is not None
        assert job["builtin"] is True


async def test_system_stats_is_reachable_and_counts_paused_jobs(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    pause = await client.post("/api/v1/tasks/cleanup_sessions/pause", headers=admin_headers)
    assert pause.status_code == 200, pause.text
    response = await client.get("/api/v1/tasks/system/stats", headers=admin_headers)
    assert response.status_code == 200, response.text
    stats = response.json()
    assert "job_id" not in stats
    assert stats["total_jobs"] == 4
    assert stats["paused_jobs"] == 1
    assert stats["active_jobs"] == 3
    assert stats["task_types"] == {"cleanup": 4}
    assert stats["scheduler_running"] is True
    assert stats["leader"]["alive"] is True
    assert stats["leader"]["this_process"] is True


async def test_pause_and_resume(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    before = (await client.get("/api/v1/tasks/cleanup_executions", headers=admin_headers)).json()
    await client.post("/api/v1/tasks/cleanup_executions/pause", headers=admin_headers)
    paused = (await client.get("/api/v1/tasks/cleanup_executions", headers=admin_headers)).json()
    assert paused["paused"] is True
    assert paused["next_run_time"] is None
    resumed = await client.post("/api/v1/tasks/cleanup_executions/resume", headers=admin_headers)
    assert resumed.status_code == 200
    after = (await client.get("/api/v1/tasks/cleanup_executions", headers=admin_headers)).json()
    assert after["paused"] is False
    assert after["next_run_time"] == before["next_run_time"]


async def test_run_now_is_recorded_as_manual_and_keeps_the_schedule(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    out = str(tmp_path / "runs.txt")
    await create_job(
        client,
        admin_headers,
        id="recorder",
        task="test_record",
        params={"path": out},
        trigger={"type": "interval", "hours": 1},
    )
    before = (await client.get("/api/v1/tasks/recorder", headers=admin_headers)).json()
    response = await client.post("/api/v1/tasks/recorder/run", headers=admin_headers)
    assert response.status_code == 202, response.text
    assert response.json()["execution_id"] is not None
    [row] = await finished(client, admin_headers, "recorder")
    assert row["status"] == "success"
    assert row["trigger"] == "manual"
    assert row["scheduled_at"] is None
    assert row["id"] == response.json()["execution_id"]
    assert "written_at" in row["result"]  # a datetime, stored as JSON
    assert len(lines(out)) == 1
    after = (await client.get("/api/v1/tasks/recorder", headers=admin_headers)).json()
    assert after["next_run_time"] == before["next_run_time"]


async def test_run_now_on_a_paused_job_runs_once_and_stays_paused(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await client.post("/api/v1/tasks/cleanup_tokens/pause", headers=admin_headers)
    response = await client.post("/api/v1/tasks/cleanup_tokens/run", headers=admin_headers)
    assert response.status_code == 202
    [row] = await finished(client, admin_headers, "cleanup_tokens")
    assert row["status"] == "success"
    assert row["trigger"] == "manual"
    job = (await client.get("/api/v1/tasks/cleanup_tokens", headers=admin_headers)).json()
    assert job["paused"] is True


async def test_run_now_while_running_answers_409(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(
        client,
        admin_headers,
        id="slow",
        task="test_sleep",
        params={"seconds": 2},
        trigger={"type": "interval", "hours": 1},
    )
    first = await client.post("/api/v1/tasks/slow/run", headers=admin_headers)
    assert first.status_code == 202
    second = await client.post("/api/v1/tasks/slow/run", headers=admin_headers)
    assert second.status_code == 409
    assert "already running" in second.json()["detail"]
    [row] = await finished(client, admin_headers, "slow")
    assert row["status"] == "success"


async def test_failed_run_keeps_message_and_traceback(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    await create_job(
        client,
        admin_headers,
        id="failing",
        task="test_record",
        params={"path": str(tmp_path / "x"), "fail": True},
        trigger={"type": "interval", "hours": 1},
    )
    await client.post("/api/v1/tasks/failing/run", headers=admin_headers)
    [row] = await finished(client, admin_headers, "failing")
    assert row["status"] == "failed"
    assert "boom" in row["error_message"]
    detail = (
        await client.get(f"/api/v1/tasks/executions/{row['id']}", headers=admin_headers)
    ).json()
    assert "Traceback" in detail["error_traceback"]
    assert "ValueError" in detail["error_traceback"]
    stats = (await client.get("/api/v1/tasks/failing/stats", headers=admin_headers)).json()
    assert stats["total_runs"] == 1
    assert stats["failed_runs"] == 1
    assert stats["success_rate"] == 0
    assert stats["last_failure_at"] is not None


async def test_run_past_its_timeout_is_recorded_as_timeout(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(
        client,
        admin_headers,
        id="too_slow",
        task="test_sleep",
        params={"seconds": 30},
        trigger={"type": "interval", "hours": 1},
        timeout_seconds=0.5,
    )
    await client.post("/api/v1/tasks/too_slow/run", headers=admin_headers)
    [row] = await finished(client, admin_headers, "too_slow")
    assert row["status"] == "timeout"
    assert "0.5" in row["error_message"]


async def test_cron_job_created_through_the_api_runs_at_its_time(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    out = str(tmp_path / "cron.txt")
    job = await create_job(
        client,
        admin_headers,
        id="every_second",
        name="Every second",
        task="test_record",
        params={"path": out},
        # Six fields: seconds first. Fires every second.
        trigger={"type": "cron", "expression": "* * * * * *"},
    )
    assert job["trigger_spec"]["second"] == "*"
    rows = await finished(client, admin_headers, "every_second", count=2)
    assert all(r["trigger"] == "scheduled" for r in rows)
    assert all(r["status"] == "success" for r in rows), [
        (r["status"], r["error_message"]) for r in rows
    ]
    for row in rows:
        scheduled = datetime.fromisoformat(row["scheduled_at"])
        assert scheduled.microsecond == 0  # a cron slot, not "now"
        assert datetime.fromisoformat(row["started_at"]) >= scheduled
    assert len({r["scheduled_at"] for r in rows}) == len(rows)
    stats = (await client.get("/api/v1/tasks/every_second/stats", headers=admin_headers)).json()
    assert stats["successful_runs"] >= 2
    assert stats["success_rate"] == 100.0
    assert stats["avg_duration_seconds"] > 0
    assert stats["p95_duration_seconds"] is not None


async def test_modify_keeps_schedule_unless_trigger_changes(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    await create_job(
        client,
        admin_headers,
        id="editable",
        task="test_record",
        params={"path": str(tmp_path / "e")},
        trigger={"type": "interval", "hours": 2},
        paused=True,
    )
    job = (await client.get("/api/v1/tasks/editable", headers=admin_headers)).json()
    assert job["paused"] is True
    renamed = await client.patch(
        "/api/v1/tasks/editable", headers=admin_headers, json={"name": "Renamed"}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Renamed"
    assert renamed.json()["paused"] is True
    retimed = await client.patch(
        "/api/v1/tasks/editable",
        headers=admin_headers,
        json={"trigger": {"type": "cron", "hour": 4, "minute": 15}},
    )
    assert retimed.status_code == 200, retimed.text
    assert retimed.json()["trigger"] == "cron[hour='4', minute='15']"
    assert retimed.json()["paused"] is True  # a new trigger does not un-pause


async def test_delete_job_and_history_survives(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    await create_job(
        client,
        admin_headers,
        id="temporary",
        task="test_record",
        params={"path": str(tmp_path / "t")},
        trigger={"type": "interval", "hours": 1},
    )
    await client.post("/api/v1/tasks/temporary/run", headers=admin_headers)
    await finished(client, admin_headers, "temporary")
    deleted = await client.delete("/api/v1/tasks/temporary", headers=admin_headers)
    assert deleted.status_code == 200
    assert (await client.get("/api/v1/tasks/temporary", headers=admin_headers)).status_code == 404
    assert len(await executions(client, admin_headers, "temporary")) == 1


async def test_builtin_jobs_cannot_be_deleted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.delete("/api/v1/tasks/cleanup_tokens", headers=admin_headers)
    assert response.status_code == 409
    assert (
        await client.get("/api/v1/tasks/cleanup_tokens", headers=admin_headers)
    ).status_code == 200


async def test_registry_lists_tasks_with_param_schemas(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/tasks/registry", headers=admin_headers)
    assert response.status_code == 200
    tasks = {t["name"]: t for t in response.json()}
    assert {"cleanup_expired_tokens", "scrape_bot", "test_record"} <= set(tasks)
    assert "bot_config_id" in tasks["scrape_bot"]["params_schema"]["properties"]


async def test_preview_gives_next_fire_times(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/tasks/preview",
        headers=admin_headers,
        # Crontab weekdays: 1-5 is Monday to Friday.
        json={"trigger": {"type": "cron", "expression": "0 9 * * 1-5"}, "count": 7},
    )
    assert response.status_code == 200, response.text
    times = [datetime.fromisoformat(t) for t in response.json()["next_fire_times"]]
    assert len(times) == 7
    assert all(t.hour == 9 and t.minute == 0 and t.weekday() < 5 for t in times)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"task": "no_such_task"}, "task"),
        ({"params": {"path": 3, "unknown": 1}}, "params"),
        ({"trigger": {"type": "cron", "expression": "61 * * * *"}}, "trigger"),
        ({"trigger": {"type": "cron", "expression": "* * *"}}, "trigger"),
        ({"trigger": {"type": "interval", "seconds": 0}}, "trigger"),
        ({"trigger": {"type": "interval", "hours": -1}}, "trigger"),
        ({"trigger": {"type": "date", "run_date": "2001-01-01T00:00:00Z"}}, "trigger"),
        ({"trigger": {"type": "weekly"}}, "trigger"),
        ({"trigger": {"type": "interval", "hours": 1, "timezone": "Mars/Olympus"}}, "trigger"),
        ({"id": "has spaces"}, "id"),
        ({"max_instances": 0}, "max_instances"),
    ],
)
async def test_create_rejects_bad_input_naming_the_field(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    body: dict[str, Any],
    field: str,
    tmp_path: Path,
) -> None:
    valid = {
        "id": "candidate",
        "task": "test_record",
        "params": {"path": str(tmp_path / "c")},
        "trigger": {"type": "interval", "hours": 1},
    }
    response = await client.post("/api/v1/tasks", headers=admin_headers, json=valid | body)
    assert response.status_code == 422, response.text
    assert field in str(response.json()["detail"])
    listed = (await client.get("/api/v1/tasks", headers=admin_headers)).json()
    assert {j["id"] for j in listed["items"]} == BUILTIN


async def test_create_with_existing_id_is_409_and_changes_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    before = (await client.get("/api/v1/tasks/cleanup_tokens", headers=admin_headers)).json()
    response = await client.post(
        "/api/v1/tasks",
        headers=admin_headers,
        json={
            "id": "cleanup_tokens",
            "task": "test_record",
            "params": {"path": str(tmp_path / "x")},
            "trigger": {"type": "interval", "seconds": 5},
        },
    )
    assert response.status_code == 409
    after = (await client.get("/api/v1/tasks/cleanup_tokens", headers=admin_headers)).json()
    assert after == before


async def test_bad_modify_changes_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    before = (await client.get("/api/v1/tasks/cleanup_sessions", headers=admin_headers)).json()
    for body in (
        {"trigger": {"type": "interval", "minutes": 0}},
        {"trigger": {"type": "cron", "expression": "nonsense"}},
        {"max_instances": -2},
        {"unknown_field": 1},
    ):
        response = await client.patch(
            "/api/v1/tasks/cleanup_sessions", headers=admin_headers, json=body
        )
        assert response.status_code == 422, (body, response.text)
    after = (await client.get("/api/v1/tasks/cleanup_sessions", headers=admin_headers)).json()
    assert after == before


async def test_unknown_job_is_404_everywhere(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for method, path in [
        ("GET", "/api/v1/tasks/nope"),
        ("PATCH", "/api/v1/tasks/nope"),
        ("DELETE", "/api/v1/tasks/nope"),
        ("POST", "/api/v1/tasks/nope/pause"),
        ("POST", "/api/v1/tasks/nope/resume"),
        ("POST", "/api/v1/tasks/nope/run"),
        ("GET", "/api/v1/tasks/executions/999999"),
    ]:
        response = await client.request(
            method, path, headers=admin_headers, json={"name": "x"} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, path, response.text)


async def test_task_api_auth_matrix(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    for method, path in [
        ("GET", "/api/v1/tasks"),
        ("POST", "/api/v1/tasks"),
        ("GET", "/api/v1/tasks/system/stats"),
        ("GET", "/api/v1/tasks/registry"),
        ("GET", "/api/v1/tasks/cleanup_tokens"),
        ("POST", "/api/v1/tasks/cleanup_tokens/pause"),
        ("POST", "/api/v1/tasks/cleanup_tokens/run"),
        ("DELETE", "/api/v1/tasks/cleanup_tokens"),
        ("GET", "/api/v1/tasks/cleanup_tokens/executions"),
        ("GET", "/api/v1/tasks/cleanup_tokens/stats"),
    ]:
        anonymous = await client.request(method, path)
        assert anonymous.status_code == 401, (method, path)
        normal = await client.request(method, path, headers=user_headers)
        assert normal.status_code == 403, (method, path)


async def test_writes_answer_503_without_a_scheduler(settings_factory: Any, tmp_path: Path) -> None:
    from tests.conftest import bearer, login, running_app

    async with running_app(settings_factory(SCHEDULER_ENABLED=False)) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        response = await client.post("/api/v1/tasks/cleanup_tokens/pause", headers=headers)
        assert response.status_code in (404, 503)
        created = await client.post(
            "/api/v1/tasks",
            headers=headers,
            json={
                "id": "later",
                "task": "test_record",
                "params": {"path": str(tmp_path / "l")},
                "trigger": {"type": "interval", "hours": 1},
            },
        )
        assert created.status_code == 503
        assert "No scheduler is running" in created.json()["detail"]
        health = (await client.get("/health")).json()
        assert health["scheduler"]["leader"]["alive"] is False


async def test_a_date_job_runs_once_and_is_gone(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    when = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    await create_job(
        client,
        admin_headers,
        id="one_off",
        task="test_record",
        params={"path": str(tmp_path / "o")},
        trigger={"type": "date", "run_date": when},
    )
    [row] = await finished(client, admin_headers, "one_off")
    assert row["status"] == "success"
    assert row["trigger"] == "scheduled"
    await wait_for(lambda: _gone(client, admin_headers, "one_off"), timeout=5)


async def _gone(client: httpx.AsyncClient, headers: dict[str, str], job_id: str) -> bool:
    return (await client.get(f"/api/v1/tasks/{job_id}", headers=headers)).status_code == 404


async def test_a_date_job_due_at_once_answers_201_with_the_job_as_created(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    """A one-off job due as it is created may run and leave the store before the
    request is answered: the answer is still the job as created, and the run is in the
    history. Jobs due ever later after their request is sent, so that some are due as
    the leader stores them; one whose time passed before the request was checked is a
    422 on `trigger`, with nothing stored."""
    created = []
    for i in range(30):
        job_id = f"at_once_{i}"
        when = datetime.now(UTC) + timedelta(milliseconds=10 * i)
        response = await client.post(
            "/api/v1/tasks",
            headers=admin_headers,
            json={
                "id": job_id,
                "task": "test_record",
                "params": {"path": str(tmp_path / job_id)},
                "trigger": {"type": "date", "run_date": when.isoformat()},
            },
        )
        if response.status_code == 422:
            assert response.json()["detail"][0]["loc"] == ["body", "trigger"]
            assert await executions(client, admin_headers, job_id) == []
            continue
        assert response.status_code == 201, response.text
        job = response.json()
        assert (job["id"], job["task"], job["paused"]) == (job_id, "test_record", False)
        assert job["params"] == {"path": str(tmp_path / job_id)}
        assert datetime.fromisoformat(job["trigger_spec"]["run_date"]) == when
        assert datetime.fromisoformat(job["next_run_time"]) == when
        created.append(job)
    assert len(created) >= 10
    for job in created:
        [row] = await finished(client, admin_headers, job["id"])
        assert (row["status"], row["trigger"]) == ("success", "scheduled")
        assert datetime.fromisoformat(row["scheduled_at"]) == datetime.fromisoformat(
            job["next_run_time"]
        )
        audit = await client.get(f"/api/v1/tasks/{job['id']}/audit", headers=admin_headers)
        [entry] = audit.json()["items"]
        assert entry["action"] == "create"
        assert entry["after"]["next_run_time"] == job["next_run_time"]
        assert entry["after"]["task"] == "test_record"


async def test_a_date_job_changed_to_run_at_once_answers_200_with_the_job_as_changed(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    """As on create: a change that makes a one-off job due at once answers with the
    job as changed, even if it ran and left the store before the answer."""
    later = {"type": "date", "run_date": "2999-01-01T00:00:00Z"}
    changed = []
    for i in range(30):
        job_id = f"moved_{i}"
        path = str(tmp_path / job_id)
        await create_job(
            client,
            admin_headers,
            id=job_id,
            task="test_record",
            params={"path": path},
            trigger=later,
        )
        when = datetime.now(UTC) + timedelta(milliseconds=10 * i)
        response = await client.patch(
            f"/api/v1/tasks/{job_id}",
            headers=admin_headers,
            json={"trigger": {"type": "date", "run_date": when.isoformat()}},
        )
        if response.status_code == 422:
            assert response.json()["detail"][0]["loc"] == ["body", "trigger"]
            continue
        assert response.status_code == 200, response.text
        job = response.json()
        assert (job["id"], job["params"]) == (job_id, {"path": path})
        assert datetime.fromisoformat(job["next_run_time"]) == when
        changed.append(job)
    assert len(changed) >= 10
    for job in changed:
        [row] = await finished(client, admin_headers, job["id"])
        assert row["status"] == "success"
        audit = await client.get(f"/api/v1/tasks/{job['id']}/audit", headers=admin_headers)
        [modify] = [e for e in audit.json()["items"] if e["action"] == "modify"]
        assert modify["after"]["next_run_time"] == job["next_run_time"]
