from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.crud import worker as worker_crud
from app.schemas.worker import WorkerInfo


async def list_workers(db: AsyncSession, settings: Settings) -> list[WorkerInfo]:
    """Every worker the database knows, alive or not (alive: a heartbeat within
    WORKER_LEASE_SECONDS by the database's clock). A dead worker's `running` is what it
    last reported."""
    rows = await worker_crud.list_with_liveness(db, settings.WORKER_LEASE_SECONDS)
    return [
        WorkerInfo(
            id=w.id,
            host=w.host,
            alive=alive,
            running=w.running if alive else 0,
            last_heartbeat=w.heartbeat_at,
        )
        for w, alive in rows
    ]
