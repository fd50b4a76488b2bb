"""Failed logins are throttled per account and per client address, and reset requests
per email, with 429 and `Retry-After`, in counters every process shares."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.core.email import ConsoleEmailSender
from tests.conftest import PASSWORD, bearer, login, running_app, wait_for

MakeUser = Callable[..., Awaitable[tuple[dict[str, Any], dict[str, str]]]]

LOGIN = "/api/v1/auth/login"
RESET_REQUEST = "/api/v1/auth/password-reset/request"
RESET_CONFIRM = "/api/v1/auth/password-reset/confirm"
ME = "/api/v1/users/me"
PER_ACCOUNT = 3
PER_ADDRESS = 6
RESETS = 2
WINDOW = 900


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        SCHEDULER_ENABLED=False,
        LOGIN_MAX_FAILURES_PER_ACCOUNT=PER_ACCOUNT,
        LOGIN_MAX_FAILURES_PER_ADDRESS=PER_ADDRESS,
        LOGIN_THROTTLE_WINDOW_SECONDS=WINDOW,
        PASSWORD_RESET_MAX_PER_EMAIL=RESETS,
    )


@asynccontextmanager
async def client_at(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same app that connects from another address."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, data={"username": email, "password": password})


def assert_throttled(response: httpx.Response, window: float = WINDOW) -> None:
    assert response.status_code == 429, response.text
    assert "try again later" in response.json()["detail"]
    assert 1 <= int(response.headers["retry-after"]) <= window


def sent_to(app: FastAPI, email: str) -> int:
    mailer = app.state.mailer
    assert isinstance(mailer, ConsoleEmailSender)
    return sum(1 for mail in mailer.outbox if mail.to == email)


# --- per account ---------------------------------------------------------------------


async def test_wrong_passwords_then_429_and_the_right_one_is_refused_too(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    for _ in range(PER_ACCOUNT):
        assert (await attempt(client, user["email"], "wrong-password")).status_code == 401

    assert_throttled(await attempt(client, user["email"], "wrong-password"))
    assert_throttled(await attempt(client, user["email"], PASSWORD))
    # Case does not make it another account.
    assert_throttled(await attempt(client, user["email"].upper(), PASSWORD))


async def test_the_account_is_throttled_from_every_address(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    for _ in range(PER_ACCOUNT):
        assert (await attempt(client, user["email"], "wrong-password")).status_code == 401

    async with client_at(app, "198.51.100.7") as elsewhere:
        assert_throttled(await attempt(elsewhere, user["email"], PASSWORD))


async def test_the_throttle_ends_with_its_window(
    settings_factory: Callable[..., Settings], make_user: MakeUser
) -> None:
    settings = settings_factory(
        SCHEDULER_ENABLED=False,
        LOGIN_MAX_FAILURES_PER_ACCOUNT=PER_ACCOUNT,
        LOGIN_THROTTLE_WINDOW_SECONDS=1,
    )
    user, _ = await make_user()
    async with running_app(settings) as (_, client):
        for _ in range(PER_ACCOUNT):
            assert (await attempt(client, user["email"], "wrong-password")).status_code == 401
        assert_throttled(await attempt(client, user["email"], PASSWORD), window=1)

        async def logged_in() -> bool:
            response = await attempt(client, user["email"], PASSWORD)
            assert response.status_code in (200, 429), response.text
            return response.status_code == 200

        await wait_for(logged_in, timeout=30, interval=0.2)


async def test_a_successful_login_resets_the_account(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    for _ in range(PER_ACCOUNT - 1):
        assert (await attempt(client, user["email"], "wrong-password")).status_code == 401
    assert (await attempt(client, user["email"], PASSWORD)).status_code == 200

    for _ in range(PER_ACCOUNT):
        assert (await attempt(client, user["email"], "wrong-password")).status_code == 401
    assert_throttled(await attempt(client, user["email"], "wrong-password"))


async def test_unknown_and_known_accounts_are_throttled_alike(
    app: FastAPI, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    answers: dict[str, list[tuple[int, Any, bool]]] = {}
    # Each from an address of its own, so that only the account limits are in play.
    for email, address in ((user["email"], "192.0.2.1"), ("nobody@example.com", "192.0.2.2")):
        answers[email] = []
        async with client_at(app, address) as client:
            for _ in range(PER_ACCOUNT + 2):
                response = await attempt(client, email, "wrong-password")
                answers[email].append(
                    (response.status_code, response.json(), "retry-after" in response.headers)
                )

    assert answers[user["email"]] == answers["nobody@example.com"]
    assert [status for status, _, _ in answers["nobody@example.com"]] == [401] * PER_ACCOUNT + [
        429,
        429,
    ]


async def test_concurrent_wrong_logins_are_each_counted(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()

    responses = await asyncio.gather(
        *(attempt(client, user["email"], "wrong-password") for _ in range(PER_ACCOUNT + 5))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * PER_ACCOUNT + [429] * 5
    assert_throttled(await attempt(client, user["email"], PASSWORD))


# --- per address ---------------------------------------------------------------------


async def test_failed_logins_are_throttled_per_address(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    # One guess at each of many accounts: no account reaches its limit, the address does.
    for n in range(PER_ADDRESS):
        assert (await attempt(client, f"guess-{n}@example.com", "password1")).status_code == 401

    assert_throttled(await attempt(client, user["email"], PASSWORD))
    async with client_at(app, "203.0.113.9") as elsewhere:
        assert (await attempt(elsewhere, user["email"], PASSWORD)).status_code == 200


async def test_successful_logins_do_not_use_up_the_address(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    for _ in range(PER_ADDRESS + 2):
        assert (await attempt(client, user["email"], PASSWORD)).status_code == 200
    for n in range(PER_ADDRESS):
        assert (await attempt(client, f"guess-{n}@example.com", "password1")).status_code == 401
    assert_throttled(await attempt(client, "guess-last@example.com", "password1"))


# --- re-entering one's password ------------------------------------------------------


async def test_wrong_current_passwords_count_as_failed_logins(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, headers = await make_user()
    body = {"password": "a-brand-new-passphrase", "current_password": "a-guess-1234"}
    for _ in range(PER_ACCOUNT):
        assert (await client.patch(ME, headers=headers, json=body)).status_code == 400

    assert_throttled(await client.patch(ME, headers=headers, json=body))
    assert_throttled(await attempt(client, user["email"], PASSWORD))


# --- password reset requests ---------------------------------------------------------


async def test_reset_emails_are_capped_per_email(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    for _ in range(RESETS):
        response = await client.post(RESET_REQUEST, json={"email": user["email"]})
        assert response.status_code == 202, response.text

    refused = await client.post(RESET_REQUEST, json={"email": user["email"].upper()})

    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert sent_to(app, user["email"]) == RESETS
    # Another email is not held back by this one.
    other, _ = await make_user()
    assert (await client.post(RESET_REQUEST, json={"email": other["email"]})).status_code == 202
    assert sent_to(app, other["email"]) == 1


async def test_reset_requests_for_unknown_and_known_emails_are_capped_alike(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    answers: dict[str, list[tuple[int, Any, bool]]] = {}
    for email in (user["email"], "nobody@example.com"):
        answers[email] = []
        for _ in range(RESETS + 2):
            response = await client.post(RESET_REQUEST, json={"email": email})
            answers[email].append(
                (response.status_code, response.json(), "retry-after" in response.headers)
            )

    assert answers[user["email"]] == answers["nobody@example.com"]
    assert [status for status, _, _ in answers[user["email"]]] == [202] * RESETS + [429, 429]


async def test_a_completed_reset_lifts_the_login_throttle(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, _ = await make_user()
    for _ in range(PER_ACCOUNT):
        await attempt(client, user["email"], "wrong-password")
    assert_throttled(await attempt(client, user["email"], PASSWORD))
    assert (await client.post(RESET_REQUEST, json={"email": user["email"]})).status_code == 202
    mailer = app.state.mailer
    assert isinstance(mailer, ConsoleEmailSender)
    token = mailer.outbox[-1].body.split("Token: ")[1].strip()

    confirmed = await client.post(
        RESET_CONFIRM, json={"token": token, "new_password": "a-brand-new-passphrase"}
    )

    assert confirmed.status_code == 200, confirmed.text
    tokens = await login(client, user["email"], "a-brand-new-passphrase")
    assert (await client.get(ME, headers=bearer(tokens))).status_code == 200
