from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud.task_execution import seconds
from app.models.worker import Worker


async def heartbeat(
    db: AsyncSession,
    *,
    worker_id: str,
    host: str,
    pid: int,
    queues: str,
    concurrency: int,
    running: int,
) -> None:
    """Insert or refresh the worker's row, stamped with the database's clock."""
    values: dict[str, Any] = {
        "id": worker_id,
        "host": host,
        "pid": pid,
        "queues": queues,
        "concurrency": concurrency,
        "running": running,
        "started_at": func.now(),
        "heartbeat_at": func.now(),
        "stopped_at": None,
    }
    statement = postgresql.insert(Worker).values(**values)
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=["id"],
            set_={
                "host": host,
                "pid": pid,
                "queues": queues,
                "concurrency": concurrency,
                "running": running,
                "heartbeat_at": func.now(),
                "stopped_at": None,
            },
        )
    )


async def other_process_alive(
    db: AsyncSession, worker_id: str, pid: int, host: str, lease_seconds: float
) -> bool:
    """Whether another live process already works under this id."""
    query = select(func.count()).where(
        Worker.id == worker_id,
        Worker.stopped_at.is_(None),
        Worker.heartbeat_at > func.now() - seconds(lease_seconds),
        (Worker.pid != pid) | (Worker.host != host),
    )
    return bool(await db.scalar(query))


async def mark_stopped(db: AsyncSession, worker_id: str) -> None:
    await db.execute(
        update(Worker).where(Worker.id == worker_id).values(stopped_at=func.now(), running=0)
    )


async def forget_gone(db: AsyncSession, older_than_seconds: float) -> int:
    """Drop rows of workers silent for long: a worker id with the pid in it is never
    seen again once its process is gone."""
    result = await db.execute(
        delete(Worker).where(Worker.heartbeat_at < func.now() - seconds(older_than_seconds))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def list_with_liveness(
    db: AsyncSession, lease_seconds: float
) -> Sequence[tuple[Worker, bool]]:
    """Every known worker and whether it is alive (a heartbeat within the lease, in the
    database's clock, and not stopped)."""
    if db.get_bind().dialect.name == "postgresql":
        alive: Any = and_(
            Worker.stopped_at.is_(None),
            Worker.heartbeat_at > func.now() - seconds(lease_seconds),
        )
        rows = await db.execute(select(Worker, alive).order_by(Worker.id))
        return [(worker, bool(is_alive)) for worker, is_alive in rows.all()]
    # SQLite has no workers (the broker executor needs PostgreSQL); the table is read
    # all the same so the answer has one shape.
    now = datetime.now(UTC)
    workers = (await db.scalars(select(Worker).order_by(Worker.id))).all()
    return [
        (w, w.stopped_at is None and (now - w.heartbeat_at).total_seconds() < lease_seconds)
        for w in workers
    ]
