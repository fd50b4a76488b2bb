"""Bot config CRUD through the API: validation, ownership, superusers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.reddit.conftest import bot_config_body, create_bot


def error_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {str(error["loc"][-1]) for error in response.json()["detail"]}


async def test_create_read_update_delete(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    bot = await create_bot(
        client,
        user_headers,
        subreddits=["r/Python", "python", "/r/learnpython", " AskReddit ", "R/askreddit"],
        keywords=[" asyncio ", "", "AsyncIO", "typing"],
        description="watch python",
    )
    assert bot["subreddits"] == ["Python", "learnpython", "AskReddit"]
    assert bot["keywords"] == ["asyncio", "typing"]
    assert bot["sort"] == "new"
    assert bot["time_filter"] == "day"
    assert (bot["is_active"], bot["auto_scrape_enabled"], bot["scrape_interval_hours"]) == (
        True,
        False,
        6,
    )

    url = f"/api/v1/bot-configs/{bot['id']}"
    assert (await client.get(url, headers=user_headers)).json() == bot

    response = await client.patch(
        url,
        headers=user_headers,
        json={"name": "renamed", "description": None, "sort": "top", "time_filter": "week"},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["name"], updated["description"], updated["sort"]) == ("renamed", None, "top")
    assert updated["time_filter"] == "week"
    assert updated["subreddits"] == bot["subreddits"]

    listed = (await client.get("/api/v1/bot-configs", headers=user_headers)).json()
    assert listed["total"] == 1
    assert listed["items"][0]["name"] == "renamed"

    assert (await client.delete(url, headers=user_headers)).status_code == 204
    assert (await client.get(url, headers=user_headers)).status_code == 404
    assert (await client.delete(url, headers=user_headers)).status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subreddits", []),
        ("subreddits", ["ab"]),
        ("subreddits", ["a" * 22]),
        ("subreddits", ["python", "bad name"]),
        ("subreddits", ["r/"]),
        ("subreddits", ["python-dev"]),
        ("scrape_interval_hours", 0),
        ("scrape_interval_hours", 169),
        ("posts_limit", 0),
        ("posts_limit", 101),
        ("comments_limit", -1),
        ("comments_limit", 501),
        ("sort", "controversial"),
        ("time_filter", "decade"),
        ("name", ""),
        ("keywords", ["x" * 101]),
    ],
)
async def test_create_rejects_bad_input_naming_the_field(
    client: httpx.AsyncClient, user_headers: dict[str, str], field: str, value: Any
) -> None:
    response = await client.post(
        "/api/v1/bot-configs", headers=user_headers, json=bot_config_body(**{field: value})
    )
    assert error_fields(response) == {field}
    listed = (await client.get("/api/v1/bot-configs", headers=user_headers)).json()
    assert listed["total"] == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subreddits", []),
        ("subreddits", ["no spaces"]),
        ("scrape_interval_hours", 200),
        ("posts_limit", 1000),
        ("comments_limit", 600),
        ("sort", "best"),
        ("time_filter", "century"),
        ("name", None),
        ("subreddits", None),
        ("is_active", None),
        ("scrape_interval_hours", None),
    ],
)
async def test_update_rejects_bad_input_naming_the_field(
    client: httpx.AsyncClient, user_headers: dict[str, str], field: str, value: Any
) -> None:
    bot = await create_bot(client, user_headers)
    url = f"/api/v1/bot-configs/{bot['id']}"
    response = await client.patch(url, headers=user_headers, json={field: value})
    assert error_fields(response) == {field}
    assert (await client.get(url, headers=user_headers)).json() == bot


async def test_unknown_fields_are_rejected(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/bot-configs", headers=user_headers, json=bot_config_body(owner_id=1)
    )
    assert error_fields(response) == {"owner_id"}


async def test_authentication_is_required(client: httpx.AsyncClient) -> None:
    for method, url in [
        ("GET", "/api/v1/bot-configs"),
        ("POST", "/api/v1/bot-configs"),
        ("GET", "/api/v1/bot-configs/1"),
        ("PATCH", "/api/v1/bot-configs/1"),
        ("DELETE", "/api/v1/bot-configs/1"),
        ("POST", "/api/v1/bot-configs/1/scrape"),
        ("GET", "/api/v1/scrape-sessions"),
        ("GET", "/api/v1/scrape-sessions/1"),
        ("GET", "/api/v1/reddit/posts"),
        ("GET", "/api/v1/reddit/posts/1/comments"),
    ]:
        response = await client.request(method, url, json={})
        assert response.status_code == 401, (method, url, response.text)


async def test_owners_see_only_their_configs_and_others_are_not_found(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: Callable[..., Any],
) -> None:
    _, alice = await make_user()
    _, bob = await make_user()
    alices = await create_bot(client, alice, name="alice's")
    bobs = await create_bot(client, bob, name="bob's")

    alice_list = (await client.get("/api/v1/bot-configs", headers=alice)).json()
    assert [c["id"] for c in alice_list["items"]] == [alices["id"]]

    url = f"/api/v1/bot-configs/{bobs['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"name": "stolen"}),
        ("DELETE", url, None),
        ("POST", f"{url}/scrape", None),
        ("GET", f"/api/v1/scrape-sessions?bot_config_id={bobs['id']}", None),
        ("GET", f"/api/v1/reddit/posts?bot_config_id={bobs['id']}", None),
    ]:
        response = await client.request(method, path, headers=alice, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == {"detail": "Bot config not found"}
    unknown = await client.get("/api/v1/bot-configs/999999", headers=alice)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Bot config not found"}
    assert (await client.get(url, headers=bob)).json()["name"] == "bob's"

    admin_list = (await client.get("/api/v1/bot-configs", headers=admin_headers)).json()
    assert {c["id"] for c in admin_list["items"]} == {alices["id"], bobs["id"]}
    response = await client.patch(url, headers=admin_headers, json={"name": "moderated"})
    assert response.status_code == 200
    assert response.json()["owner_id"] == bobs["owner_id"]


async def test_list_is_paginated(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    ids = [(await create_bot(client, user_headers, name=f"bot {i}"))["id"] for i in range(3)]
    page = (await client.get("/api/v1/bot-configs?limit=2&offset=1", headers=user_headers)).json()
    assert page["total"] == 3
    assert [c["id"] for c in page["items"]] == ids[1:]
    response = await client.get("/api/v1/bot-configs?limit=0", headers=user_headers)
    assert error_fields(response) == {"limit"}
