"""Login, access tokens, refresh rotation, logout and password reset through the API."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy import select, update

from app.core import security
from app.core.config import Settings
from app.core.email import ConsoleEmailSender, Email
from app.db.session import Database
from app.models.password_reset import PasswordReset
from app.models.token import RefreshToken
from tests.conftest import PASSWORD, bearer, login, running_app

MakeUser = Callable[..., Awaitable[tuple[dict[str, Any], dict[str, str]]]]

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
RESET_REQUEST = "/api/v1/auth/password-reset/request"
RESET_CONFIRM = "/api/v1/auth/password-reset/confirm"
ME = "/api/v1/users/me"
NEW_PASSWORD = "a-brand-new-passphrase"


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def me_status(client: httpx.AsyncClient, tokens: dict[str, Any]) -> int:
    return (await client.get(ME, headers=bearer(tokens))).status_code


def assert_unauthorized(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert detail
    return detail


def error_fields(response: httpx.Response) -> set[str]:
    """The body fields a 422 answer names."""
    assert response.status_code == 422, response.text
    return {str(error["loc"][-1]) for error in response.json()["detail"]}


# --- login ---------------------------------------------------------------------------


async def test_login_returns_a_bearer_token_pair(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    response = await client.post(LOGIN, data={"username": user["email"], "password": PASSWORD})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type"}
    assert body["token_type"] == "bearer"
    assert body["access_token"]
    assert body["refresh_token"]
    me = await client.get(ME, headers=bearer(body))
    assert me.status_code == 200
    assert me.json()["email"] == user["email"]


async def test_login_email_is_case_insensitive(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user("Mixed.Case@example.com")
    tokens = await login(client, "MIXED.CASE@EXAMPLE.COM")
    assert (await client.get(ME, headers=bearer(tokens))).json()["id"] == user["id"]


async def test_wrong_password_and_unknown_user_get_the_same_401(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    wrong_password = await client.post(
        LOGIN, data={"username": user["email"], "password": "not-the-password"}
    )
    unknown_user = await client.post(
        LOGIN, data={"username": "nobody@example.com", "password": PASSWORD}
    )

    detail = assert_unauthorized(wrong_password)
    assert "password" in detail.lower()
    # The answer must not tell which accounts exist.
    assert assert_unauthorized(unknown_user) == detail


async def test_inactive_user_cannot_log_in(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user, _ = await make_user(active=False)
    response = await client.post(LOGIN, data={"username": user["email"], "password": PASSWORD})
    assert "inactive" in assert_unauthorized(response).lower()


async def test_login_without_credentials_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, data={"username": "admin@example.com"})
    assert "password" in error_fields(response)


# --- access tokens -------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(user_id: int, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "type": "access",
        # A new user's token version, and some login.
        "ver": 0,
        "fam": "0" * 32,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return claims


def _key(settings: Settings) -> str:
    assert settings.SECRET_KEY is not None
    return settings.SECRET_KEY


def _hs256(settings: Settings, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, _key(settings), algorithm="HS256")


def _unsigned(user_id: int, alg: str) -> str:
    """A token whose header names `alg`, with the right claims and a bogus signature."""
    exp = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    claims = {"sub": str(user_id), "type": "access", "ver": 0, "fam": "0" * 32, "exp": exp}
    signature = "" if alg == "none" else "c2lnbmF0dXJl"
    return f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}.{signature}"


def _hs512(secret: str, claims: dict[str, Any]) -> str:
    with warnings.catch_warnings():
        # PyJWT warns that the key is short for SHA-512; the point is the algorithm.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS512")


BadToken = Callable[[Settings, int], str]

BAD_TOKENS: dict[str, BadToken] = {
    "expired": lambda s, uid: _hs256(
        s,
        _claims(
            uid,
            iat=datetime.now(UTC) - timedelta(hours=2),
            exp=datetime.now(UTC) - timedelta(hours=1),
        ),
    ),
    "garbled": lambda s, uid: "this-is-not-a-jwt",
    "three-garbage-segments": lambda s, uid: "abc.def.ghi",
    "truncated-signature": lambda s, uid: _hs256(s, _claims(uid))[:-6],
    "wrong-secret": lambda s, uid: jwt.encode(
        _claims(uid), "another-secret-key-that-is-long-enough-987654", algorithm="HS256"
    ),
    "alg-none": lambda s, uid: _unsigned(uid, "none"),
    "alg-HS512-same-secret": lambda s, uid: _hs512(_key(s), _claims(uid)),
    "alg-RS256": lambda s, uid: _unsigned(uid, "RS256"),
    "not-an-access-token": lambda s, uid: _hs256(s, _claims(uid, type="refresh")),
    "no-expiry": lambda s, uid: _hs256(
        s, {"sub": str(uid), "type": "access", "ver": 0, "fam": "0" * 32}
    ),
    "non-numeric-subject": lambda s, uid: _hs256(s, _claims(uid, sub="admin")),
    "unknown-user": lambda s, uid: _hs256(s, _claims(uid + 10_000)),
    "subject-out-of-id-range": lambda s, uid: _hs256(s, _claims(uid, sub=str(2**70))),
    "no-token-version": lambda s, uid: _hs256(
        s, {k: v for k, v in _claims(uid).items() if k != "ver"}
    ),
    "token-version-not-an-integer": lambda s, uid: _hs256(s, _claims(uid, ver=False)),
    "other-token-version": lambda s, uid: _hs256(s, _claims(uid, ver=1)),
    "no-login": lambda s, uid: _hs256(s, {k: v for k, v in _claims(uid).items() if k != "fam"}),
}


async def test_a_well_formed_token_minted_with_the_secret_is_accepted(
    client: httpx.AsyncClient, settings: Settings, make_user: MakeUser
) -> None:
    # The control for the refusals below: same recipe, nothing wrong with it.
    user, _ = await make_user()
    token = _hs256(settings, _claims(user["id"]))
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == user["id"]


async def test_a_token_accepted_before_is_refused_once_it_has_expired(
    client: httpx.AsyncClient, settings: Settings, make_user: MakeUser
) -> None:
    # Accepted tokens are remembered; that must not outlive their expiry.
    user, _ = await make_user()
    expires = int(datetime.now(UTC).timestamp()) + 2
    token = _hs256(settings, _claims(user["id"], exp=expires))
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get(ME, headers=headers)).status_code == 200
    assert (await client.get(ME, headers=headers)).status_code == 200
    await asyncio.sleep(max(0.0, expires - datetime.now(UTC).timestamp()) + 0.1)
    assert_unauthorized(await client.get(ME, headers=headers))


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_bad_access_tokens_are_refused_with_401(
    client: httpx.AsyncClient, settings: Settings, make_user: MakeUser, kind: str
) -> None:
    user, _ = await make_user()
    token = BAD_TOKENS[kind](settings, user["id"])
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic YWRtaW46cGFzc3dvcmQ="}],
    ids=["missing", "empty-bearer", "basic-scheme"],
)
async def test_requests_without_a_bearer_token_are_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert_unauthorized(await client.get(ME, headers=headers))


async def test_access_token_of_deleted_user_is_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    user, headers = await make_user()
    deleted = await client.delete(f"/api/v1/users/{user['id']}", headers=admin_headers)
    assert deleted.status_code == 204
    assert_unauthorized(await client.get(ME, headers=headers))


# --- refresh rotation ----------------------------------------------------------------


async def end_reuse_grace(database: Database, user_id: int) -> None:
    """Date the user's token rotations back past any reuse grace."""
    async with database.transaction() as db:
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.rotated_at.is_not(None))
            .values(rotated_at=datetime.now(UTC) - timedelta(hours=1))
        )


async def test_refresh_rotates_the_refresh_token(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    user, _ = await make_user()
    first = await login(client, user["email"])

    response = await refresh(client, first["refresh_token"])

    assert response.status_code == 200, response.text
    second = response.json()
    assert second["token_type"] == "bearer"
    assert second["refresh_token"] != first["refresh_token"]
    assert await me_status(client, second) == 200
    # The new refresh token works once more; the one it replaced never does again.
    third = await refresh(client, second["refresh_token"])
    assert third.status_code == 200, third.text
    await end_reuse_grace(database, user["id"])
    assert_unauthorized(await refresh(client, second["refresh_token"]))


async def test_reusing_a_rotated_refresh_token_revokes_its_family(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    user, _ = await make_user()
    stolen = await login(client, user["email"])
    other_login = await login(client, user["email"])
    rotated = await refresh(client, stolen["refresh_token"])
    assert rotated.status_code == 200
    newest = rotated.json()
    await end_reuse_grace(database, user["id"])

    reuse = await refresh(client, stolen["refresh_token"])

    assert "log in again" in assert_unauthorized(reuse)
    # The legitimate holder's newer token is dead too ...
    assert_unauthorized(await refresh(client, newest["refresh_token"]))
    # ... while a separate login of the same user is untouched.
    assert (await refresh(client, other_login["refresh_token"])).status_code == 200


async def test_concurrent_refreshes_of_one_token_keep_the_login(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    user, _ = await make_user()
    tokens = await login(client, user["email"])

    responses = await asyncio.gather(*(refresh(client, tokens["refresh_token"]) for _ in range(4)))

    # One of them rotated the token; the others came within the grace and got pairs of
    # their own in the same login.
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    pairs = [r.json() for r in responses]
    assert len({pair["refresh_token"] for pair in pairs}) == 4
    for pair in pairs:
        assert await me_status(client, pair) == 200
        assert (await refresh(client, pair["refresh_token"])).status_code == 200
    async with database.sessionmaker() as db:
        original = await db.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == security.hash_opaque_token(tokens["refresh_token"])
            )
        )
    assert original is not None
    assert original.rotated_at is not None


async def test_a_retried_refresh_gets_a_pair_and_the_login_goes_on(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    tokens = await login(client, user["email"])
    # The client never saw this answer (it timed out), so it tries again.
    lost = await refresh(client, tokens["refresh_token"])
    assert lost.status_code == 200

    retry = await refresh(client, tokens["refresh_token"])

    assert retry.status_code == 200, retry.text
    assert retry.json()["refresh_token"] != lost.json()["refresh_token"]
    assert (await refresh(client, retry.json()["refresh_token"])).status_code == 200
    # Nothing was revoked: the answer the client lost would still have worked.
    assert (await refresh(client, lost.json()["refresh_token"])).status_code == 200


async def test_a_repeat_within_the_grace_after_logout_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    tokens = await login(client, user["email"])
    rotated = (await refresh(client, tokens["refresh_token"])).json()
    logout = await client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]})
    assert logout.status_code == 204

    assert_unauthorized(await refresh(client, tokens["refresh_token"]))


async def test_without_a_grace_any_repeat_revokes_the_family(
    settings_factory: Callable[..., Settings], make_user: MakeUser
) -> None:
    settings = settings_factory(SCHEDULER_ENABLED=False, REFRESH_REUSE_GRACE_SECONDS=0)
    async with running_app(settings) as (_, strict):
        user, _ = await make_user()
        tokens = await login(strict, user["email"])
        newest = await refresh(strict, tokens["refresh_token"])
        assert newest.status_code == 200

        assert "log in again" in assert_unauthorized(await refresh(strict, tokens["refresh_token"]))
        assert_unauthorized(await refresh(strict, newest.json()["refresh_token"]))


async def test_unknown_or_malformed_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await refresh(client, "not-a-refresh-token"))
    assert error_fields(await client.post(REFRESH, json={})) == {"refresh_token"}


async def test_expired_refresh_token_is_401(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    user, _ = await make_user()
    tokens = await login(client, user["email"])
    async with database.transaction() as db:
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert "expired" in assert_unauthorized(await refresh(client, tokens["refresh_token"]))


async def test_deactivated_user_cannot_refresh(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    user, _ = await make_user()
    tokens = await login(client, user["email"])
    deactivate = await client.patch(
        f"/api/v1/users/{user['id']}", headers=admin_headers, json={"is_active": False}
    )
    assert deactivate.status_code == 200
    assert_unauthorized(await refresh(client, tokens["refresh_token"]))
    assert_unauthorized(await client.get(ME, headers=bearer(tokens)))


async def test_refresh_tokens_are_stored_hashed(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    user, _ = await make_user()
    tokens = await login(client, user["email"])
    async with database.sessionmaker() as db:
        stored = (
            await db.scalars(
                select(RefreshToken.token_hash).where(RefreshToken.user_id == user["id"])
            )
        ).all()
    assert stored
    assert tokens["refresh_token"] not in stored


# --- logout --------------------------------------------------------------------------


async def test_logout_revokes_the_login(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user, _ = await make_user()
    tokens = await login(client, user["email"])
    other_login = await login(client, user["email"])
    rotated = (await refresh(client, tokens["refresh_token"])).json()

    response = await client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]})

    assert response.status_code == 204
    assert_unauthorized(await refresh(client, rotated["refresh_token"]))
    assert (await refresh(client, other_login["refresh_token"])).status_code == 200


async def test_logout_with_unknown_token_is_harmless(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGOUT, json={"refresh_token": "never-issued"})
    assert response.status_code == 204


# --- password reset ------------------------------------------------------------------


def outbox(app: FastAPI) -> list[Email]:
    mailer = app.state.mailer
    assert isinstance(mailer, ConsoleEmailSender)
    return list(mailer.outbox)


def reset_token_from(email: Email) -> str:
    match = re.search(r"token=([A-Za-z0-9_\-]+)", email.body)
    assert match, email.body
    return match.group(1)


async def request_reset(client: httpx.AsyncClient, app: FastAPI, email: str) -> str:
    before = len(outbox(app))
    response = await client.post(RESET_REQUEST, json={"email": email})
    assert response.status_code == 202, response.text
    sent = outbox(app)[before:]
    assert len(sent) == 1
    assert sent[0].to == email
    return reset_token_from(sent[0])


async def confirm(client: httpx.AsyncClient, token: str, password: str) -> httpx.Response:
    return await client.post(RESET_CONFIRM, json={"token": token, "new_password": password})


async def login_status(client: httpx.AsyncClient, email: str, password: str) -> int:
    response = await client.post(LOGIN, data={"username": email, "password": password})
    return response.status_code


async def test_reset_request_answers_the_same_for_unknown_emails(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    before = len(outbox(app))

    known = await client.post(RESET_REQUEST, json={"email": user["email"]})
    unknown = await client.post(RESET_REQUEST, json={"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    sent = outbox(app)[before:]
    assert [email.to for email in sent] == [user["email"]]


async def test_reset_request_with_invalid_email_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(RESET_REQUEST, json={"email": "not-an-email"})
    assert error_fields(response) == {"email"}


async def test_password_reset_sets_the_new_password(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser, database: Database
) -> None:
    user, _ = await make_user()
    token = await request_reset(client, app, user["email"])
    async with database.sessionmaker() as db:
        stored = (
            await db.scalars(
                select(PasswordReset.token_hash).where(PasswordReset.user_id == user["id"])
            )
        ).all()
    assert len(stored) == 1
    assert token not in stored

    response = await confirm(client, token, NEW_PASSWORD)

    assert response.status_code == 200, response.text
    assert await login_status(client, user["email"], PASSWORD) == 401
    assert await login_status(client, user["email"], NEW_PASSWORD) == 200


async def test_reset_token_is_single_use(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    token = await request_reset(client, app, user["email"])
    assert (await confirm(client, token, NEW_PASSWORD)).status_code == 200

    again = await confirm(client, token, "yet-another-passphrase")

    assert error_fields(again) == {"token"}
    assert await login_status(client, user["email"], NEW_PASSWORD) == 200


async def test_using_one_reset_token_voids_the_others(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    older = await request_reset(client, app, user["email"])
    newer = await request_reset(client, app, user["email"])
    assert older != newer
    assert (await confirm(client, newer, NEW_PASSWORD)).status_code == 200
    assert error_fields(await confirm(client, older, "yet-another-passphrase")) == {"token"}


async def test_expired_reset_token_is_refused(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser, database: Database
) -> None:
    user, _ = await make_user()
    token = await request_reset(client, app, user["email"])
    async with database.transaction() as db:
        await db.execute(
            update(PasswordReset)
            .where(PasswordReset.user_id == user["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    response = await confirm(client, token, NEW_PASSWORD)

    assert error_fields(response) == {"token"}
    assert await login_status(client, user["email"], PASSWORD) == 200
    assert await login_status(client, user["email"], NEW_PASSWORD) == 401


async def test_unknown_reset_token_is_422(client: httpx.AsyncClient) -> None:
    assert error_fields(await confirm(client, "never-issued", NEW_PASSWORD)) == {"token"}


async def test_reset_confirm_rejects_a_short_password(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    token = await request_reset(client, app, user["email"])
    assert error_fields(await confirm(client, token, "short")) == {"new_password"}
    # The token was not spent on the refused attempt.
    assert (await confirm(client, token, NEW_PASSWORD)).status_code == 200


async def test_password_reset_ends_existing_logins(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    before_reset = await login(client, user["email"])
    token = await request_reset(client, app, user["email"])

    assert (await confirm(client, token, NEW_PASSWORD)).status_code == 200

    assert_unauthorized(await refresh(client, before_reset["refresh_token"]))
    # The access token ends at once too, not when it expires.
    assert await me_status(client, before_reset) == 401
    after_reset = await login(client, user["email"], NEW_PASSWORD)
    assert (await refresh(client, after_reset["refresh_token"])).status_code == 200


async def test_inactive_user_gets_no_reset_email(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user, _ = await make_user(active=False)
    before = len(outbox(app))
    response = await client.post(RESET_REQUEST, json={"email": user["email"]})
    assert response.status_code == 202
    assert outbox(app)[before:] == []


# --- the reset page ------------------------------------------------------------------


async def test_the_reset_link_leads_to_a_page_that_stays_on_this_origin(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser, settings: Settings
) -> None:
    user, _ = await make_user()
    token = await request_reset(client, app, user["email"])
    link = f"{settings.PASSWORD_RESET_URL}?token={token}"
    assert link.startswith("http://127.0.0.1:8000/reset-password?token=")

    page = await client.get(f"/reset-password?token={token}")

    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/dashboard/static/reset-password.js" in assets
    for asset in assets:
        assert (asset.startswith("/") and not asset.startswith("//")) or asset == "data:,", asset
        if asset.startswith("/"):
            assert (await client.get(asset)).status_code == 200, asset
    script = (await client.get("/dashboard/static/reset-password.js")).text
    assert "/api/v1/auth/password-reset/confirm" in script
    assert "innerHTML" not in script
    assert not re.search(r"https?://", script)
