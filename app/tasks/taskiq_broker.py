"""`TaskiqRunBroker`: the `RunBroker` interface on taskiq, with RabbitMQ
(taskiq-aio-pika) in production and taskiq's in-memory broker in the contract tests.

- One taskiq task, `reddit_bot.run`, whose body hands the message to the worker's
  handler. Acknowledgement is manual: the handler acks after it has claimed the row,
  so a worker that dies before claiming leaves the message to another.
- One durable queue per task kind (`reddit_bot.io`, `reddit_bot.cpu`); messages are
  persistent. The leader declares every queue, a worker only those it serves.
- No retry middleware: a delivery that fails is not tried again by the engine; retries
  are rows of our own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import make_url
from taskiq import AsyncBroker, Context, InMemoryBroker, TaskiqDepends
from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver
from taskiq_aio_pika import AioPikaBroker, Exchange, Queue

from app.tasks.broker import BrokerUnavailable, Handler, RunMessage
from app.tasks.registry import TASK_KINDS, TaskKind

logger = logging.getLogger(__name__)

TASK_NAME = "reddit_bot.run"
EXCHANGE = "reddit_bot"
PUBLISH_TIMEOUT_SECONDS = 10.0


def queue_name(kind: TaskKind) -> str:
    return f"reddit_bot.{kind}"


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _no_ack() -> None:
    return None


class TaskiqRunBroker:
    def __init__(self, broker: AsyncBroker, *, concurrency: int = 1, name: str = "") -> None:
        self.broker = broker
        self.concurrency = concurrency
        self.name = name
        self._handler: Handler | None = None

        async def deliver(message: dict[str, Any], context: Context = TaskiqDepends()) -> None:
            # In memory there is nothing to acknowledge.
            ack = context.ack if context.is_ackable else _no_ack
            if self._handler is None:
                logger.error("a run message reached a broker with no handler; dropped")
                await ack()
                return
            await self._handler(RunMessage.model_validate(message), ack)

        self._task = broker.register_task(
            deliver, task_name=TASK_NAME, ack_type=AcknowledgeType.MANUAL.value
        )

    async def start(self) -> None:
        try:
            await self.broker.startup()
        except Exception as exc:
            await self._close_quietly()
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def _close_quietly(self) -> None:
        try:
            await self.broker.shutdown()
        except Exception:
            logger.debug("closing a broker that did not start failed", exc_info=True)

    async def stop(self) -> None:
        await self.broker.shutdown()

    async def publish(self, message: RunMessage) -> None:
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                await (
                    self._task.kicker()
                    .with_labels(queue_name=queue_name(message.kind))
                    .kiq(message.model_dump(mode="json"))
                )
        except Exception as exc:
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def consume(self, handler: Handler, stop: asyncio.Event, drain_seconds: float) -> None:
        self._handler = handler
        if isinstance(self.broker, InMemoryBroker):
            # The in-memory broker runs each message as it is published.
            await stop.wait()
            await asyncio.wait_for(self.broker.wait_all(), timeout=drain_seconds or None)
            return
        receiver = Receiver(
            self.broker,
            max_async_tasks=self.concurrency,
            propagate_exceptions=False,
            run_startup=False,
            ack_type=AcknowledgeType.MANUAL,
            wait_tasks_timeout=drain_seconds,
        )
        await receiver.listen(stop)


def rabbitmq(
    url: str, kinds: Iterable[TaskKind] = TASK_KINDS, *, concurrency: int = 1, worker: bool = False
) -> TaskiqRunBroker:
    """A broker on RabbitMQ for the given task kinds. A worker takes messages only while
    it has room: prefetch is its concurrency, and a claimed message is acked at once."""
    queues = [Queue(name=queue_name(kind)) for kind in kinds]
    broker = AioPikaBroker(
        url,
        qos=concurrency,
        exchange=Exchange(name=EXCHANGE),
        task_queues=queues,
        dead_letter_queue=Queue(name="reddit_bot.dead_letter"),
    )
    broker.is_worker_process = worker
    return TaskiqRunBroker(broker, concurrency=concurrency, name=redacted(url))


def in_memory() -> TaskiqRunBroker:
    return TaskiqRunBroker(InMemoryBroker(), name="in-memory")
