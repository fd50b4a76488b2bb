"""`POST /tasks/executions/{id}/cancel` with the local executor: a running run stops
and is recorded `cancelled` with who cancelled it; finished and unknown runs are refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from tests.conftest import create_job, run_and_wait, wait_for
from tests.tasks.http_target import HttpTarget

TASKS = "/api/v1/tasks"
HOURLY = {"type": "interval", "hours": 1}


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], http_target: HttpTarget) -> Settings:
    return settings_factory(HTTP_TASK_ALLOWED_HOSTS=[http_target.host])


async def slow_run(
    client: httpx.AsyncClient, auth: dict[str, str], http_target: HttpTarget, job_id: str
) -> int:
    """Start a run that waits on the test server far longer than any test, and return
    its id once the task is inside the request."""
    await create_job(
        client,
        auth,
        id=job_id,
        task="http_request",
        params={"url": f"{http_target.url}/slow/120", "timeout_seconds": 300},
        trigger=HOURLY,
    )
    response = await client.post(f"{TASKS}/{job_id}/run", headers=auth)
    assert response.status_code == 202, response.text
    execution_id: int = response.json()["execution_id"]
    await wait_for(lambda: http_target.count("/slow/120") == 1)
    return execution_id


async def execution(client: httpx.AsyncClient, auth: dict[str, str], run_id: int) -> Any:
    response = await client.get(f"{TASKS}/executions/{run_id}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_running_run_is_cancelled_and_names_who_cancelled_it(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: Callable[..., Any],
    http_target: HttpTarget,
) -> None:
    operator, operator_auth = await make_user(role="operator")
    run_id = await slow_run(client, admin_headers, http_target, "slow")

    response = await client.post(
        f"{TASKS}/executions/{run_id}/cancel",
        headers=operator_auth,
        json={"reason": "stuck on a slow host"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == run_id
    assert body["status"] == "cancelled"
    assert operator["email"] in body["error_message"]
    assert "stuck on a slow host" in body["error_message"]
    assert body["completed_at"] is not None

    # The task stopped: the job is free to run again at once (not 409, still running).
    second = await client.post(f"{TASKS}/slow/run", headers=admin_headers)
    assert second.status_code == 202, second.text
    # And the cancelled row kept its outcome when the run path ended.
    assert (await execution(client, admin_headers, run_id))["status"] == "cancelled"

    audit = (await client.get(f"{TASKS}/slow/audit", headers=admin_headers)).json()["items"]
    cancels = [entry for entry in audit if entry["action"] == "cancel"]
    assert len(cancels) == 1
    assert cancels[0]["actor_email"] == operator["email"]
    assert cancels[0]["reason"] == "stuck on a slow host"
    assert cancels[0]["before"] == {"execution_id": run_id, "status": "running"}
    assert cancels[0]["after"] == {"execution_id": run_id, "status": "cancelled"}


async def test_a_cancelled_run_is_finished_not_failed_in_stats(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    run_id = await slow_run(client, admin_headers, http_target, "counted")
    cancelled = await client.post(f"{TASKS}/executions/{run_id}/cancel", headers=admin_headers)
    assert cancelled.status_code == 200, cancelled.text

    stats = (await client.get(f"{TASKS}/counted/stats", headers=admin_headers)).json()
    assert stats["total_runs"] == 1
    assert stats["failed_runs"] == 0
    assert stats["running_runs"] == 0
    listed = await client.get(
        f"{TASKS}/counted/executions", headers=admin_headers, params={"status": "cancelled"}
    )
    assert [run["id"] for run in listed.json()] == [run_id]


async def test_a_finished_run_is_a_409_and_keeps_its_outcome(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await create_job(
        client,
        admin_headers,
        id="quick",
        task="http_request",
        params={"url": f"{http_target.url}/ok"},
        trigger=HOURLY,
    )
    run = await run_and_wait(client, admin_headers, "quick")
    assert run["status"] == "success"

    response = await client.post(f"{TASKS}/executions/{run['id']}/cancel", headers=admin_headers)
    assert response.status_code == 409, response.text
    assert "finished" in response.json()["detail"]
    after = await execution(client, admin_headers, run["id"])
    assert after["status"] == "success"
    assert after["error_message"] is None
    audit = (await client.get(f"{TASKS}/quick/audit", headers=admin_headers)).json()["items"]
    assert [entry for entry in audit if entry["action"] == "cancel"] == []


async def test_an_unknown_run_is_a_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(f"{TASKS}/executions/999999/cancel", headers=admin_headers)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("abc", None, "execution_id"),
        ("1.5", None, "execution_id"),
        ("{run}", {"reason": ""}, "reason"),
        ("{run}", {"reason": "x" * 5000}, "reason"),
        ("{run}", {"reason": 5}, "reason"),
        ("{run}", {"why": "no field of that name"}, "why"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_cancels_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    http_target: HttpTarget,
    path: str,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    run_id = await slow_run(client, admin_headers, http_target, "kept")
    response = await client.post(
        f"{TASKS}/executions/{path.format(run=run_id)}/cancel", headers=admin_headers, json=body
    )
    assert response.status_code == 422, response.text
    assert field in str([error["loc"] for error in response.json()["detail"]])
    assert (await execution(client, admin_headers, run_id))["status"] == "running"
    cancelled = await client.post(f"{TASKS}/executions/{run_id}/cancel", headers=admin_headers)
    assert cancelled.status_code == 200, cancelled.text
