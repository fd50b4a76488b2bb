"""The executor interface between the scheduler leader and the workers: `RunBroker`
carries one `RunMessage` ("run this queued row now") from the leader to a worker of
the message's kind. The database decides everything else (who owns a slot, who runs
it, its outcome); a broker only delivers, at least once.

The engine behind it is taskiq (`taskiq_broker.py`); nothing else imports the engine,
and nothing imports this module with `EXECUTOR=local`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from app.tasks.registry import TaskKind


class RunMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    execution_id: int
    claim_token: str
    task: str
    params: dict[str, Any]
    timeout_seconds: float
    job_id: str
    scheduled_at: datetime | None
    queued_at: datetime
    attempt: int = 1
    kind: TaskKind = "io"

    def body(self) -> dict[str, Any]:
        """What the row keeps to publish the message again (all but its id)."""
        return self.model_dump(mode="json", exclude={"execution_id"})

    @classmethod
    def from_row(cls, execution_id: int, body: dict[str, Any]) -> RunMessage:
        return cls.model_validate({**body, "execution_id": execution_id})


Ack = Callable[[], Awaitable[None]]
# A worker's handler: gets each delivery with its acknowledgement, and acks it itself
# (after its claim). It must not raise: a delivery is never retried by the engine.
Handler = Callable[[RunMessage, Ack], Awaitable[None]]


class BrokerUnavailable(Exception):
    """The broker could not be reached to publish; the row stays queued (the outbox)."""


class RunBroker(Protocol):
    async def start(self) -> None:
        """Connect; raises `BrokerUnavailable` if the broker cannot be reached."""

    async def stop(self) -> None: ...

    async def publish(self, message: RunMessage) -> None:
        """Send persistently to the queue of the message's kind; raises
        `BrokerUnavailable`."""

    async def consume(self, handler: Handler, stop: asyncio.Event, drain_seconds: float) -> None:
        """Deliver messages of this broker's queues to `handler`, at most the broker's
        concurrency at once, until `stop` is set; then wait up to `drain_seconds` for the
        handlers running and return (unacknowledged deliveries go back to the queue)."""
