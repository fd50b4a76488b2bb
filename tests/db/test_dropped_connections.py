"""Pooled connections the database server dropped are replaced, not handed to a request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from app.core.config import Settings
from app.db.session import PING_AFTER_IDLE_SECONDS, Database
from tests.conftest import BACKEND, bearer, login, running_app

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql", reason="only a database server drops connections"
)


async def test_requests_after_the_server_dropped_the_pools_connections_succeed(
    settings_factory: Callable[..., Settings], database_url: str
) -> None:
    # No scheduler: its leader lock's connection would be dropped too.
    async with running_app(settings_factory(SCHEDULER_ENABLED=False)) as (_, client):
        headers = bearer(await login(client, "admin@example.com"))
        # Several at once, so the pool holds several connections.
        first = await asyncio.gather(
            *(client.get("/api/v1/users/me", headers=headers) for _ in range(5))
        )
        assert all(r.status_code == 200 for r in first)

        killer = Database(database_url, pool=False)
        try:
            async with killer.engine.connect() as conn:
                dropped = await conn.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
        finally:
            await killer.dispose()
        assert dropped
        await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.2)

        after: list[Any] = await asyncio.gather(
            *(client.get("/api/v1/users/me", headers=headers) for _ in range(5))
        )
        assert [r.status_code for r in after] == [200] * 5
