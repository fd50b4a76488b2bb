from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.scheduler import CommandStatus, SchedulerCommand, SchedulerLeader

NOTIFY_CHANNEL = "scheduler_commands"


class CommandOutcome(NamedTuple):
    status: CommandStatus
    error_status: int | None
    error: str | None
    result: dict[str, Any] | None


async def create_command(
    db: AsyncSession,
    *,
    action: str,
    job_id: str | None,
    payload: dict[str, Any],
    now: datetime,
    audit: dict[str, Any] | None = None,
) -> SchedulerCommand:
    command = SchedulerCommand(
        action=action,
        job_id=job_id,
        payload=payload,
        audit=audit,
        status=CommandStatus.PENDING,
        created_at=now,
    )
    db.add(command)
    await db.flush()
    if db.get_bind().dialect.name == "postgresql":
        # Delivered on commit; wakes a leader in another process at once.
        await db.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})
    return command


async def get_command(db: AsyncSession, command_id: int) -> SchedulerCommand | None:
    result = await db.execute(
        select(SchedulerCommand)
        .where(SchedulerCommand.id == command_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def get_outcome(db: AsyncSession, command_id: int) -> CommandOutcome | None:
    """A command's status and outcome, without its payload and audit entry (an import's
    are megabytes): what a client waiting for it polls."""
    row = (
        await db.execute(
            select(
                SchedulerCommand.status,
                SchedulerCommand.error_status,
                SchedulerCommand.error,
                SchedulerCommand.result,
            ).where(SchedulerCommand.id == command_id)
        )
    ).one_or_none()
    if row is None:
        return None
    return CommandOutcome(CommandStatus(row.status), row.error_status, row.error, row.result)


async def pending_command_ids(db: AsyncSession, limit: int = 100) -> Sequence[int]:
    result = await db.scalars(
        select(SchedulerCommand.id)
        .where(SchedulerCommand.status == CommandStatus.PENDING)
        .order_by(SchedulerCommand.id)
        .limit(limit)
    )
    return result.all()


async def transition(
    db: AsyncSession, command_id: int, *, from_status: CommandStatus, **values: Any
) -> bool:
    """Move a command on only if it is still in `from_status`: the leader claiming it and
    a client giving up on it cannot both win."""
    result = await db.execute(
        update(SchedulerCommand)
        .where(SchedulerCommand.id == command_id, SchedulerCommand.status == from_status)
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_commands_before(db: AsyncSession, cutoff: datetime) -> int:
    result = await db.execute(
        delete(SchedulerCommand).where(
            SchedulerCommand.created_at < cutoff, SchedulerCommand.status != CommandStatus.PENDING
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def get_leader(db: AsyncSession, name: str) -> SchedulerLeader | None:
    result = await db.execute(
        select(SchedulerLeader)
        .where(SchedulerLeader.name == name)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def claim_leadership(db: AsyncSession, name: str, holder: str, now: datetime) -> None:
    row = await db.get(SchedulerLeader, name)
    if row is None:
        db.add(SchedulerLeader(name=name, holder=holder, since=now, heartbeat_at=now))
    else:
        row.holder, row.since, row.heartbeat_at = holder, now, now
    await db.flush()


async def heartbeat(db: AsyncSession, name: str, holder: str, now: datetime) -> bool:
    result = await db.execute(
        update(SchedulerLeader)
        .where(SchedulerLeader.name == name, SchedulerLeader.holder == holder)
        .values(heartbeat_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_leadership(db: AsyncSession, name: str, holder: str) -> None:
    await db.execute(
        delete(SchedulerLeader).where(
            SchedulerLeader.name == name, SchedulerLeader.holder == holder
        )
    )
