"""`workers`: one row per worker process of the broker executor, its heartbeat in
database time, so no host's clock decides whether a worker is alive."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base_class import Base
from app.db.types import UTCDateTime


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    # Comma-separated task kinds it takes ("io,cpu").
    queues: Mapped[str] = mapped_column(String(255))
    concurrency: Mapped[int] = mapped_column(Integer)
    running: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when it stopped on purpose (drained); a stopped worker is not alive.
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
