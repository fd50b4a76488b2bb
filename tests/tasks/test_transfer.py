"""Export every job, import many: the round trip into a fresh database, what an import
keeps (paused states, next run times, one audit entry per job) and what it refuses
(whole, each error naming its job, nothing stored)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.db.session import Database
from app.schemas.task_transfer import IMPORT_MAX_BODY_BYTES
from tests.conftest import (
    _empty_all_tables,
    bearer,
    create_job,
    login,
    running_app,
    stored_state,
)

TASKS = "/api/v1/tasks"


def job(job_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "task": "cleanup_expired_tokens",
        "trigger": {"type": "interval", "hours": 6},
        **fields,
    }


async def import_jobs(
    client: httpx.AsyncClient, headers: dict[str, str], jobs: list[dict[str, Any]], **body: Any
) -> httpx.Response:
    return await client.post(f"{TASKS}/import", headers=headers, json={"jobs": jobs, **body})


async def export(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get(f"{TASKS}/export", headers=headers)
    assert response.status_code == 200, response.text
    jobs: list[dict[str, Any]] = response.json()["jobs"]
    return jobs


async def test_export_then_import_into_a_fresh_database_gives_the_same_jobs(
    settings: Settings, database_url: str
) -> None:
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        await create_job(client, headers, **job("every-6h", name="Every six hours"))
        await create_job(
            client,
            headers,
            **job(
                "berlin-nights",
                trigger={"type": "cron", "expression": "30 2 * * *", "timezone": "Europe/Berlin"},
                timeout_seconds=120,
                max_instances=2,
                misfire_grace_time=300,
                coalesce=False,
                retry={"max_attempts": 3, "backoff_seconds": 5, "on": ["failed"]},
                pause_after_failures=4,
            ),
        )
        await create_job(
            client,
            headers,
            **job("new-year", trigger={"type": "date", "run_date": "2030-01-01T00:00:00Z"}),
        )
        await create_job(client, headers, **job("held", paused=True))
        paused = await client.post(f"{TASKS}/cleanup_sessions/pause", headers=headers)
        assert paused.status_code == 200, paused.text
        exported = await export(client, headers)
    by_id = {j["id"]: j for j in exported}
    assert {"every-6h", "berlin-nights", "new-year", "held", "cleanup_tokens"} <= set(by_id)
    assert by_id["held"]["paused"] is True
    assert by_id["held"]["next_run_time"] is None
    assert by_id["cleanup_sessions"]["paused"] is True
    assert by_id["berlin-nights"]["max_instances"] == 2
    assert by_id["berlin-nights"]["retry"]["max_attempts"] == 3
    assert by_id["berlin-nights"]["retry"]["on"] == ["failed"]
    assert by_id["berlin-nights"]["pause_after_failures"] == 4
    assert by_id["every-6h"]["retry"] is None
    assert by_id["every-6h"]["next_run_time"] is not None

    _empty_all_tables(database_url)
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        response = await import_jobs(
            client, headers, exported, mode="upsert", reason="moved from staging"
        )
        assert response.status_code == 200, response.text
        builtin = sum(j["id"].startswith("cleanup_") for j in exported)
        assert response.json() == {
            "mode": "upsert",
            "dry_run": False,
            "created": len(exported) - builtin,
            "updated": builtin,
        }
        assert await export(client, headers) == exported
        listed = (await client.get(f"{TASKS}/held", headers=headers)).json()
        assert listed["paused"] is True
        audit = (await client.get(f"{TASKS}/every-6h/audit", headers=headers)).json()["items"]
    [entry] = audit
    assert entry["action"] == "create"
    assert entry["reason"] == "moved from staging"
    assert entry["actor_email"] == "admin@example.com"
    assert entry["after"]["name"] == "Every six hours"
    assert entry["after"]["next_run_time"] is not None


async def test_upsert_replaces_a_job_and_audits_the_change(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(client, admin_headers, **job("nightly"))
    before = (await client.get(f"{TASKS}/nightly", headers=admin_headers)).json()

    response = await import_jobs(
        client,
        admin_headers,
        [job("nightly", name="Nightly", paused=True), job("fresh")],
        mode="upsert",
        reason="sync",
    )

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    assert response.json()["updated"] == 1
    after = (await client.get(f"{TASKS}/nightly", headers=admin_headers)).json()
    assert after["name"] == "Nightly"
    assert after["paused"] is True
    entries = (await client.get(f"{TASKS}/nightly/audit", headers=admin_headers)).json()["items"]
    assert [e["action"] for e in entries] == ["modify", "create"]
    assert entries[0]["reason"] == "sync"
    assert entries[0]["before"]["name"] == before["name"] == "nightly"
    assert entries[0]["before"]["paused"] is False
    assert entries[0]["after"]["paused"] is True


async def test_upsert_keeps_the_next_run_time_of_an_unchanged_trigger(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await create_job(client, admin_headers, **job("steady"))
    before = (await client.get(f"{TASKS}/steady", headers=admin_headers)).json()

    response = await import_jobs(
        client, admin_headers, [job("steady", name="renamed")], mode="upsert"
    )

    assert response.status_code == 200, response.text
    after = (await client.get(f"{TASKS}/steady", headers=admin_headers)).json()
    assert after["name"] == "renamed"
    assert after["next_run_time"] == before["next_run_time"]


async def test_a_dry_run_checks_and_counts_but_stores_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database
) -> None:
    await create_job(client, admin_headers, **job("there"))
    state = await stored_state(database)

    response = await import_jobs(
        client, admin_headers, [job("there"), job("new")], mode="upsert", dry_run=True
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"mode": "upsert", "dry_run": True, "created": 1, "updated": 1}
    assert await stored_state(database) == state


async def test_an_import_creates_many_jobs_with_one_audit_entry_each(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    jobs = [job(f"bulk-{n:04d}", paused=n % 2 == 0) for n in range(300)]

    response = await import_jobs(client, admin_headers, jobs, reason="bulk load")

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 300
    page = (await client.get(TASKS, headers=admin_headers, params={"limit": 500})).json()
    listed = {j["id"]: j for j in page["items"] if j["id"].startswith("bulk-")}
    assert len(listed) == 300
    assert listed["bulk-0000"]["paused"] is True
    assert listed["bulk-0001"]["paused"] is False
    assert listed["bulk-0001"]["next_run_time"] is not None
    for job_id in ("bulk-0000", "bulk-0299"):
        entries = (await client.get(f"{TASKS}/{job_id}/audit", headers=admin_headers)).json()
        assert [(e["action"], e["reason"]) for e in entries["items"]] == [("create", "bulk load")]


# --- refusals: a 4xx naming the field (and the job), nothing stored ------------------


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(TASK_IMPORT_MAX_JOBS=1000)


def errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    detail: list[dict[str, Any]] = response.json()["detail"]
    return detail


BAD_IMPORTS: dict[str, tuple[dict[str, Any], list[Any]]] = {
    "no jobs": ({"jobs": []}, ["body", "jobs"]),
    "jobs not a list": ({"jobs": {"id": "x"}}, ["body", "jobs"]),
    "wrong mode": ({"jobs": [job("a")], "mode": "merge"}, ["body", "mode"]),
    "dry_run not a boolean": ({"jobs": [job("a")], "dry_run": "yes"}, ["body", "dry_run"]),
    "empty reason": ({"jobs": [job("a")], "reason": ""}, ["body", "reason"]),
    "unknown field": ({"jobs": [job("a")], "force": True}, ["body", "force"]),
    "unknown task": ({"jobs": [job("a"), job("b", task="nope")]}, ["body", "jobs", 1, "task"]),
    "bad params": (
        {"jobs": [job("a", params={"x": 1})]},
        ["body", "jobs", 0, "params", "x"],
    ),
    "bad trigger": (
        {"jobs": [job("a", trigger={"type": "cron", "expression": "61 * * * *"})]},
        ["body", "jobs", 0, "trigger", "cron", "expression"],
    ),
    "trigger that never fires": (
        {"jobs": [job("a", trigger={"type": "date", "run_date": "2001-01-01T00:00:00Z"})]},
        ["body", "jobs", 0, "trigger"],
    ),
    "bad id": ({"jobs": [job("a"), job("no spaces")]}, ["body", "jobs", 1, "id"]),
    "duplicate id": ({"jobs": [job("a"), job("b"), job("a")]}, ["body", "jobs", 2, "id"]),
    "bot job": ({"jobs": [job("bot_scraping_1")]}, ["body", "jobs", 0, "id"]),
    "paused with a next run time": (
        {"jobs": [job("a", paused=True, next_run_time="2030-01-01T00:00:00Z")]},
        ["body", "jobs", 0, "next_run_time"],
    ),
    "next run time without offset": (
        {"jobs": [job("a", next_run_time="2030-01-01T00:00:00")]},
        ["body", "jobs", 0, "next_run_time"],
    ),
    "built-in job's task changed": (
        {"jobs": [job("cleanup_tokens", task="cleanup_old_sessions")], "mode": "upsert"},
        ["body", "jobs", 0, "task"],
    ),
    "job not an object": ({"jobs": [job("a"), "b"]}, ["body", "jobs", 1]),
}


@pytest.mark.parametrize("case", BAD_IMPORTS)
async def test_a_bad_import_is_refused_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database, case: str
) -> None:
    body, loc = BAD_IMPORTS[case]
    state = await stored_state(database)

    response = await client.post(f"{TASKS}/import", headers=admin_headers, json=body)

    errors = errors_of(response)
    assert any(e["loc"][: len(loc)] == loc for e in errors), errors
    if len(loc) > 2 and loc[1] == "jobs" and isinstance(body["jobs"][loc[2]], dict):
        named = [e for e in errors if e["loc"][: len(loc)] == loc]
        assert named[0]["job_id"] == body["jobs"][loc[2]]["id"]
    assert await stored_state(database) == state


async def test_more_jobs_than_the_bound_are_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database
) -> None:
    state = await stored_state(database)

    response = await import_jobs(client, admin_headers, [job(f"j{n}") for n in range(1001)])

    [error] = errors_of(response)
    assert error["loc"] == ["body", "jobs"]
    assert "at most 1000" in error["msg"]
    assert await stored_state(database) == state


async def test_one_bad_job_among_a_thousand_is_named_and_nothing_is_imported(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database
) -> None:
    jobs = [job(f"batch-{n:04d}") for n in range(1000)]
    jobs[613] = job("batch-0613", trigger={"type": "interval", "hours": 0})
    state = await stored_state(database)

    response = await import_jobs(client, admin_headers, jobs)

    [error] = errors_of(response)
    assert error["loc"][:4] == ["body", "jobs", 613, "trigger"]
    assert error["job_id"] == "batch-0613"
    assert await stored_state(database) == state


async def test_create_mode_refuses_an_existing_id_by_name(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database
) -> None:
    await create_job(client, admin_headers, **job("taken", name="original"))
    state = await stored_state(database)

    response = await import_jobs(client, admin_headers, [job("free"), job("taken")])

    [error] = errors_of(response)
    assert error["loc"] == ["body", "jobs", 1, "id"]
    assert error["job_id"] == "taken"
    assert "taken" in error["msg"]
    assert await stored_state(database) == state


async def test_every_bad_job_is_listed(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    jobs = [job("ok"), job("bad-task", task="nope"), job("bad-trigger", trigger={"type": "x"})]

    response = await import_jobs(client, admin_headers, jobs)

    assert sorted({e["job_id"] for e in errors_of(response)}) == ["bad-task", "bad-trigger"]


async def test_an_import_body_may_be_larger_than_other_requests_up_to_its_own_bound(
    settings_factory: Callable[..., Settings], database: Database
) -> None:
    settings = settings_factory(MAX_REQUEST_BODY_BYTES=4096)
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        jobs = [job(f"wide-{n:03d}", name="x" * 200) for n in range(100)]
        created = await import_jobs(client, headers, jobs)
        assert created.status_code == 200, created.text
        assert created.json()["created"] == 100
        elsewhere = await client.post(
            f"{TASKS}/preview",
            headers=headers,
            json={"trigger": {"type": "interval", "hours": 1}, "pad": "z" * 5000},
        )
        assert elsewhere.status_code == 413
        state = await stored_state(database)
        too_large = await client.post(
            f"{TASKS}/import",
            headers={**headers, "content-type": "application/json"},
            content=b'{"jobs": [' + b" " * IMPORT_MAX_BODY_BYTES + b"]}",
        )
        assert too_large.status_code == 413
        assert await stored_state(database) == state
