"""The key that signs access tokens: SECRET_KEY when set, otherwise one the deployment
generates once and keeps in the database; SECRET_KEY_PREVIOUS during a rotation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from app.core.config import Settings
from app.db.session import Database
from app.models.instance_secret import InstanceSecret
from tests.conftest import bearer, login, running_app

ME = "/api/v1/users/me"
USERS = "/api/v1/users"
# What SECRET_KEY defaulted to once, in the source for anyone to read.
OLD_DEFAULT_SECRET = "change-me-in-production-please-0123456789"
KEY_A = "first-secret-key-that-is-long-enough-0123456789"
KEY_B = "second-secret-key-that-is-long-enough-987654321"


def forged(key: str, user_id: int) -> dict[str, str]:
    """Headers with an access token for `user_id` that `key` signed."""
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "type": "access",
        "ver": 0,
        "fam": "0" * 32,
        "exp": datetime.now(UTC) + timedelta(minutes=5),
    }
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm='HS256')}"}


@pytest.fixture
def keyless(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(SECRET_KEY=None, SCHEDULER_ENABLED=False)


async def stored_keys(database: Database) -> list[tuple[str, str]]:
    async with database.sessionmaker() as db:
        rows = await db.execute(select(InstanceSecret.name, InstanceSecret.value))
        return [(name, value) for name, value in rows]


async def test_a_token_signed_with_the_old_default_key_is_refused(keyless: Settings) -> None:
    async with running_app(keyless) as (_, client):
        admin = await client.get(ME, headers=bearer(await login(client, "admin@example.com")))
        assert admin.status_code == 200, admin.text

        response = await client.get(USERS, headers=forged(OLD_DEFAULT_SECRET, admin.json()["id"]))

        assert response.status_code == 401, response.text


async def test_without_secret_key_a_generated_key_is_kept_in_the_database(
    keyless: Settings, database: Database
) -> None:
    async with running_app(keyless) as (_, client):
        tokens = await login(client, "admin@example.com")
        admin_id = (await client.get(ME, headers=bearer(tokens))).json()["id"]

    [(name, key)] = await stored_keys(database)
    assert name == "jwt_signing"
    assert len(key) >= 43
    assert key != OLD_DEFAULT_SECRET
    # That key is the one that signs: a token made with it is as good as one from login.
    jwt.decode(tokens["access_token"], key, algorithms=["HS256"])
    async with running_app(keyless) as (_, client):
        assert (await client.get(ME, headers=forged(key, admin_id))).status_code == 200


async def test_app_instances_on_one_database_share_the_generated_key(
    keyless: Settings, database: Database
) -> None:
    async with running_app(keyless) as (_, first), running_app(keyless) as (_, second):
        tokens = await login(first, "admin@example.com")

        assert (await second.get(ME, headers=bearer(tokens))).status_code == 200
        refreshed = await second.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        assert (await first.get(ME, headers=bearer(refreshed.json()))).status_code == 200
    assert len(await stored_keys(database)) == 1


async def test_a_set_secret_key_wins_over_the_generated_one(
    keyless: Settings, settings_factory: Callable[..., Settings], database: Database
) -> None:
    async with running_app(keyless) as (_, client):
        generated = await login(client, "admin@example.com")
    [(_, stored)] = await stored_keys(database)

    configured = settings_factory(SECRET_KEY=KEY_A, SCHEDULER_ENABLED=False)
    async with running_app(configured) as (_, client):
        assert (await client.get(ME, headers=bearer(generated))).status_code == 401
        tokens = await login(client, "admin@example.com")
        assert (await client.get(ME, headers=bearer(tokens))).status_code == 200
    jwt.decode(tokens["access_token"], KEY_A, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tokens["access_token"], stored, algorithms=["HS256"])


async def test_the_previous_key_still_verifies_during_a_rotation(
    settings_factory: Callable[..., Settings],
) -> None:
    before = settings_factory(SECRET_KEY=KEY_A, SCHEDULER_ENABLED=False)
    rotating = settings_factory(
        SECRET_KEY=KEY_B, SECRET_KEY_PREVIOUS=KEY_A, SCHEDULER_ENABLED=False
    )
    after = settings_factory(SECRET_KEY=KEY_B, SCHEDULER_ENABLED=False)
    async with running_app(before) as (_, client):
        old = await login(client, "admin@example.com")

    async with running_app(rotating) as (_, client):
        assert (await client.get(ME, headers=bearer(old))).status_code == 200
        new = await login(client, "admin@example.com")
    # New tokens are signed with the new key only.
    jwt.decode(new["access_token"], KEY_B, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(new["access_token"], KEY_A, algorithms=["HS256"])

    async with running_app(after) as (_, client):
        assert (await client.get(ME, headers=bearer(old))).status_code == 401
        assert (await client.get(ME, headers=bearer(new))).status_code == 200


@pytest.mark.parametrize(
    ("secret_key", "source"), [(None, "database"), (KEY_A, "SECRET_KEY from the environment")]
)
async def test_the_start_says_where_the_key_comes_from(
    settings_factory: Callable[..., Settings],
    database: Database,
    caplog: pytest.LogCaptureFixture,
    secret_key: str | None,
    source: str,
) -> None:
    caplog.set_level(logging.INFO, logger="app.main")
    async with running_app(settings_factory(SECRET_KEY=secret_key, SCHEDULER_ENABLED=False)):
        pass

    messages = [r.getMessage() for r in caplog.records if r.name == "app.main"]
    said = [message for message in messages if "signed" in message]
    assert len(said) == 1
    assert source in said[0]
    keys = [value for _, value in await stored_keys(database)] + [KEY_A]
    assert not any(key in record.getMessage() for record in caplog.records for key in keys)
