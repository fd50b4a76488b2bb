"""The audit log: who changed which job, how and why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import create_job, run_and_wait


async def audit(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/tasks/{job_id}/audit", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    entries: list[dict[str, Any]] = body["items"]
    return entries


async def test_every_job_change_is_recorded_with_its_actor_and_reason(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: Callable[..., Any],
    tmp_path: Path,
) -> None:
    other, other_headers = await make_user("ops@example.com", superuser=True)
    await create_job(
        client,
        admin_headers,
        id="audited",
        name="Audited",
        task="test_record",
        params={"path": str(tmp_path / "a")},
        trigger={"type": "interval", "hours": 1},
        reason="nightly export for finance",
    )
    pause = await client.post(
        "/api/v1/tasks/audited/pause", headers=other_headers, params={"reason": "incident 42"}
    )
    assert pause.status_code == 200, pause.text
    resume = await client.post("/api/v1/tasks/audited/resume", headers=admin_headers)
    assert resume.status_code == 200
    run = await run_and_wait(client, other_headers, "audited")
    patch = await client.patch(
        "/api/v1/tasks/audited",
        headers=admin_headers,
        json={"trigger": {"type": "cron", "hour": 4, "minute": 0}, "reason": "off-peak"},
    )
    assert patch.status_code == 200, patch.text
    delete = await client.delete(
        "/api/v1/tasks/audited", headers=other_headers, params={"reason": "replaced"}
    )
    assert delete.status_code == 200

    entries = await audit(client, admin_headers, "audited")
    assert [e["action"] for e in entries] == [
        "delete",
        "modify",
        "run",
        "resume",
        "pause",
        "create",
    ]
    by_action = {e["action"]: e for e in entries}
    assert {a: e["actor_email"] for a, e in by_action.items()} == {
        "create": "admin@example.com",
        "pause": "ops@example.com",
        "resume": "admin@example.com",
        "run": "ops@example.com",
        "modify": "admin@example.com",
        "delete": "ops@example.com",
    }
    assert by_action["pause"]["actor_id"] == other["id"]
    assert {a: e["reason"] for a, e in by_action.items()} == {
        "create": "nightly export for finance",
        "pause": "incident 42",
        "resume": None,
        "run": None,
        "modify": "off-peak",
        "delete": "replaced",
    }
    assert all(e["source"] == "tasks" for e in entries)

    create = by_action["create"]
    assert create["before"] is None
    assert create["after"]["task"] == "test_record"
    assert create["after"]["trigger"] == "interval[1:00:00]"
    assert by_action["pause"]["before"]["paused"] is False
    assert by_action["pause"]["after"]["paused"] is True
    assert by_action["pause"]["after"]["next_run_time"] is None
    assert by_action["resume"]["after"]["paused"] is False
    assert by_action["run"]["after"] == {"status": "started", "execution_id": run["id"]}
    assert by_action["modify"]["before"]["trigger"] == "interval[1:00:00]"
    assert by_action["modify"]["after"]["trigger"] == "cron[hour='4', minute='0']"
    assert by_action["delete"]["before"]["name"] == "Audited"
    assert by_action["delete"]["after"] is None
    # The entries are written in the request's own transaction: times are in order.
    times = [e["created_at"] for e in entries]
    assert times == sorted(times, reverse=True)


async def test_refused_changes_leave_no_entry(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for method, path, body in [
        ("DELETE", "/api/v1/tasks/cleanup_tokens", None),  # built in: 409
        ("PATCH", "/api/v1/tasks/cleanup_tokens", {"trigger": {"type": "interval"}}),  # 422
        ("PATCH", "/api/v1/tasks/cleanup_tokens", {"task": "test_record"}),  # 409
        ("POST", "/api/v1/tasks/cleanup_tokens/pause?reason=", None),  # empty reason: 422
    ]:
        response = await client.request(method, path, headers=admin_headers, json=body)
        assert response.status_code in (409, 422), (path, response.text)
    assert await audit(client, admin_headers, "cleanup_tokens") == []
    # An empty PATCH changes nothing, so it records nothing either.
    empty = await client.patch("/api/v1/tasks/cleanup_tokens", headers=admin_headers, json={})
    assert empty.status_code == 200
    assert await audit(client, admin_headers, "cleanup_tokens") == []


async def test_a_reason_in_the_body_wins_over_the_query(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.patch(
        "/api/v1/tasks/cleanup_sessions",
        headers=admin_headers,
        params={"reason": "from the query"},
        json={"name": "Sessions", "reason": "from the body"},
    )
    assert response.status_code == 200, response.text
    [entry] = await audit(client, admin_headers, "cleanup_sessions")
    assert entry["reason"] == "from the body"
    assert entry["before"]["name"] == "Clean up old scrape sessions"
    assert entry["after"]["name"] == "Sessions"


async def test_bot_config_schedule_changes_are_recorded_under_its_job(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: Callable[..., Any],
) -> None:
    owner, owner_headers = await make_user("owner@example.com")
    created = await client.post(
        "/api/v1/bot-configs",
        headers=owner_headers,
        json={
            "name": "Python news",
            "subreddits": ["python"],
            "auto_scrape_enabled": True,
            "scrape_interval_hours": 6,
        },
    )
    assert created.status_code == 201, created.text
    bot_id = created.json()["id"]
    job_id = f"bot_scraping_{bot_id}"
    renamed = await client.patch(
        f"/api/v1/bot-configs/{bot_id}", headers=owner_headers, json={"name": "Py"}
    )
    assert renamed.status_code == 200
    retimed = await client.patch(
        f"/api/v1/bot-configs/{bot_id}",
        headers=admin_headers,
        json={"scrape_interval_hours": 12},
    )
    assert retimed.status_code == 200, retimed.text
    deleted = await client.delete(f"/api/v1/bot-configs/{bot_id}", headers=owner_headers)
    assert deleted.status_code == 204

    entries = await audit(client, admin_headers, job_id)
    # The rename does not touch the schedule, so it is not there.
    assert [(e["action"], e["actor_email"]) for e in entries] == [
        ("delete", "owner@example.com"),
        ("modify", "admin@example.com"),
        ("create", "owner@example.com"),
    ]
    assert all(e["source"] == "bot_config" and e["bot_config_id"] == bot_id for e in entries)
    delete, modify, create = entries
    assert create["actor_id"] == owner["id"]
    assert create["after"] == {
        "is_active": True,
        "auto_scrape_enabled": True,
        "scrape_interval_hours": 6,
        "job_scheduled": True,
    }
    assert modify["before"]["scrape_interval_hours"] == 6
    assert modify["after"]["scrape_interval_hours"] == 12
    assert delete["before"]["scrape_interval_hours"] == 12
    assert delete["after"] is None


async def test_audit_is_for_superusers_only(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    assert (await client.get("/api/v1/tasks/cleanup_tokens/audit")).status_code == 401
    response = await client.get("/api/v1/tasks/cleanup_tokens/audit", headers=user_headers)
    assert response.status_code == 403


async def test_pause_resume_run_and_delete_take_the_reason_from_a_json_body(
    client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    await create_job(
        client,
        admin_headers,
        id="reasoned",
        task="test_record",
        params={"path": str(tmp_path / "r")},
        trigger={"type": "interval", "hours": 1},
    )
    for action in ("pause", "resume", "run"):
        response = await client.post(
            f"/api/v1/tasks/reasoned/{action}",
            headers=admin_headers,
            json={"reason": f"{action} from the body"},
        )
        assert response.status_code in (200, 202), response.text
    both = await client.post(
        "/api/v1/tasks/reasoned/pause",
        headers=admin_headers,
        params={"reason": "from the query"},
        json={"reason": "pause again from the body"},
    )
    assert both.status_code == 200
    delete = await client.request(
        "DELETE",
        "/api/v1/tasks/reasoned",
        headers=admin_headers,
        json={"reason": "delete from the body"},
    )
    assert delete.status_code == 200, delete.text

    entries = await audit(client, admin_headers, "reasoned")
    assert [(e["action"], e["reason"]) for e in reversed(entries)] == [
        ("create", None),
        ("pause", "pause from the body"),
        ("resume", "resume from the body"),
        ("run", "run from the body"),
        ("pause", "pause again from the body"),
        ("delete", "delete from the body"),
    ]


async def test_a_bad_reason_body_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for body in ({"reason": ""}, {"reason": "x" * 501}, {"why": "typo"}, {"reason": 5}):
        response = await client.post(
            "/api/v1/tasks/cleanup_tokens/pause", headers=admin_headers, json=body
        )
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"][:2] == [
            "body",
            "why" if "why" in body else "reason",
        ]
    job = (await client.get("/api/v1/tasks/cleanup_tokens", headers=admin_headers)).json()
    assert job["paused"] is False
    assert await audit(client, admin_headers, "cleanup_tokens") == []
