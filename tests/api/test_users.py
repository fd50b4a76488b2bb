"""`/users`: one's own account, and user management for admins (superusers are admins;
only they make and change superusers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, bearer, login

MakeUser = Callable[..., Awaitable[tuple[dict[str, Any], dict[str, str]]]]

USERS = "/api/v1/users"
ME = "/api/v1/users/me"
PUBLIC_FIELDS = {
    "id",
    "email",
    "full_name",
    "is_active",
    "is_superuser",
    "role",
    "created_at",
    "updated_at",
}


def error_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {str(error["loc"][-1]) for error in response.json()["detail"]}


async def login_status(client: httpx.AsyncClient, email: str, password: str) -> int:
    response = await client.post(
        "/api/v1/auth/login", data={"username": email, "password": password}
    )
    return response.status_code


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    body.setdefault("password", PASSWORD)
    return await client.post(USERS, headers=headers, json=body)


async def stored(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user_id: int
) -> dict[str, Any]:
    """A user as an admin reads it now: equal to what it was if nothing changed."""
    user: dict[str, Any] = (await client.get(f"{USERS}/{user_id}", headers=admin_headers)).json()
    return user


async def emails(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> list[str]:
    """Every user's email, as an admin lists them."""
    listing = (await client.get(USERS, headers=admin_headers)).json()
    return [u["email"] for u in listing["items"]]


# --- /users/me -----------------------------------------------------------------------


async def test_read_me(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user, headers = await make_user("reader@example.com")
    response = await client.get(ME, headers=headers)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert body["id"] == user["id"]
    assert body["email"] == "reader@example.com"
    assert body["is_active"] is True
    assert body["is_superuser"] is False


async def test_update_me(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    _, headers = await make_user("before@example.com")

    response = await client.patch(
        ME,
        headers=headers,
        json={
            "full_name": "Ada Lovelace",
            "email": "After@Example.com",
            "current_password": PASSWORD,
        },
    )

    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Ada Lovelace"
    assert response.json()["email"] == "after@example.com"
    assert (await client.get(ME, headers=headers)).json()["email"] == "after@example.com"
    assert await login_status(client, "after@example.com", PASSWORD) == 200
    assert await login_status(client, "before@example.com", PASSWORD) == 401


async def test_update_my_password(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user, headers = await make_user()
    response = await client.patch(
        ME, headers=headers, json={"password": "my-new-passphrase", "current_password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert await login_status(client, user["email"], "my-new-passphrase") == 200
    assert await login_status(client, user["email"], PASSWORD) == 401


@pytest.mark.parametrize("field", ["is_superuser", "is_active", "id", "hashed_password"])
async def test_users_cannot_grant_themselves_privileges(
    client: httpx.AsyncClient, make_user: MakeUser, field: str
) -> None:
    user, headers = await make_user()
    response = await client.patch(ME, headers=headers, json={field: True, "full_name": "Mallory"})
    assert error_fields(response) == {field}
    assert response.json()["detail"][0]["type"] == "extra_forbidden"
    assert (await client.get(ME, headers=headers)).json() == user
    assert (await client.get(USERS, headers=headers)).status_code == 403


async def test_update_me_to_a_taken_email_is_409(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user("taken@example.com")
    _, headers = await make_user()
    response = await client.patch(
        ME, headers=headers, json={"email": "TAKEN@example.com", "current_password": PASSWORD}
    )
    assert response.status_code == 409
    assert "email" in response.json()["detail"].lower()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"email": "not-an-email"}, "email"), ({"password": "short"}, "password")],
)
async def test_update_me_validates_input(
    client: httpx.AsyncClient, user_headers: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.patch(ME, headers=user_headers, json=body)
    assert error_fields(response) == {field}


# --- access control ------------------------------------------------------------------

ADMIN_ROUTES = [
    ("GET", USERS),
    ("POST", USERS),
    ("GET", f"{USERS}/{{id}}"),
    ("PATCH", f"{USERS}/{{id}}"),
    ("DELETE", f"{USERS}/{{id}}"),
]


def _body(method: str) -> dict[str, Any] | None:
    if method == "POST":
        return {"email": "someone@example.com", "password": PASSWORD}
    if method == "PATCH":
        return {"full_name": "changed"}
    return None


@pytest.mark.parametrize("role", [None, "viewer", "operator"])
@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_are_403_for_other_users(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: MakeUser,
    method: str,
    path: str,
    role: str | None,
) -> None:
    target, _ = await make_user()
    _, headers = await make_user(role=role)

    response = await client.request(
        method, path.format(id=target["id"]), headers=headers, json=_body(method)
    )

    assert response.status_code == 403, response.text
    assert response.json()["detail"] == "This needs the admin role or higher"
    # Nothing happened to the target.
    assert await stored(client, admin_headers, target["id"]) == target
    assert "someone@example.com" not in await emails(client, admin_headers)


@pytest.mark.parametrize(("method", "path"), [*ADMIN_ROUTES, ("GET", ME), ("PATCH", ME)])
async def test_user_routes_are_401_without_a_token(
    client: httpx.AsyncClient, make_user: MakeUser, method: str, path: str
) -> None:
    target, _ = await make_user()
    response = await client.request(method, path.format(id=target["id"]), json=_body(method))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"


# --- superuser management ------------------------------------------------------------


async def test_superuser_creates_a_user(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await create(
        client, admin_headers, email="New.User@example.com", full_name="New User"
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert body["email"] == "new.user@example.com"
    assert body["full_name"] == "New User"
    assert body["is_active"] is True
    assert body["is_superuser"] is False
    assert await login_status(client, "new.user@example.com", PASSWORD) == 200


async def test_superuser_can_create_another_superuser(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await create(client, admin_headers, email="boss@example.com", is_superuser=True)
    assert response.status_code == 201
    headers = bearer(await login(client, "boss@example.com"))
    assert (await client.get(USERS, headers=headers)).status_code == 200


@pytest.mark.parametrize("email", ["dup@example.com", "DUP@Example.COM"])
async def test_duplicate_email_is_409(
    client: httpx.AsyncClient, admin_headers: dict[str, str], email: str
) -> None:
    assert (await create(client, admin_headers, email="dup@example.com")).status_code == 201
    response = await create(client, admin_headers, email=email)
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


async def test_concurrent_creates_with_one_email_make_one_user(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    responses = await asyncio.gather(
        *(create(client, admin_headers, email="race@example.com") for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    listing = (await client.get(USERS, headers=admin_headers)).json()
    assert [u["email"] for u in listing["items"]].count("race@example.com") == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "@example.com", "password": PASSWORD}, "email"),
        ({"email": "ok@example.com", "password": "short"}, "password"),
        ({"password": PASSWORD}, "email"),
    ],
    ids=["no-at", "empty-local-part", "short-password", "missing-email"],
)
async def test_create_user_validates_input(
    client: httpx.AsyncClient, admin_headers: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(USERS, headers=admin_headers, json=body)
    assert error_fields(response) == {field}


async def test_superuser_lists_users_with_pagination(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for n in range(3):
        assert (await create(client, admin_headers, email=f"u{n}@example.com")).status_code == 201

    everyone = await client.get(USERS, headers=admin_headers)
    page = await client.get(USERS, headers=admin_headers, params={"limit": 2, "offset": 1})

    assert everyone.status_code == 200
    body = everyone.json()
    assert body["total"] == 4
    emails = [u["email"] for u in body["items"]]
    assert emails == ["admin@example.com", "u0@example.com", "u1@example.com", "u2@example.com"]
    assert page.json() == {"items": body["items"][1:3], "total": 4, "limit": 2, "offset": 1}


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"offset": 2**63}]
)
async def test_list_users_rejects_bad_paging(
    client: httpx.AsyncClient, admin_headers: dict[str, str], params: dict[str, int]
) -> None:
    response = await client.get(USERS, headers=admin_headers, params=params)
    assert error_fields(response) == set(params)


async def test_superuser_reads_a_user(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    user, _ = await make_user()
    response = await client.get(f"{USERS}/{user['id']}", headers=admin_headers)
    assert response.status_code == 200
    assert response.json() == user


async def test_superuser_updates_a_user(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    user, _ = await make_user()

    response = await client.patch(
        f"{USERS}/{user['id']}",
        headers=admin_headers,
        json={"full_name": "Renamed", "is_superuser": True, "password": "set-by-admin-123"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Renamed"
    assert response.json()["is_superuser"] is True
    assert response.json()["email"] == user["email"]
    assert await login_status(client, user["email"], "set-by-admin-123") == 200
    assert await login_status(client, user["email"], PASSWORD) == 401


async def test_superuser_deactivates_a_user(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    user, headers = await make_user()
    response = await client.patch(
        f"{USERS}/{user['id']}", headers=admin_headers, json={"is_active": False}
    )
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert (await client.get(ME, headers=headers)).status_code == 401
    assert await login_status(client, user["email"], PASSWORD) == 401


async def test_superuser_update_to_a_taken_email_is_409(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    user, _ = await make_user()
    response = await client.patch(
        f"{USERS}/{user['id']}", headers=admin_headers, json={"email": "admin@example.com"}
    )
    assert response.status_code == 409


async def test_superuser_deletes_a_user(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    user, headers = await make_user()

    response = await client.delete(f"{USERS}/{user['id']}", headers=admin_headers)

    assert response.status_code == 204
    assert (await client.get(f"{USERS}/{user['id']}", headers=admin_headers)).status_code == 404
    assert (await client.get(ME, headers=headers)).status_code == 401
    assert await login_status(client, user["email"], PASSWORD) == 401


async def test_deleting_yourself_is_409(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    me = (await client.get(ME, headers=admin_headers)).json()
    response = await client.delete(f"{USERS}/{me['id']}", headers=admin_headers)
    assert response.status_code == 409
    assert "own account" in response.json()["detail"]
    assert (await client.get(ME, headers=admin_headers)).status_code == 200


@pytest.mark.parametrize("user_id", [999_999, 0, -1, 2**31, 2**63])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_user_id_is_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str], method: str, user_id: int
) -> None:
    response = await client.request(
        method, f"{USERS}/{user_id}", headers=admin_headers, json=_body(method)
    )
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": "User not found"}


# --- re-entering one's password ------------------------------------------------------

OWN_CHANGES = [{"email": "changed@example.com"}, {"password": "my-new-passphrase"}]


@pytest.mark.parametrize("change", OWN_CHANGES, ids=["email", "password"])
async def test_changing_own_email_or_password_needs_current_password(
    client: httpx.AsyncClient, make_user: MakeUser, change: dict[str, str]
) -> None:
    user, headers = await make_user()

    response = await client.patch(ME, headers=headers, json=change)

    assert error_fields(response) == {"current_password"}
    assert (await client.get(ME, headers=headers)).json() == user
    assert await login_status(client, user["email"], PASSWORD) == 200


@pytest.mark.parametrize("change", OWN_CHANGES, ids=["email", "password"])
async def test_a_wrong_current_password_is_400(
    client: httpx.AsyncClient, make_user: MakeUser, change: dict[str, str]
) -> None:
    user, headers = await make_user()

    response = await client.patch(
        ME, headers=headers, json={**change, "current_password": "not-my-password"}
    )

    assert response.status_code == 400, response.text
    assert [error["loc"][-1] for error in response.json()["detail"]] == ["current_password"]
    assert (await client.get(ME, headers=headers)).json() == user
    assert await login_status(client, user["email"], PASSWORD) == 200


async def test_a_name_change_needs_no_current_password(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, headers = await make_user()
    response = await client.patch(ME, headers=headers, json={"full_name": "Grace Hopper"})
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Grace Hopper"


async def test_a_superuser_changing_their_own_password_by_id_needs_it_too(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    me = (await client.get(ME, headers=admin_headers)).json()
    path = f"{USERS}/{me['id']}"

    missing = await client.patch(path, headers=admin_headers, json={"password": "new-pass-123"})
    assert error_fields(missing) == {"current_password"}
    assert await login_status(client, me["email"], PASSWORD) == 200

    given = await client.patch(
        path,
        headers=admin_headers,
        json={"password": "new-pass-123", "current_password": PASSWORD},
    )
    assert given.status_code == 200, given.text
    assert await login_status(client, me["email"], "new-pass-123") == 200


# --- sessions that end ---------------------------------------------------------------


async def refresh_status(client: httpx.AsyncClient, tokens: dict[str, Any]) -> int:
    response = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    return response.status_code


async def test_a_new_password_ends_the_other_sessions_and_this_one_goes_on(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    this = await login(client, user["email"])
    other = await login(client, user["email"])

    response = await client.patch(
        ME,
        headers=bearer(this),
        json={"password": "my-new-passphrase", "current_password": PASSWORD},
    )

    assert response.status_code == 200, response.text
    # The other session ends at once, access and refresh token alike.
    assert (await client.get(ME, headers=bearer(other))).status_code == 401
    assert await refresh_status(client, other) == 401
    # This one's access token carries the old version too; its refresh token goes on.
    assert (await client.get(ME, headers=bearer(this))).status_code == 401
    renewed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": this["refresh_token"]}
    )
    assert renewed.status_code == 200, renewed.text
    assert (await client.get(ME, headers=bearer(renewed.json()))).status_code == 200


async def test_a_password_set_by_a_superuser_ends_every_session(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    user, headers = await make_user()
    tokens = await login(client, user["email"])

    response = await client.patch(
        f"{USERS}/{user['id']}", headers=admin_headers, json={"password": "set-by-admin-123"}
    )

    assert response.status_code == 200, response.text
    assert (await client.get(ME, headers=headers)).status_code == 401
    assert (await client.get(ME, headers=bearer(tokens))).status_code == 401
    assert await refresh_status(client, tokens) == 401
    assert (await client.get(ME, headers=admin_headers)).status_code == 200
    fresh = await login(client, user["email"], "set-by-admin-123")
    assert (await client.get(ME, headers=bearer(fresh))).status_code == 200


async def test_a_deactivation_ends_the_sessions_for_good(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    user, _ = await make_user()
    tokens = await login(client, user["email"])
    path = f"{USERS}/{user['id']}"
    deactivated = await client.patch(path, headers=admin_headers, json={"is_active": False})
    assert deactivated.status_code == 200, deactivated.text

    reactivated = await client.patch(path, headers=admin_headers, json={"is_active": True})

    assert reactivated.status_code == 200, reactivated.text
    # Coming back does not bring the old sessions back.
    assert (await client.get(ME, headers=bearer(tokens))).status_code == 401
    assert await refresh_status(client, tokens) == 401
    assert (await client.get(ME, headers=bearer(await login(client, user["email"])))).json()[
        "id"
    ] == user["id"]


async def test_a_demotion_ends_the_sessions(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    boss, headers = await make_user(superuser=True)
    tokens = await login(client, boss["email"])
    assert (await client.get(USERS, headers=headers)).status_code == 200

    response = await client.patch(
        f"{USERS}/{boss['id']}", headers=admin_headers, json={"is_superuser": False}
    )

    assert response.status_code == 200, response.text
    assert (await client.get(USERS, headers=headers)).status_code == 401
    assert await refresh_status(client, tokens) == 401
    again = bearer(await login(client, boss["email"]))
    assert (await client.get(USERS, headers=again)).status_code == 403


async def test_a_name_change_by_a_superuser_ends_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    user, headers = await make_user()
    tokens = await login(client, user["email"])
    response = await client.patch(
        f"{USERS}/{user['id']}", headers=admin_headers, json={"full_name": "Renamed"}
    )
    assert response.status_code == 200, response.text
    assert (await client.get(ME, headers=headers)).status_code == 200
    assert await refresh_status(client, tokens) == 200


# --- the last superuser --------------------------------------------------------------


@pytest.mark.parametrize("change", [{"is_superuser": False}, {"is_active": False}])
async def test_the_last_active_superuser_cannot_step_down(
    client: httpx.AsyncClient, admin_headers: dict[str, str], change: dict[str, bool]
) -> None:
    me = (await client.get(ME, headers=admin_headers)).json()

    response = await client.patch(f"{USERS}/{me['id']}", headers=admin_headers, json=change)

    assert response.status_code == 409, response.text
    assert "last active superuser" in response.json()["detail"]
    assert (await client.get(ME, headers=admin_headers)).json() == me


async def test_an_inactive_superuser_does_not_count(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    me = (await client.get(ME, headers=admin_headers)).json()
    dormant, _ = await make_user(superuser=True, active=False)
    assert dormant["is_superuser"] is True

    response = await client.patch(
        f"{USERS}/{me['id']}", headers=admin_headers, json={"is_superuser": False}
    )

    assert response.status_code == 409, response.text


async def test_a_superuser_may_step_down_while_another_remains(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    me = (await client.get(ME, headers=admin_headers)).json()
    other, other_headers = await make_user(superuser=True)

    stepped_down = await client.patch(
        f"{USERS}/{me['id']}", headers=admin_headers, json={"is_superuser": False}
    )
    assert stepped_down.status_code == 200, stepped_down.text

    last = await client.patch(
        f"{USERS}/{other['id']}", headers=other_headers, json={"is_active": False}
    )
    assert last.status_code == 409, last.text


async def test_two_superusers_demoting_each_other_at_once_leave_one(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    me = (await client.get(ME, headers=admin_headers)).json()
    other, other_headers = await make_user(superuser=True)

    responses = await asyncio.gather(
        client.patch(f"{USERS}/{other['id']}", headers=admin_headers, json={"is_superuser": False}),
        client.patch(f"{USERS}/{me['id']}", headers=other_headers, json={"is_superuser": False}),
    )

    statuses = [r.status_code for r in responses]
    # The loser either counted the winner's change (409) or was already demoted when it
    # was authenticated (401: a demotion ends the sessions).
    assert sorted(statuses) in ([200, 401], [200, 409]), [r.text for r in responses]
    winner = admin_headers if statuses[0] == 200 else other_headers
    remaining = (await client.get(USERS, headers=winner)).json()["items"]
    assert [u["id"] for u in remaining if u["is_superuser"] and u["is_active"]] == [
        me["id"] if statuses[0] == 200 else other["id"]
    ]


# --- strict input --------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, "true", "false", None])
@pytest.mark.parametrize("field", ["is_superuser", "is_active"])
async def test_flags_take_only_json_booleans(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: MakeUser,
    field: str,
    value: Any,
) -> None:
    user, _ = await make_user()

    update = await client.patch(f"{USERS}/{user['id']}", headers=admin_headers, json={field: value})
    created = await create(client, admin_headers, email="flag@example.com", **{field: value})

    if value is not None:
        assert error_fields(update) == {field}
    assert error_fields(created) == {field}
    assert await stored(client, admin_headers, user["id"]) == user
    assert "flag@example.com" not in await emails(client, admin_headers)


@pytest.mark.parametrize(
    ("method", "path"), [("POST", USERS), ("PATCH", f"{USERS}/{{id}}")], ids=["create", "update"]
)
async def test_unknown_fields_are_refused(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: MakeUser,
    method: str,
    path: str,
) -> None:
    user, _ = await make_user()
    body = {"email": "extra@example.com", "password": PASSWORD, "is_admin": True}

    response = await client.request(
        method, path.format(id=user["id"]), headers=admin_headers, json=body
    )

    assert error_fields(response) == {"is_admin"}
    assert await stored(client, admin_headers, user["id"]) == user


# --- roles ---------------------------------------------------------------------------


async def test_a_role_is_set_shown_and_cleared(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    created = await create(client, admin_headers, email="ops@example.com", role="operator")
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["role"] == "operator"
    me = await client.get(ME, headers=bearer(await login(client, "ops@example.com")))
    assert me.json()["role"] == "operator"

    for role in ("viewer", "admin", None):
        changed = await client.patch(
            f"{USERS}/{user['id']}", headers=admin_headers, json={"role": role}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["role"] == role
        stored = await client.get(f"{USERS}/{user['id']}", headers=admin_headers)
        assert stored.json()["role"] == role
    # Leaving the role out leaves it as it is.
    named = await client.patch(
        f"{USERS}/{user['id']}", headers=admin_headers, json={"role": "viewer"}
    )
    renamed = await client.patch(
        f"{USERS}/{user['id']}", headers=admin_headers, json={"full_name": "Ops"}
    )
    assert named.json()["role"] == renamed.json()["role"] == "viewer"


async def test_users_have_no_role_unless_given_one(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    user, headers = await make_user()
    assert user["role"] is None
    assert (await client.get(ME, headers=headers)).json()["role"] is None
    # The first superuser too: a superuser is an admin whatever its role says.
    assert (await client.get(ME, headers=admin_headers)).json()["role"] is None
    assert (await client.get(USERS, headers=admin_headers)).status_code == 200


@pytest.mark.parametrize("role", ["superuser", "Admin", "", 1, True, ["admin"]])
async def test_an_unknown_role_is_422_and_changes_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser, role: Any
) -> None:
    user, _ = await make_user(role="viewer")

    path = f"{USERS}/{user['id']}"
    updated = await client.patch(path, headers=admin_headers, json={"role": role})
    created = await create(client, admin_headers, email="odd@example.com", role=role)

    assert error_fields(updated) == {"role"}
    assert error_fields(created) == {"role"}
    assert await stored(client, admin_headers, user["id"]) == user
    assert "odd@example.com" not in await emails(client, admin_headers)


@pytest.mark.parametrize("role", [None, "viewer", "operator", "admin"])
async def test_nobody_sets_their_own_role_through_me(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser, role: str | None
) -> None:
    user, headers = await make_user(role=role)

    response = await client.patch(ME, headers=headers, json={"role": "admin"})

    assert error_fields(response) == {"role"}
    assert await stored(client, admin_headers, user["id"]) == user


@pytest.mark.parametrize("whose", ["own", "another"])
@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_a_non_admin_cannot_set_roles(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_user: MakeUser,
    role: str,
    whose: str,
) -> None:
    me, headers = await make_user(role=role)
    other, _ = await make_user()
    target = me if whose == "own" else other

    response = await client.patch(
        f"{USERS}/{target['id']}", headers=headers, json={"role": "admin"}
    )

    assert response.status_code == 403, response.text
    assert response.json()["detail"] == "This needs the admin role or higher"
    assert await stored(client, admin_headers, target["id"]) == target


async def test_an_admin_manages_users_and_roles(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    _, headers = await make_user(role="admin")

    created = await create(client, headers, email="new@example.com", role="viewer")
    assert created.status_code == 201, created.text
    new = created.json()
    promoted = await client.patch(f"{USERS}/{new['id']}", headers=headers, json={"role": "admin"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin"
    assert (await client.get(USERS, headers=headers)).json()["total"] == 3
    assert (await client.delete(f"{USERS}/{new['id']}", headers=headers)).status_code == 204


async def test_only_a_superuser_makes_or_changes_superusers(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    admin, headers = await make_user(role="admin")
    root, _ = await make_user(superuser=True)

    root_path = f"{USERS}/{root['id']}"
    attempts = [
        await create(client, headers, email="root2@example.com", is_superuser=True),
        await client.patch(f"{USERS}/{admin['id']}", headers=headers, json={"is_superuser": True}),
        await client.patch(root_path, headers=headers, json={"full_name": "x"}),
        await client.patch(root_path, headers=headers, json={"is_active": False}),
        await client.patch(root_path, headers=headers, json={"password": "new-pw-123"}),
        await client.delete(root_path, headers=headers),
    ]

    for response in attempts:
        assert response.status_code == 403, response.text
        assert response.json()["detail"] == (
            "Only a superuser can make superusers or change a superuser's account"
        )
    assert await stored(client, admin_headers, root["id"]) == root
    assert await stored(client, admin_headers, admin["id"]) == admin
    assert "root2@example.com" not in await emails(client, admin_headers)
    assert await login_status(client, root["email"], PASSWORD) == 200
    # A superuser does all of it.
    made = await create(client, admin_headers, email="root2@example.com", is_superuser=True)
    assert made.status_code == 201, made.text
