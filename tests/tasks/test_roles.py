"""Roles on the task API: every endpoint under /api/v1/tasks against every kind of
caller (users of each role, a superuser, a bot owner, API keys of each role, revoked,
expired and unknown keys, nobody), and audit entries that name the key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import update

from app.core.config import Settings
from app.db.session import Database
from app.models.api_key import ApiKey
from tests.conftest import create_job, run_and_wait

MakeUser = Callable[..., Awaitable[tuple[dict[str, Any], dict[str, str]]]]

TASKS = "/api/v1/tasks"
KEYS = "/api/v1/api-keys"
USERS = "/api/v1/users"
RANK = {"viewer": 0, "operator": 1, "admin": 2}


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    # The matrix sends many wrong keys on purpose; their throttle has tests of its own.
    return settings_factory(API_KEY_MAX_FAILURES_PER_ADDRESS=100_000)


@dataclass(frozen=True)
class Endpoint:
    needs: str  # the least role allowed
    body: Callable[[str, Path], dict[str, Any] | None] = lambda caller, tmp: None
    query: dict[str, str] | None = None
    # The answer to a caller its role lets in, when not a 2xx: the matrix's run has
    # finished, so cancelling it is a conflict, not a refusal.
    admitted: int | None = None


def job_body(job_id: str, tmp: Path) -> dict[str, Any]:
    return {
        "id": job_id,
        "task": "test_record",
        "params": {"path": str(tmp / f"{job_id}.log")},
        "trigger": {"type": "interval", "hours": 1},
    }


# Every endpoint under /api/v1/tasks and the role it needs, in the order the matrix
# calls them (a caller's own job is deleted last). A new endpoint fails
# `test_the_matrix_covers_every_task_endpoint` until it is given its role here.
ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("GET", "/api/v1/tasks"): Endpoint("viewer"),
    ("GET", "/api/v1/tasks/system/stats"): Endpoint("viewer"),
    ("GET", "/api/v1/tasks/registry"): Endpoint("viewer"),
    ("POST", "/api/v1/tasks/preview"): Endpoint(
        "viewer", lambda caller, tmp: {"trigger": {"type": "interval", "hours": 1}}
    ),
    ("GET", "/api/v1/tasks/executions/{execution_id}"): Endpoint("viewer"),
    ("GET", "/api/v1/tasks/export"): Endpoint("viewer"),
    ("GET", "/api/v1/tasks/{job_id}"): Endpoint("viewer"),
    ("GET", "/api/v1/tasks/{job_id}/executions"): Endpoint("viewer"),
    ("GET", "/api/v1/tasks/{job_id}/stats"): Endpoint("viewer"),
    ("GET", "/api/v1/tasks/{job_id}/audit"): Endpoint("viewer"),
    ("GET", "/api/v1/tasks/{job_id}/timeline"): Endpoint(
        "viewer", query={"start": "2027-01-01T00:00:00Z", "end": "2027-01-02T00:00:00Z"}
    ),
    ("POST", "/api/v1/tasks/{job_id}/pause"): Endpoint("operator"),
    ("POST", "/api/v1/tasks/{job_id}/resume"): Endpoint("operator"),
    ("POST", "/api/v1/tasks/{job_id}/run"): Endpoint("operator"),
    ("POST", "/api/v1/tasks/{job_id}/backfill"): Endpoint(
        "operator",
        lambda caller, tmp: {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:01Z"},
    ),
    ("POST", "/api/v1/tasks/executions/{execution_id}/cancel"): Endpoint("operator", admitted=409),
    ("POST", "/api/v1/tasks"): Endpoint("admin", lambda who, tmp: job_body(f"new-{who}", tmp)),
    ("POST", "/api/v1/tasks/import"): Endpoint(
        "admin", lambda who, tmp: {"jobs": [job_body(f"imported-{who}", tmp)]}
    ),
    ("PATCH", "/api/v1/tasks/{job_id}"): Endpoint("admin", lambda caller, tmp: {"name": "renamed"}),
    ("DELETE", "/api/v1/tasks/{job_id}"): Endpoint("admin"),
}


def task_endpoints(app: FastAPI) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        if route.path and (route.path == TASKS or route.path.startswith(TASKS + "/")):
            found.update((method, route.path) for method in route.methods or ())
    return found


def test_the_matrix_covers_every_task_endpoint(settings: Settings) -> None:
    from app.main import create_app

    assert task_endpoints(create_app(settings)) == set(ENDPOINTS)


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]
    role: str | None  # what it may do; None: nothing in the task system
    refused_with: int = 403  # the answer where its role does not reach

    def may(self, needs: str) -> bool:
        return self.role is not None and RANK[self.role] >= RANK[needs]


def key_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def make_key(
    client: httpx.AsyncClient, headers: dict[str, str], role: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        KEYS, headers=headers, json={"name": f"{role} key", "role": role, **body}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def callers(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: MakeUser,
    database: Database,
) -> list[Caller]:
    found = [Caller("superuser", admin_headers, "admin")]
    for role in ("viewer", "operator", "admin"):
        found.append(Caller(role, (await make_user(role=role))[1], role))
    found.append(Caller("owner", (await make_user())[1], None))
    # The keys' user is an admin, so each key acts with its own role.
    _, boss = await make_user(role="admin")
    for role in ("viewer", "operator", "admin"):
        key = await make_key(client, boss, role)
        found.append(Caller(f"key-{role}", key_headers(key["key"]), role))
    revoked = await make_key(client, boss, "admin")
    assert (await client.delete(f"{KEYS}/{revoked['id']}", headers=boss)).status_code == 204
    found.append(Caller("key-revoked", key_headers(revoked["key"]), None, 401))
    expired = await make_key(
        client, boss, "admin", expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
    )
    async with database.transaction() as db:
        await db.execute(
            update(ApiKey)
            .where(ApiKey.id == expired["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    found.append(Caller("key-expired", key_headers(expired["key"]), None, 401))
    found.append(Caller("key-unknown", key_headers("rbk_" + "A" * 43), None, 401))
    found.append(Caller("nobody", {}, None, 401))
    return found


async def test_every_task_endpoint_answers_each_caller_by_role(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: MakeUser,
    database: Database,
    tmp_path: Path,
) -> None:
    assert task_endpoints(app) == set(ENDPOINTS)
    everyone = await callers(client, admin_headers, make_user, database)
    execution_id = None
    for caller in everyone:
        await create_job(client, admin_headers, **job_body(f"job-{caller.name}", tmp_path))
        if execution_id is None:
            execution_id = (await run_and_wait(client, admin_headers, f"job-{caller.name}"))["id"]

    wrong: list[str] = []
    for caller in everyone:
        for (method, template), endpoint in ENDPOINTS.items():
            path = template.format(job_id=f"job-{caller.name}", execution_id=execution_id)
            response = await client.request(
                method,
                path,
                headers=caller.headers,
                json=endpoint.body(caller.name, tmp_path),
                params=endpoint.query,
            )
            allowed = caller.may(endpoint.needs)
            admitted = endpoint.admitted
            expected = (
                (str(admitted) if admitted else "2xx") if allowed else str(caller.refused_with)
            )
            if allowed and admitted is not None:
                right = response.status_code == admitted
            elif allowed:
                right = 200 <= response.status_code < 300
            else:
                right = response.status_code == caller.refused_with
            if not right:
                wrong.append(
                    f"{caller.name} {method} {template}: {response.status_code}, "
                    f"expected {expected}: {response.text[:200]}"
                )
            elif not allowed and caller.refused_with == 403:
                detail = response.json()["detail"]
                if detail != f"This needs the {endpoint.needs} role or higher":
                    wrong.append(f"{caller.name} {method} {template}: detail {detail!r}")
    assert wrong == [], "\n".join(wrong)

    # Nothing refused happened: those callers' jobs are as they were, and no job of
    # theirs was made.
    jobs = {j["id"]: j for j in (await client.get(TASKS, headers=admin_headers)).json()["items"]}
    for caller in everyone:
        own, made = f"job-{caller.name}", f"new-{caller.name}"
        imported = f"imported-{caller.name}"
        if caller.may("admin"):
            assert own not in jobs, caller.name
            assert made in jobs, caller.name
            assert imported in jobs, caller.name
            continue
        assert made not in jobs, caller.name
        assert imported not in jobs, caller.name
        assert jobs[own]["name"] == own, caller.name
        assert jobs[own]["paused"] is False, caller.name
        audit = (await client.get(f"{TASKS}/{own}/audit", headers=admin_headers)).json()
        actions = [e["action"] for e in audit["items"]]
        if caller.may("operator"):
            assert actions == ["backfill", "run", "resume", "pause", "create"], caller.name
        else:
            assert actions == ["create"], caller.name


# --- audit names the key -------------------------------------------------------------


async def test_audit_entries_name_the_key(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser, tmp_path: Path
) -> None:
    boss, headers = await make_user("boss@example.com", role="admin")
    key = await make_key(client, headers, "admin", name="deploy bot")
    as_key = key_headers(key["key"])
    created = await client.post(
        TASKS, headers=as_key, json={**job_body("keyed", tmp_path), "reason": "deploy"}
    )
    assert created.status_code == 201, created.text
    paused = await client.post(f"{TASKS}/keyed/pause", headers=headers, params={"reason": "me"})
    assert paused.status_code == 200, paused.text

    response = await client.get(f"{TASKS}/keyed/audit", headers=admin_headers)

    by_login, by_key = response.json()["items"]
    assert by_key["action"] == "create"
    assert by_key["reason"] == "deploy"
    assert by_key["actor_id"] == boss["id"]
    assert by_key["actor_email"] == "boss@example.com"
    assert by_key["api_key_id"] == key["id"]
    assert by_key["api_key_name"] == "deploy bot"
    assert by_login["action"] == "pause"
    assert by_login["actor_email"] == "boss@example.com"
    assert by_login["api_key_id"] is None
    assert by_login["api_key_name"] is None
    # The entry still names the key after it is revoked.
    assert (await client.delete(f"{KEYS}/{key['id']}", headers=headers)).status_code == 204
    again = (await client.get(f"{TASKS}/keyed/audit", headers=admin_headers)).json()["items"]
    assert again[1]["api_key_name"] == "deploy bot"


# --- a key never above its user -------------------------------------------------------


async def test_a_key_loses_job_powers_when_its_user_is_demoted(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser, tmp_path: Path
) -> None:
    boss, headers = await make_user(role="admin")
    as_key = key_headers((await make_key(client, headers, "admin"))["key"])
    await create_job(client, as_key, **job_body("mine", tmp_path))

    demoted = await client.patch(
        f"{USERS}/{boss['id']}", headers=admin_headers, json={"role": "operator"}
    )
    assert demoted.status_code == 200, demoted.text

    refused = await client.patch(f"{TASKS}/mine", headers=as_key, json={"name": "x"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This needs the admin role or higher"
    assert (await client.post(f"{TASKS}/mine/pause", headers=as_key)).status_code == 200
    job = (await client.get(f"{TASKS}/mine", headers=as_key)).json()
    assert job["name"] == "mine"
    assert job["paused"] is True
