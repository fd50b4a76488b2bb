"""Reddit apps through the API: a user's own OAuth clients, their secrets kept
encrypted and never shown, bot configs that scrape with them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.db.session import Database
from app.models.reddit_app import RedditApp
from app.services.scraping.reddit_client import CREDENTIALS_REFUSED_REASON
from tests.fakes.reddit import FakeReddit
from tests.reddit.conftest import create_bot, scrape

APPS = "/api/v1/reddit-apps"
SECRET = "s3cr3t-of-the-second-app"


def app_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "my app",
        "client_id": "second-client",
        "client_secret": SECRET,
        "user_agent": "python:my-bot:1.0 (by /u/me)",
    }
    body.update(overrides)
    return body


async def create_app(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = await client.post(APPS, headers=headers, json=app_body(**overrides))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def stored_apps(database: Database) -> list[tuple[Any, ...]]:
    async with database.sessionmaker() as db:
        rows = await db.scalars(select(RedditApp).order_by(RedditApp.id))
        return [
            (a.id, a.owner_id, a.name, a.client_id, a.encrypted_secret, a.user_agent) for a in rows
        ]


async def test_crud_and_the_secret_is_encrypted_and_never_returned(
    client: httpx.AsyncClient, user_headers: dict[str, str], database: Database
) -> None:
    created = await create_app(client, user_headers)
    assert created["has_secret"] is True
    assert "client_secret" not in created
    assert (created["name"], created["client_id"]) == ("my app", "second-client")
    [(_, _, _, _, encrypted, _)] = await stored_apps(database)
    assert SECRET not in encrypted

    listed = (await client.get(APPS, headers=user_headers)).json()
    assert [a["id"] for a in listed["items"]] == [created["id"]]
    assert listed["total"] == 1
    read = (await client.get(f"{APPS}/{created['id']}", headers=user_headers)).json()
    assert read == created

    renamed = await client.patch(
        f"{APPS}/{created['id']}", headers=user_headers, json={"name": "renamed"}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "renamed"
    assert (await stored_apps(database))[0][4] == encrypted

    replaced = await client.patch(
        f"{APPS}/{created['id']}", headers=user_headers, json={"client_secret": "another-one"}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["has_secret"] is True
    assert "client_secret" not in replaced.json()
    new_encrypted = (await stored_apps(database))[0][4]
    assert new_encrypted != encrypted
    assert "another-one" not in new_encrypted

    deleted = await client.delete(f"{APPS}/{created['id']}", headers=user_headers)
    assert deleted.status_code == 204
    assert (await client.get(f"{APPS}/{created['id']}", headers=user_headers)).status_code == 404
    assert await stored_apps(database) == []


async def test_others_apps_are_not_found_and_superusers_see_all(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: Callable[..., Any],
    database: Database,
) -> None:
    _, alice = await make_user()
    _, bob = await make_user()
    alices = await create_app(client, alice)
    bobs = await create_app(client, bob, name="bob's")
    url = f"{APPS}/{alices['id']}"

    assert (await client.get(url, headers=bob)).status_code == 404
    assert (await client.patch(url, headers=bob, json={"name": "mine"})).status_code == 404
    assert (await client.delete(url, headers=bob)).status_code == 404
    assert [a["id"] for a in (await client.get(APPS, headers=bob)).json()["items"]] == [bobs["id"]]
    everyone = (await client.get(APPS, headers=admin_headers)).json()
    assert [a["id"] for a in everyone["items"]] == [alices["id"], bobs["id"]]
    assert (await client.get(url, headers=admin_headers)).json()["name"] == "my app"
    assert len(await stored_apps(database)) == 2
    assert (await stored_apps(database))[0][2] == "my app"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"client_secret": ""}, "client_secret"),
        ({"client_secret": "x" * 513}, "client_secret"),
        ({"client_id": ""}, "client_id"),
        ({"name": "n" * 101}, "name"),
        ({"user_agent": "bad\x00agent"}, "user_agent"),
        ({"name": None}, "name"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_input_names_the_field_and_stores_nothing(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    database: Database,
    body: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(APPS, headers=user_headers, json=app_body(**body))
    assert response.status_code == 422, response.text
    assert ["body", field] in [e["loc"][:2] for e in response.json()["detail"]]
    assert await stored_apps(database) == []

    created = await create_app(client, user_headers)
    before = await stored_apps(database)
    patched = await client.patch(f"{APPS}/{created['id']}", headers=user_headers, json=body)
    assert patched.status_code == 422, patched.text
    assert ["body", field] in [e["loc"][:2] for e in patched.json()["detail"]]
    assert await stored_apps(database) == before


async def test_missing_fields_are_named(
    client: httpx.AsyncClient, user_headers: dict[str, str], database: Database
) -> None:
    response = await client.post(APPS, headers=user_headers, json={"name": "x"})
    assert response.status_code == 422
    missing = {e["loc"][1] for e in response.json()["detail"]}
    assert missing == {"client_id", "client_secret", "user_agent"}
    assert await stored_apps(database) == []


async def test_bot_configs_scrape_with_their_app(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    fake_reddit: FakeReddit,
) -> None:
    fake_reddit.add_client("second-client", SECRET)
    fake_reddit.add_post("python", "hello")
    app = await create_app(client, user_headers, user_agent="my-agent/2.0")
    bot = await create_bot(client, user_headers, reddit_app_id=app["id"])
    assert bot["reddit_app_id"] == app["id"]

    session = await scrape(client, user_headers, bot["id"])
    assert session["status"] == "completed", session
    [token_request] = fake_reddit.requests_to("/api/v1/access_token")
    assert token_request.headers["user-agent"] == "my-agent/2.0"
    assert list(fake_reddit.tokens.values()) == ["second-client"]

    # Back to the app of REDDIT_CLIENT_ID.
    reset = await client.patch(
        f"/api/v1/bot-configs/{bot['id']}", headers=user_headers, json={"reddit_app_id": None}
    )
    assert reset.status_code == 200, reset.text
    assert reset.json()["reddit_app_id"] is None
    assert (await scrape(client, user_headers, bot["id"]))["status"] == "completed"
    assert sorted(fake_reddit.tokens.values()) == ["fake-client-id", "second-client"]


async def test_a_config_takes_only_its_owners_apps(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: Callable[..., Any],
) -> None:
    _, alice = await make_user()
    _, bob = await make_user()
    bobs = await create_app(client, bob)
    admins = await create_app(client, admin_headers)
    for app_id in (bobs["id"], 2_000_000):
        refused = await client.post(
            "/api/v1/bot-configs",
            headers=alice,
            json={"name": "x", "subreddits": ["python"], "reddit_app_id": app_id},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "reddit_app_id"]
    assert (await client.get("/api/v1/bot-configs", headers=alice)).json()["total"] == 0

    bot = await create_bot(client, alice)
    # A superuser editing alice's config cannot give it their own app either.
    refused = await client.patch(
        f"/api/v1/bot-configs/{bot['id']}",
        headers=admin_headers,
        json={"reddit_app_id": admins["id"], "name": "changed"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "reddit_app_id"]
    unchanged = (await client.get(f"/api/v1/bot-configs/{bot['id']}", headers=alice)).json()
    assert (unchanged["name"], unchanged["reddit_app_id"]) == (bot["name"], None)
    bad_type = await client.post(
        "/api/v1/bot-configs",
        headers=alice,
        json={"name": "x", "subreddits": ["python"], "reddit_app_id": "1"},
    )
    assert bad_type.status_code == 422
    assert bad_type.json()["detail"][0]["loc"] == ["body", "reddit_app_id"]


async def test_an_app_in_use_cannot_be_deleted(
    client: httpx.AsyncClient, user_headers: dict[str, str], database: Database
) -> None:
    app = await create_app(client, user_headers)
    bot = await create_bot(client, user_headers, reddit_app_id=app["id"])
    refused = await client.delete(f"{APPS}/{app['id']}", headers=user_headers)
    assert refused.status_code == 409, refused.text
    assert "used by 1 bot config" in refused.json()["detail"]
    assert len(await stored_apps(database)) == 1

    assert (
        await client.delete(f"/api/v1/bot-configs/{bot['id']}", headers=user_headers)
    ).status_code == 204
    assert (await client.delete(f"{APPS}/{app['id']}", headers=user_headers)).status_code == 204


async def test_refused_credentials_fail_the_session_plainly(
    client: httpx.AsyncClient, user_headers: dict[str, str], fake_reddit: FakeReddit
) -> None:
    fake_reddit.add_client("second-client", "what reddit has")
    fake_reddit.add_subreddit("python")
    app = await create_app(client, user_headers)
    bot = await create_bot(client, user_headers, reddit_app_id=app["id"])
    failed = await scrape(client, user_headers, bot["id"])
    assert failed["status"] == "failed"
    assert failed["error_message"] == CREDENTIALS_REFUSED_REASON
    assert fake_reddit.api_requests == []


async def test_the_secret_never_appears_in_answers_or_logs(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    fake_reddit: FakeReddit,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_reddit.add_client("second-client", SECRET)
    fake_reddit.add_post("python", "hello")
    answers: list[httpx.Response] = []
    app = await create_app(client, admin_headers)
    bot = await create_bot(client, admin_headers, reddit_app_id=app["id"])
    answers.append(await client.get(APPS, headers=admin_headers))
    answers.append(await client.get(f"{APPS}/{app['id']}", headers=admin_headers))
    answers.append(await client.get(f"/api/v1/bot-configs/{bot['id']}", headers=admin_headers))
    assert (await scrape(client, admin_headers, bot["id"]))["status"] == "completed"
    # A refused secret: the failure's detail (shown to superusers) names no secret.
    await client.patch(f"{APPS}/{app['id']}", headers=admin_headers, json={"client_secret": "no"})
    failed = await scrape(client, admin_headers, bot["id"])
    assert failed["status"] == "failed"
    answers.append(await client.get("/api/v1/scrape-sessions", headers=admin_headers))
    answers.append(await client.get("/metrics", headers=admin_headers))
    answers.append(await client.get("/api/v1/tasks/audit", headers=admin_headers))
    for answer in answers:
        assert SECRET not in answer.text
    assert "error_detail" in answers[3].text
    assert caplog.records
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in str(record.args)
