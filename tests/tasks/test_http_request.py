"""The built-in `http_request` task, through the task API, against a real local server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.db.session import Database
from tests.conftest import (
    bearer,
    create_job,
    login,
    run_and_wait,
    running_app,
    stored_state,
)
from tests.tasks.http_target import HttpTarget

HOURLY = {"type": "interval", "hours": 1}


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], http_target: HttpTarget) -> Settings:
    return settings_factory(HTTP_TASK_ALLOWED_HOSTS=[http_target.host])


async def http_job(
    client: httpx.AsyncClient, auth: dict[str, str], job_id: str, **params: Any
) -> dict[str, Any]:
    return await create_job(
        client, auth, id=job_id, task="http_request", params=params, trigger=HOURLY
    )


async def test_a_successful_request_records_status_and_elapsed_time(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    job = await http_job(client, admin_headers, "ping", url=f"{http_target.url}/ok")
    assert job["params"] == {"url": f"{http_target.url}/ok"}
    run = await run_and_wait(client, admin_headers, "ping")
    assert run["status"] == "success", run
    assert run["result"]["status_code"] == 200
    assert isinstance(run["result"]["elapsed_ms"], int | float)
    assert run["result"]["elapsed_ms"] >= 0
    assert http_target.count("/ok") == 1


async def test_method_headers_and_body_are_sent(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await http_job(
        client,
        admin_headers,
        "post_json",
        method="POST",
        url=f"{http_target.url}/ok",
        headers={"X-Token": "abc"},
        body={"hello": "world"},
    )
    run = await run_and_wait(client, admin_headers, "post_json")
    assert run["status"] == "success", run
    [request] = http_target.requests
    assert request["method"] == "POST"
    assert request["headers"]["X-Token"] == "abc"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["body"] == '{"hello":"world"}'


async def test_an_unexpected_status_fails_the_run_with_an_excerpt_of_the_body(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await http_job(client, admin_headers, "broken", url=f"{http_target.url}/status/503")
    run = await run_and_wait(client, admin_headers, "broken")
    assert run["status"] == "failed"
    assert "503" in run["error_message"]
    assert "expected 200-299" in run["error_message"]
    assert "status 503 on purpose with spaces" in run["error_message"]


async def test_expected_status_is_a_range_of_its_own(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await http_job(
        client,
        admin_headers,
        "gone_ok",
        url=f"{http_target.url}/status/410",
        expected_status=[400, 410],
    )
    run = await run_and_wait(client, admin_headers, "gone_ok")
    assert run["status"] == "success", run
    assert run["result"]["status_code"] == 410


async def test_a_slow_answer_is_a_timeout(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    await http_job(
        client, admin_headers, "slow", url=f"{http_target.url}/slow/5", timeout_seconds=0.5
    )
    run = await run_and_wait(client, admin_headers, "slow")
    assert run["status"] == "timeout", run
    assert "HTTP request did not finish within 0.5 s" in run["error_message"]


async def test_a_redirect_within_the_list_is_followed(
    client: httpx.AsyncClient, admin_headers: dict[str, str], http_target: HttpTarget
) -> None:
    target = f"{http_target.url}/ok"
    await http_job(client, admin_headers, "moved", url=f"{http_target.url}/redirect?to={target}")
    run = await run_and_wait(client, admin_headers, "moved")
    assert run["status"] == "success", run
    assert run["result"]["url"] == target
    assert http_target.count("/redirect") == 1
    assert http_target.count("/ok") == 1


async def test_a_redirect_to_a_host_not_listed_is_not_followed(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    http_target: HttpTarget,
    other_target: HttpTarget,
) -> None:
    away = f"{other_target.url}/ok"
    await http_job(client, admin_headers, "escape", url=f"{http_target.url}/redirect?to={away}")
    run = await run_and_wait(client, admin_headers, "escape")
    assert run["status"] == "failed"
    assert "HTTP_TASK_ALLOWED_HOSTS" in run["error_message"]
    assert other_target.host in run["error_message"]
    assert http_target.count("/redirect") == 1
    assert other_target.total() == 0


async def test_a_host_not_listed_is_refused_at_create_and_nothing_is_stored(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database: Database,
    other_target: HttpTarget,
) -> None:
    before = await stored_state(database)
    for url in (f"{other_target.url}/ok", "http://example.com/", "http://127.0.0.1/ok"):
        response = await client.post(
            "/api/v1/tasks",
            headers=admin_headers,
            json={"id": "away", "task": "http_request", "params": {"url": url}, "trigger": HOURLY},
        )
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "params", "url"]
        assert "HTTP_TASK_ALLOWED_HOSTS" in error["msg"]
    assert await stored_state(database) == before
    assert other_target.total() == 0


async def test_a_host_not_listed_is_refused_at_patch_and_nothing_changes(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database: Database,
    http_target: HttpTarget,
    other_target: HttpTarget,
) -> None:
    await http_job(client, admin_headers, "stay", url=f"{http_target.url}/ok")
    before = await stored_state(database)
    response = await client.patch(
        "/api/v1/tasks/stay",
        headers=admin_headers,
        json={"params": {"url": f"{other_target.url}/ok"}},
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "params", "url"]
    assert "HTTP_TASK_ALLOWED_HOSTS" in error["msg"]
    assert await stored_state(database) == before


async def test_a_host_taken_off_the_list_is_not_called_at_run_time(
    settings_factory: Callable[..., Settings], http_target: HttpTarget
) -> None:
    allowed = settings_factory(HTTP_TASK_ALLOWED_HOSTS=[http_target.host])
    async with running_app(allowed) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        await http_job(client, headers, "was_allowed", url=f"{http_target.url}/ok")
    async with running_app(settings_factory()) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        run = await run_and_wait(client, headers, "was_allowed")
    assert run["status"] == "failed"
    assert "HTTP_TASK_ALLOWED_HOSTS" in run["error_message"]
    assert http_target.total() == 0


async def test_a_listed_host_allows_every_port_of_it(
    settings_factory: Callable[..., Settings], http_target: HttpTarget
) -> None:
    async with running_app(settings_factory(HTTP_TASK_ALLOWED_HOSTS="127.0.0.1")) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        await http_job(client, headers, "any_port", url=f"{http_target.url}/ok")
        run = await run_and_wait(client, headers, "any_port")
    assert run["status"] == "success", run
    assert http_target.count("/ok") == 1


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({}, ["url"]),
        ({"url": "ftp://127.0.0.1/x"}, ["url"]),
        ({"url": "not a url"}, ["url"]),
        ({"url": "{url}", "method": "FETCH"}, ["method"]),
        ({"url": "{url}", "expected_status": [299, 200]}, ["expected_status"]),
        ({"url": "{url}", "expected_status": [200]}, ["expected_status"]),
        ({"url": "{url}", "expected_status": [200, 700]}, ["expected_status", "1"]),
        ({"url": "{url}", "timeout_seconds": 0}, ["timeout_seconds"]),
        ({"url": "{url}", "timeout_seconds": 100000}, ["timeout_seconds"]),
        ({"url": "{url}", "headers": {"X-A": "a\r\nX-B: b"}}, ["headers", "X-A"]),
        ({"url": "{url}", "headers": {"bad name": "x"}}, ["headers", "bad name", "[key]"]),
        ({"url": "{url}", "body": 5}, ["body"]),
        ({"url": "{url}", "unknown": 1}, ["unknown"]),
    ],
)
async def test_bad_params_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database: Database,
    http_target: HttpTarget,
    params: dict[str, Any],
    loc: list[Any],
) -> None:
    params = {
        k: v.format(url=http_target.url + "/ok") if k == "url" else v for k, v in params.items()
    }
    before = await stored_state(database)
    response = await client.post(
        "/api/v1/tasks",
        headers=admin_headers,
        json={"id": "bad", "task": "http_request", "params": params, "trigger": HOURLY},
    )
    assert response.status_code == 422, response.text
    locs = [error["loc"] for error in response.json()["detail"]]
    assert any(found[: 2 + len(loc)] == ["body", "params", *loc] for found in locs), locs
    assert await stored_state(database) == before
    assert http_target.total() == 0
