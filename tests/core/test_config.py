"""Settings: which database URLs are accepted, and the sync URL derived for the job store
and Alembic."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.core.config import DEFAULT_SQLITE_URL, Settings

# What SECRET_KEY defaulted to once: public, so never a key.
OLD_DEFAULT_SECRET = "change-me-in-production-please-0123456789"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("async_url", "sync_url"),
    [
        (
            "postgresql+asyncpg://bot:secret@db.internal:5433/reddit",
            "postgresql+psycopg://bot:secret@db.internal:5433/reddit",
        ),
        (
            "postgresql+asyncpg://bot:secret@db.internal/reddit?ssl=require",
            "postgresql+psycopg://bot:secret@db.internal/reddit?sslmode=require",
        ),
        (
            "postgresql+asyncpg://bot:secret@db.internal/reddit?ssl=verify-full&sslmode=require",
            "postgresql+psycopg://bot:secret@db.internal/reddit?ssl=verify-full&sslmode=require",
        ),
        (
            # Reserved characters in the password survive the round trip, escaped.
            "postgresql+asyncpg://bot:p%40ss%2Fw%3Ard@db.internal/reddit",
            "postgresql+psycopg://bot:p%40ss%2Fw%3Ard@db.internal/reddit",
        ),
        ("sqlite+aiosqlite:///./data/reddit_bot.db", "sqlite:///./data/reddit_bot.db"),
        ("sqlite+aiosqlite:////var/lib/bot/bot.db", "sqlite:////var/lib/bot/bot.db"),
        ("sqlite+aiosqlite://", "sqlite://"),
    ],
)
def test_sync_database_url_is_derived(async_url: str, sync_url: str) -> None:
    assert settings(DATABASE_URL=async_url).sync_database_url == sync_url


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("postgresql://bot@db/reddit", "postgresql+asyncpg://bot@db/reddit"),
        ("postgres://bot@db/reddit", "postgresql+asyncpg://bot@db/reddit"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
    ],
)
def test_driverless_urls_get_the_async_driver(given: str, normalised: str) -> None:
    assert normalised == settings(DATABASE_URL=given).DATABASE_URL


@pytest.mark.parametrize(
    "url",
    [
        "mysql+aiomysql://bot@db/reddit",
        "postgresql+psycopg2://bot@db/reddit",
        "postgresql+psycopg://bot@db/reddit",
        "sqlite+pysqlite:///x.db",
        "oracle://bot@db/reddit",
    ],
)
def test_unsupported_drivers_are_rejected(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        settings(DATABASE_URL=url)
    message = str(info.value)
    assert "DATABASE_URL" in message
    assert "sqlite+aiosqlite" in message
    assert "postgresql+asyncpg" in message


def test_database_url_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://env@db/reddit?ssl=require")
    loaded = settings()
    assert loaded.DATABASE_URL == "postgresql+asyncpg://env@db/reddit?ssl=require"
    assert loaded.sync_database_url == "postgresql+psycopg://env@db/reddit?sslmode=require"
    assert not loaded.is_sqlite
    assert loaded.sqlite_path is None


def test_default_is_sqlite_under_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    loaded = settings()
    assert loaded.DATABASE_URL == DEFAULT_SQLITE_URL
    assert loaded.is_sqlite
    assert loaded.sqlite_path is not None
    assert loaded.sqlite_path.parts[-2:] == ("data", "reddit_bot.db")


def test_api_urls_default_to_reddit(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDDIT_API_URL", "REDDIT_AUTH_URL"):
        monkeypatch.delenv(name, raising=False)
    loaded = settings()
    assert loaded.REDDIT_API_URL == "https://oauth.reddit.com"
    assert loaded.REDDIT_AUTH_URL == "https://www.reddit.com"


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({"FIRST_SUPERUSER_EMAIL": "not-an-email"}, "FIRST_SUPERUSER_EMAIL"),
        ({"FIRST_SUPERUSER_PASSWORD": "short"}, "FIRST_SUPERUSER_PASSWORD"),
        ({"SECRET_KEY": "too-short"}, "SECRET_KEY"),
        ({"SECRET_KEY_PREVIOUS": "too-short"}, "SECRET_KEY_PREVIOUS"),
        ({"SECRET_KEY": OLD_DEFAULT_SECRET}, "SECRET_KEY"),
        ({"SECRET_KEY_PREVIOUS": OLD_DEFAULT_SECRET}, "SECRET_KEY_PREVIOUS"),
    ],
    ids=[
        "superuser-email",
        "superuser-password",
        "short-secret",
        "short-previous-secret",
        "published-secret",
        "published-previous-secret",
    ],
)
def test_bad_settings_are_reported_by_name(values: dict[str, str], setting: str) -> None:
    with pytest.raises(ValidationError) as info:
        settings(**values)
    assert [error["loc"] for error in info.value.errors()] == [(setting,)]


def test_production_accepts_its_own_secret() -> None:
    loaded = settings(ENVIRONMENT="production", SECRET_KEY="s" * 48)
    assert loaded.SECRET_KEY == "s" * 48


def test_secret_key_may_be_left_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # The deployment then signs with a key it generates (see tests/api/test_signing_keys.py).
    monkeypatch.delenv("SECRET_KEY", raising=False)
    loaded = settings(ENVIRONMENT="production")
    assert loaded.SECRET_KEY is None
    assert loaded.SECRET_KEY_PREVIOUS is None
