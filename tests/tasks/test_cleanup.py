"""The built-in cleanup jobs delete exactly what is past retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from app.core.security import hash_password
from app.db.session import Database
from app.models.password_reset import PasswordReset
from app.models.task_execution import (
    ExecutionStatus,
    ExecutionTrigger,
    TaskExecution,
    TaskExecutionLog,
)
from app.models.throttle import ThrottleCounter, ThrottleScope
from app.models.token import RefreshToken
from app.models.user import User
from app.tasks.jobs import cleanup
from tests.conftest import finished


async def run_job(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str
) -> dict[str, object]:
    response = await client.post(f"/api/v1/tasks/{job_id}/run", headers=headers)
    assert response.status_code == 202, response.text
    [row] = await finished(client, headers, job_id)
    assert row["status"] == "success", row
    return row


async def test_cleanup_executions_keeps_recent_and_running_rows(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database
) -> None:
    now = datetime.now(UTC)
    async with database.transaction() as db:
        for i, (age_days, status) in enumerate(
            [
                (40, ExecutionStatus.SUCCESS),
                (31, ExecutionStatus.FAILED),
                (29, ExecutionStatus.SUCCESS),
                (1, ExecutionStatus.SUCCESS),
                (45, ExecutionStatus.RUNNING),
            ]
        ):
            at = now - timedelta(days=age_days)
            db.add(
                TaskExecution(
                    job_id="old_job",
                    job_name="old",
                    status=status,
                    trigger=ExecutionTrigger.SCHEDULED,
                    scheduled_at=at + timedelta(seconds=i),
                    started_at=at,
                    created_at=at,
                )
            )
    row = await run_job(client, admin_headers, "cleanup_executions")
    assert row["result"] == {"deleted_executions": 2, "deleted_commands": 0}
    async with database.sessionmaker() as db:
        left = (
            await db.scalars(select(TaskExecution).where(TaskExecution.job_id == "old_job"))
        ).all()
    ages = sorted(round((now - r.created_at).total_seconds() / 86400) for r in left)
    assert ages == [1, 29, 45]


async def test_cleanup_tokens_deletes_expired_and_used_tokens_only(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database
) -> None:
    now = datetime.now(UTC)
    async with database.transaction() as db:
        user = User(email="tokens@example.com", hashed_password=await hash_password("x" * 10))
        db.add(user)
        await db.flush()
        db.add_all(
            [
                RefreshToken(
                    user_id=user.id,
                    token_hash="a" * 64,
                    family_id="f1",
                    expires_at=now - timedelta(hours=1),
                ),
                RefreshToken(
                    user_id=user.id,
                    token_hash="b" * 64,
                    family_id="f1",
                    expires_at=now + timedelta(days=5),
                ),
                RefreshToken(
                    user_id=user.id,
                    token_hash="c" * 64,
                    family_id="f2",
                    expires_at=now + timedelta(days=5),
                    revoked_at=now - timedelta(days=3),
                ),
                PasswordReset(
                    user_id=user.id, token_hash="d" * 64, expires_at=now - timedelta(minutes=1)
                ),
                PasswordReset(
                    user_id=user.id, token_hash="e" * 64, expires_at=now + timedelta(minutes=20)
                ),
                ThrottleCounter(
                    scope=ThrottleScope.LOGIN_ACCOUNT,
                    key_hash="f" * 64,
                    attempts=7,
                    window_ends_at=now - timedelta(seconds=1),
                ),
                ThrottleCounter(
                    scope=ThrottleScope.LOGIN_ADDRESS,
                    key_hash="f" * 64,
                    attempts=2,
                    window_ends_at=now + timedelta(minutes=10),
                ),
            ]
        )
    before = await _count(database, RefreshToken)
    row = await run_job(client, admin_headers, "cleanup_tokens")
    # The admin's own login token stays; so do the live ones created above.
    assert row["result"] == {
        "expired_refresh_tokens": 2,
        "expired_reset_tokens": 1,
        "ended_throttle_windows": 1,
        "total_cleaned": 4,
    }
    assert await _count(database, RefreshToken) == before - 2
    assert await _count(database, PasswordReset) == 1
    async with database.sessionmaker() as db:
        scopes = (
            await db.scalars(
                select(ThrottleCounter.scope).where(ThrottleCounter.key_hash == "f" * 64)
            )
        ).all()
    assert scopes == [ThrottleScope.LOGIN_ADDRESS]


async def _count(database: Database, model: type[object]) -> int:
    async with database.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_cleanup_executions_deletes_history_longer_than_one_batch(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Expired history larger than a batch is deleted in full (oldest first, a
    transaction per batch), with its logs; rows that share a creation time across two
    batches are not skipped; running and recent rows stay."""
    monkeypatch.setattr(cleanup, "RETENTION_BATCH", 3)
    now = datetime.now(UTC)
    expired_at = [now - timedelta(days=d) for d in (50, 45, 45, 45, 44, 40, 35, 31)]
    async with database.transaction() as db:
        rows = [
            TaskExecution(
                job_id="batch_job",
                job_name="batch",
                status=status,
                trigger=ExecutionTrigger.SCHEDULED,
                scheduled_at=at + timedelta(seconds=i),
                started_at=at,
                created_at=at,
            )
            for i, (at, status) in enumerate(
                [(at, ExecutionStatus.SUCCESS) for at in expired_at]
                + [
                    (now - timedelta(days=47), ExecutionStatus.RUNNING),
                    (now - timedelta(days=2), ExecutionStatus.SUCCESS),
                ]
            )
        ]
        db.add_all(rows)
        await db.flush()
        db.add_all(TaskExecutionLog(execution_id=row.id, lines=[{"message": "hi"}]) for row in rows)
    row = await run_job(client, admin_headers, "cleanup_executions")
    assert row["result"] == {"deleted_executions": len(expired_at), "deleted_commands": 0}
    async with database.sessionmaker() as db:
        left = (
            await db.scalars(select(TaskExecution).where(TaskExecution.job_id == "batch_job"))
        ).all()
        logs = await db.scalar(select(func.count()).select_from(TaskExecutionLog))
    assert sorted(r.status for r in left) == [ExecutionStatus.RUNNING, ExecutionStatus.SUCCESS]
    assert logs == 2
