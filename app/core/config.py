"""Application settings, read from the environment (and `.env` when present)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import EmailStr, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from app.schemas.auth import PASSWORD_MIN_LENGTH

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./data/reddit_bot.db"
# Once the default SECRET_KEY, so anyone can sign tokens with it.
# A host name, IPv4 address or bracketed IPv6 address, maybe with a port.
ALLOWED_HOST = re.compile(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(:[0-9]{1,5})?")
PUBLISHED_SECRET_KEYS = frozenset({"change-me-in-production-please-0123456789"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    PROJECT_NAME: str = "reddit-bot-backend"
    ENVIRONMENT: Literal["development", "production", "test"] = "development"
    DATABASE_URL: str = DEFAULT_SQLITE_URL
    # Signs access tokens. Unset, a random key generated once is kept in the database
    # (`instance_secrets`), so every process of the deployment signs with the same one.
    # HS256 wants a key of at least 256 bits (RFC 7518, section 3.2).
    SECRET_KEY: str | None = Field(default=None, min_length=32)
    # The key before a rotation: tokens it signed are still accepted until they expire.
    SECRET_KEY_PREVIOUS: str | None = Field(default=None, min_length=32)
    # Argon2id cost for new password hashes (the defaults are argon2-cffi's).
    PASSWORD_HASH_TIME_COST: int = Field(default=3, ge=1)
    PASSWORD_HASH_MEMORY_KIB: int = Field(default=65536, ge=64)
    # Hashes run beside the event loop, this many at a time per process; more wait.
    PASSWORD_HASH_CONCURRENCY: int = Field(default=2, ge=1, le=64)
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=15, ge=1)
    REFRESH_TOKEN_EXPIRE_DAYS: int = Field(default=14, ge=1)
    # A rotated refresh token presented again this soon is a client's retry, not theft.
    REFRESH_REUSE_GRACE_SECONDS: float = Field(default=10.0, ge=0, le=300)
    PASSWORD_RESET_EXPIRE_MINUTES: int = Field(default=30, ge=1)
    PASSWORD_RESET_URL: str = "http://127.0.0.1:8000/reset-password"

    # Failed logins allowed per account and per client address in one window; past
    # either, logins answer 429 until the window ends.
    LOGIN_MAX_FAILURES_PER_ACCOUNT: int = Field(default=10, ge=1)
    LOGIN_MAX_FAILURES_PER_ADDRESS: int = Field(default=100, ge=1)
    LOGIN_THROTTLE_WINDOW_SECONDS: float = Field(default=900.0, gt=0)
    PASSWORD_RESET_MAX_PER_EMAIL: int = Field(default=3, ge=1)
    # Requests with an unknown, revoked or expired API key allowed per client address in
    # one window; past it, every API key from that address answers 429 until it ends.
    API_KEY_MAX_FAILURES_PER_ADDRESS: int = Field(default=20, ge=1)
    API_KEY_THROTTLE_WINDOW_SECONDS: float = Field(default=900.0, gt=0)
    PASSWORD_RESET_THROTTLE_WINDOW_SECONDS: float = Field(default=3600.0, gt=0)

    # Checked here so a bad value is reported by its setting's name before anything starts.
    FIRST_SUPERUSER_EMAIL: EmailStr | None = None
    FIRST_SUPERUSER_PASSWORD: str | None = Field(default=None, min_length=PASSWORD_MIN_LENGTH)

    SMTP_HOST: str | None = None
    SMTP_PORT: int = 587
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_FROM: str = "noreply@localhost"
    SMTP_TLS: bool = True

    SCHEDULER_ENABLED: bool = True
    SCHEDULER_FAILOVER_SECONDS: float = Field(default=10.0, gt=0)
    # How long an API write waits for the scheduler leader to apply it.
    SCHEDULER_COMMAND_TIMEOUT_SECONDS: float = Field(default=15.0, gt=0)
    # How often the leader looks for commands when no notification wakes it.
    SCHEDULER_POLL_SECONDS: float = Field(default=0.5, gt=0)
    # Running jobs get this long to finish on shutdown before they are cancelled.
    SCHEDULER_SHUTDOWN_GRACE_SECONDS: float = Field(default=10.0, ge=0)
    TASK_DEFAULT_TIMEOUT_SECONDS: float = Field(default=3600.0, gt=0)
    # What a run logs is kept with its run up to this many bytes; the rest is dropped
    # and the stored log says how much.
    RUN_LOG_MAX_BYTES: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # The hosts the `http_request` task may call: `host` (any port) or `host:port`,
    # comma-separated in the environment. Empty: it may call none.
    HTTP_TASK_ALLOWED_HOSTS: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Where runs happen: `local` on the scheduler leader's event loop, `broker` on
    # `reddit-bot worker` processes reached through RabbitMQ (PostgreSQL only).
    EXECUTOR: Literal["local", "broker"] = "local"
    BROKER_URL: str | None = None
    # A run queued this long without a worker claiming it is published again.
    BROKER_REPUBLISH_SECONDS: float = Field(default=30.0, gt=0)
    # A queued run of a job without a misfire grace time is missed after this long.
    BROKER_QUEUE_DEADLINE_SECONDS: float = Field(default=600.0, gt=0)
    # Runs one worker process runs at once.
    WORKER_CONCURRENCY: int = Field(default=20, ge=1, le=1000)
    # A worker whose heartbeat is older than this is dead: its runs end interrupted.
    WORKER_LEASE_SECONDS: float = Field(default=10.0, gt=0)
    WORKER_HEARTBEAT_SECONDS: float = Field(default=2.0, gt=0)
    # On SIGTERM running runs get this long to finish, then end interrupted.
    WORKER_SHUTDOWN_GRACE_SECONDS: float = Field(default=10.0, ge=0)

    # Each URL gets a JSON POST when a run fails, times out or is missed, and when a job
    # has failed ALERT_CONSECUTIVE_FAILURES times in a row (0 turns that alert off).
    # Comma-separated in the environment.
    ALERT_WEBHOOK_URLS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ALERT_CONSECUTIVE_FAILURES: int = Field(default=3, ge=0)
    ALERT_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0)
    # A delivery is tried 1 + ALERT_MAX_RETRIES times, waiting BACKOFF, 2 x BACKOFF, ...
    ALERT_MAX_RETRIES: int = Field(default=3, ge=0, le=10)
    ALERT_BACKOFF_SECONDS: float = Field(default=1.0, ge=0)
    METRICS_ENABLED: bool = True
    # /docs, /redoc and /openapi.json; their scripts and styles are served by the app.
    DOCS_ENABLED: bool = True
    # A larger request body is refused with 413, whether or not it declares its length.
    MAX_REQUEST_BODY_BYTES: int = Field(default=1024 * 1024, ge=1024)
    # At most this many jobs in one `POST /tasks/import`.
    TASK_IMPORT_MAX_JOBS: int = Field(default=10_000, ge=1)
    # At most this many slots in one `POST /tasks/{job_id}/backfill`.
    BACKFILL_MAX_RUNS: int = Field(default=1000, ge=1)
    # At most this many slots of one `buffer_all` job wait behind its running run; more
    # are recorded `skipped`.
    OVERLAP_BUFFER_MAX_RUNS: int = Field(default=100, ge=1)

    SESSION_RETENTION_DAYS: int = Field(default=30, ge=1)
    CONTENT_RETENTION_DAYS: int = Field(default=90, ge=1)
    EXECUTION_RETENTION_DAYS: int = Field(default=30, ge=1)

    # A scrape session is cut off (failed, interrupted) after this long.
    SCRAPE_TIMEOUT_SECONDS: float = Field(default=3600.0, gt=0, le=7 * 24 * 3600)

    # Encrypts the client secrets of the Reddit apps users add (a Fernet key: 32 bytes,
    # url-safe base64). Unset, a key generated once is kept in the database
    # (`instance_secrets`), shared by every process like the signing key.
    SECRETS_ENCRYPTION_KEY: str | None = None

    # The Reddit app that bot configs without one of their own scrape with.
    REDDIT_CLIENT_ID: str | None = None
    REDDIT_CLIENT_SECRET: str | None = None
    REDDIT_USER_AGENT: str = "python:reddit-bot-backend:0.1.0 (by /u/reddit-bot-backend)"
    REDDIT_API_URL: str = "https://oauth.reddit.com"
    REDDIT_AUTH_URL: str = "https://www.reddit.com"
    REDDIT_TIMEOUT_SECONDS: float = Field(default=20.0, gt=0)
    REDDIT_MAX_RETRIES: int = Field(default=4, ge=0)
    REDDIT_BACKOFF_SECONDS: float = Field(default=1.0, ge=0)

    @field_validator("ALERT_WEBHOOK_URLS", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    @field_validator("HTTP_TASK_ALLOWED_HOSTS", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip().lower() for host in value.split(",") if host.strip()]
        return value

    @field_validator("HTTP_TASK_ALLOWED_HOSTS")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not ALLOWED_HOST.fullmatch(entry):
                raise ValueError(f"not a host or host:port: {entry!r}")
        return [entry.lower() for entry in value]

    @field_validator("ALERT_WEBHOOK_URLS")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"not an http(s) URL: {url!r}")
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        url = make_url(value)
        if url.drivername == "postgresql" or url.drivername == "postgres":
            return str(url.set(drivername="postgresql+asyncpg").render_as_string(False))
        if url.drivername == "sqlite":
            return str(url.set(drivername="sqlite+aiosqlite").render_as_string(False))
        if url.drivername not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
            raise ValueError(
                "DATABASE_URL must use sqlite+aiosqlite:// or postgresql+asyncpg://, "
                f"not {url.drivername}://"
            )
        return value

    @field_validator("SECRETS_ENCRYPTION_KEY")
    @classmethod
    def _fernet_key(cls, value: str | None) -> str | None:
        if value is not None:
            from cryptography.fernet import Fernet

            try:
                Fernet(value)
            except ValueError:
                raise ValueError(
                    "must be a Fernet key (32 bytes, url-safe base64): generate one with "
                    "python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'"
                ) from None
        return value

    @field_validator("SECRET_KEY", "SECRET_KEY_PREVIOUS")
    @classmethod
    def _not_published(cls, value: str | None) -> str | None:
        if value in PUBLISHED_SECRET_KEYS:
            raise ValueError("this key is published; generate your own")
        return value

    @model_validator(mode="after")
    def _broker_needs_postgresql(self) -> Settings:
        if self.EXECUTOR == "broker":
            if self.is_sqlite:
                raise ValueError(
                    "EXECUTOR=broker needs PostgreSQL (DATABASE_URL=postgresql+asyncpg://...): "
                    "workers on other hosts cannot share a SQLite file; use EXECUTOR=local"
                )
            if not self.BROKER_URL:
                raise ValueError(
                    "EXECUTOR=broker needs BROKER_URL, for example "
                    "amqp://guest:guest@127.0.0.1:5672/"
                )
        if self.WORKER_HEARTBEAT_SECONDS >= self.WORKER_LEASE_SECONDS:
            raise ValueError("WORKER_HEARTBEAT_SECONDS must be shorter than WORKER_LEASE_SECONDS")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    @property
    def sync_database_url(self) -> str:
        """The URL the synchronous job store and Alembic use, derived from DATABASE_URL.

        Only the driver changes: psycopg 3 for PostgreSQL (the driver we ship; plain
        `postgresql://` would mean psycopg2), the standard sqlite3 module for SQLite.
        """
        url = make_url(self.DATABASE_URL)
        if url.get_backend_name() == "postgresql":
            query = dict(url.query)
            # asyncpg spells TLS `ssl=`, libpq spells it `sslmode=`.
            if "ssl" in query and "sslmode" not in query:
                query["sslmode"] = query.pop("ssl")
            url = url.set(drivername="postgresql+psycopg", query=query)
        else:
            url = url.set(drivername="sqlite")
        return url.render_as_string(hide_password=False)

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        database = make_url(self.DATABASE_URL).database
        if not database or database == ":memory:":
            return None
        return Path(database)


@lru_cache
def get_settings() -> Settings:
    return Settings()
