from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class WorkerInfo(BaseModel):
    """A worker process of the broker executor, as its heartbeat row tells."""

    id: str
    host: str
    alive: bool
    running: int
    last_heartbeat: datetime
