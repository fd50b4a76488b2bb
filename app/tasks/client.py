"""How API processes change jobs: they never touch `apscheduler_jobs`. A change is a
row in `scheduler_commands` that the leader applies; the request answers once it has
been applied, with the leader's outcome."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import ServiceUnavailable
from app.crud import scheduler as scheduler_crud
from app.db.session import Database
from app.models.scheduler import CommandStatus
from app.schemas.task import LeaderInfo
from app.tasks import commands
from app.tasks.commands import Command

# The leadership row's name.
SCHEDULER_NAME = "scheduler"

NO_LEADER = (
    "No scheduler is running, so the change cannot be applied. Start one with "
    "`reddit-bot scheduler` or `reddit-bot serve` with SCHEDULER_ENABLED=true."
)


# A command the leader has claimed is given this much longer to finish applying.
APPLY_GRACE_SECONDS = 30.0


class LocalCandidate(Protocol):
    """A scheduler candidate in this process (`serve` runs one beside the API): told of
    a new command at once instead of finding it at its next poll."""

    runner_id: str

    def wake(self) -> None: ...


class SchedulerClient:
    def __init__(
        self, settings: Settings, database: Database, local: LocalCandidate | None = None
    ) -> None:
        self.settings = settings
        self.database = database
        self.local = local

    async def leader(self, db: AsyncSession) -> LeaderInfo:
        row = await scheduler_crud.get_leader(db, SCHEDULER_NAME)
        if row is None:
            return LeaderInfo(holder=None, since=None, heartbeat_at=None, alive=False)
        fresh_after = datetime.now(UTC) - timedelta(
            seconds=self.settings.SCHEDULER_FAILOVER_SECONDS
        )
        return LeaderInfo(
            holder=row.holder,
            since=row.since,
            heartbeat_at=row.heartbeat_at,
            alive=row.heartbeat_at >= fresh_after,
            this_process=self.local is not None and self.local.runner_id == row.holder,
        )

    async def submit(
        self, command: Command, *, audit: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send one change to the leader and wait until it is applied. Raises the
        leader's error (404, 409, 422) or 503 when no leader applies it in time.

        `audit` is the change's audit entry (as `audit_log` columns, without `after`);
        the leader writes it with the change, and its id comes back as `audit_id`.
        """
        async with self.database.transaction() as db:
            if not (await self.leader(db)).alive:
                raise ServiceUnavailable(NO_LEADER)
            action, job_id, payload = commands.encode(command)
            row = await scheduler_crud.create_command(
                db,
                action=action,
                job_id=job_id,
                payload=payload,
                now=datetime.now(UTC),
                audit=audit,
            )
            command_id = row.id
        if self.local is not None:
            self.local.wake()
        return await self._wait(command_id)

    async def _wait(self, command_id: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.SCHEDULER_COMMAND_TIMEOUT_SECONDS
        delay = 0.005
        while True:
            async with self.database.sessionmaker() as db:
                command = await scheduler_crud.get_outcome(db, command_id)
            assert command is not None
            if command.status == CommandStatus.DONE:
                return command.result or {}
            if command.status == CommandStatus.FAILED:
                raise commands.error_of(command.error_status, command.error, command.result)
            if loop.time() >= deadline + APPLY_GRACE_SECONDS:
                raise ServiceUnavailable(
                    "The scheduler stopped while applying the change; check the job before retrying"
                )
            if loop.time() >= deadline and command.status == CommandStatus.PENDING:
                async with self.database.transaction() as db:
                    expired = await scheduler_crud.transition(
                        db,
                        command_id,
                        from_status=CommandStatus.PENDING,
                        status=CommandStatus.EXPIRED,
                    )
                if expired:
                    raise ServiceUnavailable(
                        "The scheduler did not pick up the change in time; nothing was changed"
                    )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
