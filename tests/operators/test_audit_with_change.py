"""A change and its audit entry go together: a change the API reports as failed has not
happened, and a change that happened has its entry. The database itself is made to
refuse a write (a trigger), the way a full disk or a constraint would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from app.core.config import Settings
from tests.conftest import create_job
from tests.reddit.conftest import create_bot


@contextmanager
def refusing(database_url: str, table: str, column: str, value: str) -> Iterator[None]:
    """Make the database refuse writes of `value` into `table.column` for the block: on
    PostgreSQL at commit (a deferred constraint trigger), on SQLite at the statement."""
    engine = create_engine(Settings(DATABASE_URL=database_url).sync_database_url)
    name = f"refuse_{table}"
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN IF NEW.{column} = '{value}' THEN RAISE EXCEPTION 'refused'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    f"CREATE CONSTRAINT TRIGGER {name} AFTER INSERT OR UPDATE ON {table} "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                    f"EXECUTE FUNCTION {name}()"
                )
            )
        else:
            for event in ("INSERT", "UPDATE"):
                conn.execute(
                    text(
                        f"CREATE TRIGGER {name}_{event.lower()} BEFORE {event} ON {table} "
                        f"WHEN NEW.{column} = '{value}' "
                        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                    )
                )
    try:
        yield
    finally:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text(f"DROP TRIGGER {name} ON {table}"))
                conn.execute(text(f"DROP FUNCTION {name}()"))
            else:
                for event in ("insert", "update"):
                    conn.execute(text(f"DROP TRIGGER {name}_{event}"))
        engine.dispose()


async def audit_entries(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/tasks/{job_id}/audit", headers=headers)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["items"]
    return entries


async def test_a_change_whose_audit_entry_cannot_be_written_does_not_happen(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    await create_job(
        client,
        admin_headers,
        id="guarded",
        task="test_record",
        params={"path": str(tmp_path / "a")},
        trigger={"type": "interval", "hours": 1},
    )
    before = (await client.get("/api/v1/tasks/guarded", headers=admin_headers)).json()
    with refusing(database_url, "audit_log", "reason", "cannot be recorded"):
        pause = await client.post(
            "/api/v1/tasks/guarded/pause",
            headers=admin_headers,
            params={"reason": "cannot be recorded"},
        )
        assert pause.status_code >= 400
        assert "not applied" in pause.json()["detail"]
        delete = await client.delete(
            "/api/v1/tasks/guarded",
            headers=admin_headers,
            params={"reason": "cannot be recorded"},
        )
        assert delete.status_code >= 400

    after = (await client.get("/api/v1/tasks/guarded", headers=admin_headers)).json()
    assert after["paused"] is False
    assert after["next_run_time"] == before["next_run_time"]
    assert [e["action"] for e in await audit_entries(client, admin_headers, "guarded")] == [
        "create"
    ]

    # With the database willing again, the same change goes through with its entry.
    pause = await client.post(
        "/api/v1/tasks/guarded/pause", headers=admin_headers, params={"reason": "now it can"}
    )
    assert pause.status_code == 200, pause.text
    entries = await audit_entries(client, admin_headers, "guarded")
    assert [(e["action"], e["reason"]) for e in entries] == [
        ("pause", "now it can"),
        ("create", None),
    ]
    assert entries[0]["before"]["paused"] is False
    assert entries[0]["after"]["paused"] is True


async def test_a_bot_config_change_that_fails_after_its_job_changed_leaves_the_job_as_it_was(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    user_headers: dict[str, str],
    database_url: str,
) -> None:
    bot = await create_bot(client, user_headers, auto_scrape_enabled=True, scrape_interval_hours=2)
    job_id = f"bot_scraping_{bot['id']}"
    job = (await client.get(f"/api/v1/tasks/{job_id}", headers=admin_headers)).json()

    # Answered as a server would (500), instead of raising into the test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    failing = httpx.AsyncClient(transport=transport, base_url="http://test")
    with refusing(database_url, "bot_configs", "name", "refused name"):
        # The leader applies the job changes first; then the config's write fails.
        moved = await failing.patch(
            f"/api/v1/bot-configs/{bot['id']}",
            headers=user_headers,
            json={"name": "refused name", "scrape_interval_hours": 5},
        )
        assert moved.status_code >= 500
        removed = await failing.patch(
            f"/api/v1/bot-configs/{bot['id']}",
            headers=user_headers,
            json={"name": "refused name", "auto_scrape_enabled": False},
        )
        assert removed.status_code >= 500
        created = await failing.post(
            "/api/v1/bot-configs",
            headers=user_headers,
            json={"name": "refused name", "subreddits": ["python"], "auto_scrape_enabled": True},
        )
        assert created.status_code >= 500
    await failing.aclose()

    config = (await client.get(f"/api/v1/bot-configs/{bot['id']}", headers=user_headers)).json()
    assert (config["name"], config["scrape_interval_hours"], config["auto_scrape_enabled"]) == (
        bot["name"],
        2,
        True,
    )
    now = (await client.get(f"/api/v1/tasks/{job_id}", headers=admin_headers)).json()
    # Back on the config's interval; the restored schedule counts from the restore.
    assert now["trigger_spec"]["hours"] == job["trigger_spec"]["hours"] == 2
    assert now["paused"] is False
    configs = (await client.get("/api/v1/bot-configs", headers=user_headers)).json()
    assert [c["id"] for c in configs["items"]] == [bot["id"]]
    jobs = (await client.get("/api/v1/tasks", headers=admin_headers)).json()
    assert [j["id"] for j in jobs["items"] if j["id"].startswith("bot_scraping_")] == [job_id]
