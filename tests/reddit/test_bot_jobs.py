"""A bot config's scraping job follows the config, in the request that changes it,
checked through the task admin API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.core.config import Settings
from app.crud import bot_config as bot_config_crud
from app.db.session import Database
from tests.conftest import bearer, login, running_app
from tests.reddit.conftest import bot_config_body, create_bot


async def get_job(client: httpx.AsyncClient, admin: dict[str, str], bot_id: int) -> httpx.Response:
    return await client.get(f"/api/v1/tasks/bot_scraping_{bot_id}", headers=admin)


async def job(client: httpx.AsyncClient, admin: dict[str, str], bot_id: int) -> dict[str, Any]:
    response = await get_job(client, admin, bot_id)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def patch(
    client: httpx.AsyncClient, headers: dict[str, str], bot_id: int, **values: Any
) -> dict[str, Any]:
    response = await client.patch(f"/api/v1/bot-configs/{bot_id}", headers=headers, json=values)
    assert response.status_code == 200, response.text
    updated: dict[str, Any] = response.json()
    return updated


def next_run(info: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(info["next_run_time"])


async def test_the_job_follows_its_bot_config(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user_headers: dict[str, str]
) -> None:
    before = datetime.now(UTC)
    bot = await create_bot(client, user_headers, auto_scrape_enabled=True, scrape_interval_hours=3)
    bot_id = bot["id"]

    created = await job(client, admin_headers, bot_id)
    assert created["task"] == "scrape_bot"
    assert created["params"] == {"bot_config_id": bot_id}
    assert created["trigger_spec"]["type"] == "interval"
    assert created["trigger_spec"]["hours"] == 3
    assert created["bot_config_id"] == bot_id
    assert created["paused"] is False
    assert before + timedelta(hours=3) <= next_run(created)
    assert next_run(created) <= datetime.now(UTC) + timedelta(hours=3)

    # Neither a rename nor other settings touch the schedule.
    await patch(client, user_headers, bot_id, name="renamed", posts_limit=50, keywords=["x"])
    renamed = await job(client, admin_headers, bot_id)
    assert renamed["next_run_time"] == created["next_run_time"]
    assert renamed["trigger"] == created["trigger"]
    # Nor does sending the values it already has.
    await patch(client, user_headers, bot_id, scrape_interval_hours=3, is_active=True)
    assert (await job(client, admin_headers, bot_id))["next_run_time"] == created["next_run_time"]

    await patch(client, user_headers, bot_id, scrape_interval_hours=5)
    rescheduled = await job(client, admin_headers, bot_id)
    assert rescheduled["trigger_spec"]["hours"] == 5
    assert rescheduled["trigger"] != created["trigger"]
    assert rescheduled["next_run_time"] != created["next_run_time"]
    assert next_run(rescheduled) > next_run(created)

    await patch(client, user_headers, bot_id, auto_scrape_enabled=False)
    assert (await get_job(client, admin_headers, bot_id)).status_code == 404
    # Changing the interval of a config without a job does not create one.
    await patch(client, user_headers, bot_id, scrape_interval_hours=7)
    assert (await get_job(client, admin_headers, bot_id)).status_code == 404

    await patch(client, user_headers, bot_id, auto_scrape_enabled=True)
    back = await job(client, admin_headers, bot_id)
    assert back["trigger_spec"]["hours"] == 7

    await patch(client, user_headers, bot_id, is_active=False)
    assert (await get_job(client, admin_headers, bot_id)).status_code == 404
    await patch(client, user_headers, bot_id, is_active=True)
    assert (await job(client, admin_headers, bot_id))["trigger_spec"]["hours"] == 7

    response = await client.delete(f"/api/v1/bot-configs/{bot_id}", headers=user_headers)
    assert response.status_code == 204
    assert (await get_job(client, admin_headers, bot_id)).status_code == 404


async def test_no_job_without_auto_scrape_or_when_inactive(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user_headers: dict[str, str]
) -> None:
    manual = await create_bot(client, user_headers)
    inactive = await create_bot(client, user_headers, auto_scrape_enabled=True, is_active=False)
    for bot in (manual, inactive):
        assert (await get_job(client, admin_headers, bot["id"])).status_code == 404
    jobs = (await client.get("/api/v1/tasks", headers=admin_headers)).json()["items"]
    assert not [j for j in jobs if j["id"].startswith("bot_scraping_")]
    # Deleting a config that had no job is fine too.
    response = await client.delete(f"/api/v1/bot-configs/{manual['id']}", headers=user_headers)
    assert response.status_code == 204


async def test_the_job_cannot_be_changed_behind_the_configs_back(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user_headers: dict[str, str]
) -> None:
    bot = await create_bot(client, user_headers, auto_scrape_enabled=True)
    job_url = f"/api/v1/tasks/bot_scraping_{bot['id']}"
    assert (await client.delete(job_url, headers=admin_headers)).status_code == 409
    response = await client.patch(
        job_url, headers=admin_headers, json={"trigger": {"type": "interval", "hours": 1}}
    )
    assert response.status_code == 409


async def test_without_a_scheduler_job_changes_fail_and_nothing_changes(
    settings_factory: Callable[..., Settings], database: Database
) -> None:
    """No leader: a change that needs the job answers 503 and the config is as before;
    a change that does not need it still works."""
    settings = settings_factory(SCHEDULER_ENABLED=False)
    async with running_app(settings) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))

        response = await client.post(
            "/api/v1/bot-configs",
            headers=headers,
            json=bot_config_body(auto_scrape_enabled=True),
        )
        assert response.status_code == 503, response.text
        assert "No scheduler is running" in response.json()["detail"]
        assert (await client.get("/api/v1/bot-configs", headers=headers)).json()["total"] == 0

        manual = await create_bot(client, headers)
        url = f"/api/v1/bot-configs/{manual['id']}"
        response = await client.patch(url, headers=headers, json={"auto_scrape_enabled": True})
        assert response.status_code == 503
        assert (await client.get(url, headers=headers)).json() == manual

        async with database.transaction() as db:
            scheduled = await bot_config_crud.create(
                db,
                owner_id=manual["owner_id"],
                name="scheduled",
                subreddits=["python"],
                auto_scrape_enabled=True,
            )
        url = f"/api/v1/bot-configs/{scheduled.id}"
        response = await client.patch(url, headers=headers, json={"name": "renamed"})
        assert response.status_code == 200, response.text
        response = await client.patch(url, headers=headers, json={"scrape_interval_hours": 2})
        assert response.status_code == 503
        assert (await client.delete(url, headers=headers)).status_code == 503
        kept = (await client.get(url, headers=headers)).json()
        assert (kept["name"], kept["scrape_interval_hours"]) == ("renamed", 6)


async def test_deleting_a_user_removes_their_bots_jobs(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: Callable[..., Any]
) -> None:
    user, headers = await make_user()
    bot = await create_bot(client, headers, auto_scrape_enabled=True, scrape_interval_hours=2)
    assert (await get_job(client, admin_headers, bot["id"])).status_code == 200
    deleted = await client.delete(f"/api/v1/users/{user['id']}", headers=admin_headers)
    assert deleted.status_code == 204, deleted.text
    assert (await get_job(client, admin_headers, bot["id"])).status_code == 404
