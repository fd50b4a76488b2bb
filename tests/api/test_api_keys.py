"""API keys through the HTTP API: made by admins and shown once, listed without the key,
revoked at once, refused when expired, never above their user's role, and throttled
when wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.core.config import Settings
from app.db.session import Database
from app.models.api_key import ApiKey

MakeUser = Callable[..., Awaitable[tuple[dict[str, Any], dict[str, str]]]]

KEYS = "/api/v1/api-keys"
USERS = "/api/v1/users"
JOBS = "/api/v1/tasks"
PER_ADDRESS = 3
WINDOW = 900


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        SCHEDULER_ENABLED=False,
        API_KEY_MAX_FAILURES_PER_ADDRESS=PER_ADDRESS,
        API_KEY_THROTTLE_WINDOW_SECONDS=WINDOW,
    )


def key_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def make_key(
    client: httpx.AsyncClient, headers: dict[str, str], role: str = "viewer", **body: Any
) -> dict[str, Any]:
    response = await client.post(
        KEYS, headers=headers, json={"name": f"{role} script", "role": role, **body}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def listed(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get(KEYS, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def stored_key(database: Database, key_id: int) -> ApiKey:
    async with database.sessionmaker() as db:
        key = (await db.scalars(select(ApiKey).where(ApiKey.id == key_id))).one()
        return key


async def set_key(database: Database, key_id: int, **values: Any) -> None:
    """Move a key's clock: what a key remembers of time is only these columns."""
    async with database.transaction() as db:
        await db.execute(update(ApiKey).where(ApiKey.id == key_id).values(**values))


@pytest.fixture
async def boss(make_user: MakeUser) -> tuple[dict[str, Any], dict[str, str]]:
    """An admin who is not a superuser."""
    return await make_user("boss@example.com", role="admin")


# --- made once, listed without the key -----------------------------------------------


async def test_a_key_is_shown_once_and_listed_without_it(
    client: httpx.AsyncClient, boss: tuple[dict[str, Any], dict[str, str]]
) -> None:
    user, headers = boss
    expires = datetime.now(UTC) + timedelta(days=30)

    created = await make_key(
        client, headers, "operator", name="nightly export", expires_at=expires.isoformat()
    )

    key = created["key"]
    assert key.startswith("rbk_")
    assert len(key) >= 4 + 43
    assert created["prefix"] == key[:12]
    assert created["name"] == "nightly export"
    assert created["role"] == "operator"
    assert created["user_id"] == user["id"]
    assert created["user_email"] == "boss@example.com"
    assert datetime.fromisoformat(created["expires_at"]) == expires
    assert created["last_used_at"] is None
    assert created["revoked_at"] is None
    items = await listed(client, headers)
    assert [i["id"] for i in items] == [created["id"]]
    assert "key" not in items[0]
    assert key not in (await client.get(KEYS, headers=headers)).text
    assert items[0] == {k: v for k, v in created.items() if k != "key"}


async def test_every_key_is_different(
    client: httpx.AsyncClient, boss: tuple[dict[str, Any], dict[str, str]]
) -> None:
    _, headers = boss
    keys = {(await make_key(client, headers))["key"] for _ in range(5)}
    assert len(keys) == 5


async def test_a_key_works_as_a_bearer_token_and_notes_its_use(
    client: httpx.AsyncClient, boss: tuple[dict[str, Any], dict[str, str]], database: Database
) -> None:
    _, headers = boss
    created = await make_key(client, headers, "viewer")

    assert (await client.get(JOBS, headers=key_headers(created["key"]))).status_code == 200

    first_use = (await listed(client, headers))[0]["last_used_at"]
    assert first_use is not None
    # A second use right after writes nothing.
    assert (await client.get(JOBS, headers=key_headers(created["key"]))).status_code == 200
    assert (await listed(client, headers))[0]["last_used_at"] == first_use
    # A use noted long enough ago is noted again.
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    await set_key(database, created["id"], last_used_at=long_ago)
    assert (await client.get(JOBS, headers=key_headers(created["key"]))).status_code == 200
    assert (await stored_key(database, created["id"])).last_used_at > long_ago  # type: ignore[operator]


# --- revoked and expired --------------------------------------------------------------


async def test_a_revoked_key_is_refused_at_once(
    client: httpx.AsyncClient, boss: tuple[dict[str, Any], dict[str, str]]
) -> None:
    _, headers = boss
    created = await make_key(client, headers, "viewer")
    other = await make_key(client, headers, "viewer")
    assert (await client.get(JOBS, headers=key_headers(created["key"]))).status_code == 200

    response = await client.delete(f"{KEYS}/{created['id']}", headers=headers)

    assert response.status_code == 204, response.text
    refused = await client.get(JOBS, headers=key_headers(created["key"]))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "This API key has been revoked"
    assert refused.headers["www-authenticate"] == "Bearer"
    revoked_at = {i["id"]: i["revoked_at"] for i in await listed(client, headers)}
    assert revoked_at[created["id"]] is not None
    assert revoked_at[other["id"]] is None
    assert (await client.get(JOBS, headers=key_headers(other["key"]))).status_code == 200
    # Again: still revoked, from the first time on.
    assert (await client.delete(f"{KEYS}/{created['id']}", headers=headers)).status_code == 204
    again = {i["id"]: i["revoked_at"] for i in await listed(client, headers)}
    assert again[created["id"]] == revoked_at[created["id"]]


@pytest.mark.parametrize("key_id", [12345, 2**31, 0])
async def test_revoking_an_unknown_key_is_404(
    client: httpx.AsyncClient, boss: tuple[dict[str, Any], dict[str, str]], key_id: int
) -> None:
    _, headers = boss
    assert (await client.delete(f"{KEYS}/{key_id}", headers=headers)).status_code == 404


async def test_an_expired_key_is_refused(
    client: httpx.AsyncClient, boss: tuple[dict[str, Any], dict[str, str]], database: Database
) -> None:
    _, headers = boss
    expires = datetime.now(UTC) + timedelta(hours=1)
    created = await make_key(client, headers, "viewer", expires_at=expires.isoformat())
    assert (await client.get(JOBS, headers=key_headers(created["key"]))).status_code == 200

    await set_key(database, created["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))

    refused = await client.get(JOBS, headers=key_headers(created["key"]))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "This API key has expired"


@pytest.mark.parametrize(
    "key", ["rbk_not-a-key", "rbk_", "rbk_" + "x" * 5000], ids=["unknown", "prefix-only", "long"]
)
async def test_an_unknown_key_is_401(client: httpx.AsyncClient, key: str) -> None:
    refused = await client.get(JOBS, headers=key_headers(key))
    assert refused.status_code == 401, key[:10]
    assert refused.json()["detail"] == "Invalid API key"


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "superuser"}, "role"),
        ({"role": None}, "role"),
        ({"role": "Admin"}, "role"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a\u0000b"}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"name": 7}, "name"),
        ({"expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ({"expires_at": "9999-12-31T23:59:59-14:00"}, "expires_at"),
        ({"expires_at": "9999-12-31T23:59:59Z"}, "expires_at"),
        ({"expires_at": "soon"}, "expires_at"),
        ({"key": "rbk_chosen-by-me"}, "key"),
    ],
)
async def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient,
    boss: tuple[dict[str, Any], dict[str, str]],
    body: dict[str, Any],
    field: str,
) -> None:
    _, headers = boss

    response = await client.post(
        KEYS, headers=headers, json={"name": "script", "role": "viewer", **body}
    )

    assert response.status_code == 422, response.text
    assert {e["loc"][-1] for e in response.json()["detail"]} == {field}
    assert await listed(client, headers) == []


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "offset=-1", "offset=9223372036854775808"]
)
async def test_paging_is_bounded(
    client: httpx.AsyncClient, boss: tuple[dict[str, Any], dict[str, str]], query: str
) -> None:
    _, headers = boss
    assert (await client.get(f"{KEYS}?{query}", headers=headers)).status_code == 422, query


# --- who manages keys ----------------------------------------------------------------


@pytest.mark.parametrize("role", [None, "viewer", "operator"])
async def test_only_admins_manage_keys(
    client: httpx.AsyncClient,
    boss: tuple[dict[str, Any], dict[str, str]],
    make_user: MakeUser,
    role: str | None,
) -> None:
    _, boss_headers = boss
    existing = await make_key(client, boss_headers)
    _, headers = await make_user(role=role)

    made = await client.post(KEYS, headers=headers, json={"name": "mine", "role": "viewer"})
    listing = await client.get(KEYS, headers=headers)
    revoking = await client.delete(f"{KEYS}/{existing['id']}", headers=headers)

    for response in (made, listing, revoking):
        assert response.status_code == 403, response.text
        assert response.json()["detail"] == "This needs the admin role or higher"
    assert [i["revoked_at"] for i in await listed(client, boss_headers)] == [None]


@pytest.mark.parametrize(
    ("method", "path"), [("POST", KEYS), ("GET", KEYS), ("DELETE", f"{KEYS}/1")]
)
async def test_keys_need_authentication(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json={"name": "x", "role": "viewer"})
    assert response.status_code == 401, (method, path)


async def test_an_admin_sees_and_revokes_everyone_s_keys(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    boss: tuple[dict[str, Any], dict[str, str]],
) -> None:
    _, boss_headers = boss
    mine = await make_key(client, boss_headers, "operator")
    theirs = await make_key(client, admin_headers, "admin")

    assert {i["id"] for i in await listed(client, boss_headers)} == {mine["id"], theirs["id"]}
    assert (await client.delete(f"{KEYS}/{theirs['id']}", headers=boss_headers)).status_code == 204
    assert (await client.get(JOBS, headers=key_headers(theirs["key"]))).status_code == 401


async def test_a_key_cannot_make_keys_but_an_admin_key_lists_and_revokes_them(
    client: httpx.AsyncClient, boss: tuple[dict[str, Any], dict[str, str]]
) -> None:
    _, headers = boss
    admin_key = await make_key(client, headers, "admin")
    other = await make_key(client, headers, "viewer")
    as_key = key_headers(admin_key["key"])

    made = await client.post(KEYS, headers=as_key, json={"name": "child", "role": "viewer"})

    assert made.status_code == 403, made.text
    assert "cannot make API keys" in made.json()["detail"]
    assert len(await listed(client, as_key)) == 2
    assert (await client.delete(f"{KEYS}/{other['id']}", headers=as_key)).status_code == 204
    assert (await client.get(JOBS, headers=key_headers(other["key"]))).status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/users/me"),
        ("PATCH", "/api/v1/users/me"),
        ("GET", "/api/v1/bot-configs"),
        ("GET", "/api/v1/scrape-sessions"),
        ("GET", "/api/v1/reddit/posts"),
    ],
)
async def test_a_key_is_refused_outside_the_task_and_admin_api(
    client: httpx.AsyncClient, boss: tuple[dict[str, Any], dict[str, str]], method: str, path: str
) -> None:
    _, headers = boss
    as_key = key_headers((await make_key(client, headers, "admin"))["key"])
    response = await client.request(method, path, headers=as_key, json={})
    assert response.status_code == 403, (method, path, response.text)
    assert "API keys are accepted by the task and admin API only" in response.json()["detail"]


# --- never above the user's role ------------------------------------------------------


async def test_a_key_loses_power_with_its_user(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    boss: tuple[dict[str, Any], dict[str, str]],
) -> None:
    user, headers = boss
    as_key = key_headers((await make_key(client, headers, "admin"))["key"])
    assert (await client.get(USERS, headers=as_key)).status_code == 200

    async def set_user(**change: Any) -> None:
        response = await client.patch(f"{USERS}/{user['id']}", headers=admin_headers, json=change)
        assert response.status_code == 200, response.text

    await set_user(role="viewer")
    demoted = await client.get(USERS, headers=as_key)
    assert demoted.status_code == 403
    assert demoted.json()["detail"] == "This needs the admin role or higher"
    assert (await client.get(JOBS, headers=as_key)).status_code == 200

    await set_user(role=None)
    assert (await client.get(JOBS, headers=as_key)).status_code == 403

    await set_user(role="admin")
    assert (await client.get(USERS, headers=as_key)).status_code == 200

    await set_user(is_active=False)
    inactive = await client.get(JOBS, headers=as_key)
    assert inactive.status_code == 401
    assert inactive.json()["detail"] == "The user of this API key is inactive"


async def test_a_key_holds_its_own_role_under_a_higher_user(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    viewer_key = key_headers((await make_key(client, admin_headers, "viewer"))["key"])
    assert (await client.get(JOBS, headers=viewer_key)).status_code == 200
    assert (await client.get(USERS, headers=viewer_key)).status_code == 403


async def test_a_superuser_s_key_has_no_superuser_powers(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    as_key = key_headers((await make_key(client, admin_headers, "admin"))["key"])
    target, _ = await make_user(superuser=True)
    me = (await client.get("/api/v1/users/me", headers=admin_headers)).json()

    made = await client.post(
        USERS,
        headers=as_key,
        json={"email": "root2@example.com", "password": "long-enough-pw", "is_superuser": True},
    )
    changed = await client.patch(f"{USERS}/{target['id']}", headers=as_key, json={"full_name": "x"})
    own = await client.patch(f"{USERS}/{me['id']}", headers=as_key, json={"full_name": "x"})

    for response in (made, changed, own):
        assert response.status_code == 403, response.text
    assert (await client.get(f"{USERS}/{target['id']}", headers=admin_headers)).json() == target
    # As an admin it still manages ordinary users.
    plain = await client.post(
        USERS, headers=as_key, json={"email": "plain@example.com", "password": "long-enough-pw"}
    )
    assert plain.status_code == 201, plain.text


async def test_deleting_a_user_deletes_their_keys(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    boss: tuple[dict[str, Any], dict[str, str]],
) -> None:
    user, headers = boss
    created = await make_key(client, headers, "viewer")

    assert (await client.delete(f"{USERS}/{user['id']}", headers=admin_headers)).status_code == 204

    assert await listed(client, admin_headers) == []
    refused = await client.get(JOBS, headers=key_headers(created["key"]))
    assert refused.status_code == 401


# --- throttled when wrong ------------------------------------------------------------


@asynccontextmanager
async def client_at(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["detail"] == "Too many requests with invalid API keys; try again later"
    assert 1 <= int(response.headers["retry-after"]) <= WINDOW


@pytest.mark.parametrize("wrong", ["unknown", "revoked", "expired"])
async def test_wrong_keys_are_throttled_per_address(
    app: FastAPI,
    client: httpx.AsyncClient,
    boss: tuple[dict[str, Any], dict[str, str]],
    database: Database,
    wrong: str,
) -> None:
    _, headers = boss
    good = await make_key(client, headers, "viewer")
    bad = await make_key(client, headers, "viewer")
    if wrong == "revoked":
        assert (await client.delete(f"{KEYS}/{bad['id']}", headers=headers)).status_code == 204
    elif wrong == "expired":
        await set_key(database, bad["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
    bad_key = "rbk_guess" if wrong == "unknown" else bad["key"]

    async with client_at(app, "203.0.113.9") as attacker:
        for _ in range(PER_ADDRESS):
            assert (await attacker.get(JOBS, headers=key_headers(bad_key))).status_code == 401
        assert_throttled(await attacker.get(JOBS, headers=key_headers(bad_key)))
        # A valid key from that address gains nothing while the window lasts.
        assert_throttled(await attacker.get(JOBS, headers=key_headers(good["key"])))
    async with client_at(app, "198.51.100.7") as elsewhere:
        assert (await elsewhere.get(JOBS, headers=key_headers(good["key"]))).status_code == 200
    # Logins from the throttled address are another matter.
    async with client_at(app, "203.0.113.9") as attacker:
        assert (await attacker.get(JOBS, headers=headers)).status_code == 200


async def test_valid_keys_are_not_counted(
    app: FastAPI, client: httpx.AsyncClient, boss: tuple[dict[str, Any], dict[str, str]]
) -> None:
    _, headers = boss
    good = key_headers((await make_key(client, headers, "viewer"))["key"])
    async with client_at(app, "203.0.113.10") as script:
        for _ in range(PER_ADDRESS * 3):
            assert (await script.get(JOBS, headers=good)).status_code == 200
        assert (await script.get(JOBS, headers=key_headers("rbk_typo"))).status_code == 401
