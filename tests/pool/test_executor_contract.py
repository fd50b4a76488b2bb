"""The executor interface (`RunBroker`) as the worker pool relies on it, run against
taskiq's in-memory broker on both databases and against RabbitMQ on PostgreSQL: a
message arrives intact, a failed delivery is not retried by the engine, a message
delivered twice still runs once (the database claim decides), and a stopped consumer
waits for the handlers running."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.core.config import Settings
from app.db.session import Database
from app.models.task_execution import ExecutionStatus, ExecutionTrigger, TaskExecution
from app.tasks.broker import Ack, RunBroker, RunMessage
from app.tasks.registry import TaskKind
from app.tasks.taskiq_broker import in_memory, rabbitmq
from app.tasks.worker import PoolWorker
from tests.conftest import BACKEND, wait_for
from tests.tasks.sample_tasks import lines

Pair = tuple[RunBroker, RunBroker]


@pytest.fixture(
    params=[
        "memory",
        pytest.param(
            "rabbitmq",
            marks=[
                pytest.mark.multiprocess,
                pytest.mark.skipif(
                    BACKEND != "postgresql",
                    reason="the RabbitMQ runs go with the worker pool tests (PostgreSQL)",
                ),
            ],
        ),
    ]
)
async def brokers(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Any]]:
    """Makes (publisher, consumer) pairs of started brokers; in memory they are one."""
    started: list[RunBroker] = []

    async def make(kinds: tuple[TaskKind, ...] = ("io", "cpu")) -> Pair:
        if request.param == "memory":
            broker = in_memory()
            await broker.start()
            started.append(broker)
            return broker, broker
        url = request.getfixturevalue("rabbit").url
        publisher = rabbitmq(url)
        consumer = rabbitmq(url, kinds, concurrency=5, worker=True)
        for broker in (publisher, consumer):
            await broker.start()
            started.append(broker)
        return publisher, consumer

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for broker in started:
        await broker.stop()
    if request.param == "rabbitmq":
        # What a test left in a queue must not reach the next one.
        node = request.getfixturevalue("rabbit")
        for queue in ("reddit_bot.io", "reddit_bot.cpu"):
            node.ctl("purge_queue", queue)


def message(**changes: Any) -> RunMessage:
    values: dict[str, Any] = {
        "execution_id": 1,
        "claim_token": uuid.uuid4().hex,
        "task": "test_record",
        "params": {"path": "/nonexistent"},
        "timeout_seconds": 30.0,
        "job_id": "contract",
        "scheduled_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "queued_at": datetime.now(UTC),
        "kind": "io",
    }
    return RunMessage(**{**values, **changes})


class Consuming:
    """A consumer running in the background with a handler that records deliveries."""

    def __init__(self, consumer: RunBroker, handler: Callable[..., Any] | None = None) -> None:
        self.received: list[RunMessage] = []
        self.stop = asyncio.Event()
        self._handler = handler

        async def record(msg: RunMessage, ack: Ack) -> None:
            self.received.append(msg)
            if self._handler is not None:
                await self._handler(msg, ack)
            else:
                await ack()

        self.task = asyncio.create_task(consumer.consume(record, self.stop, 10))

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def test_a_message_arrives_intact(brokers: Callable[..., Any]) -> None:
    publisher, consumer = await brokers()
    consuming = Consuming(consumer)
    sent = message(params={"path": "/x", "nested": {"a": [1, 2]}}, attempt=2)
    await publisher.publish(sent)
    await wait_for(lambda: consuming.received, timeout=20)
    await consuming.close()
    assert consuming.received == [sent]


async def test_a_failed_delivery_is_not_retried(brokers: Callable[..., Any]) -> None:
    publisher, consumer = await brokers()

    async def fail_first(msg: RunMessage, ack: Ack) -> None:
        await ack()
        if msg.job_id == "failing":
            raise RuntimeError("handler failed")

    consuming = Consuming(consumer, fail_first)
    await publisher.publish(message(job_id="failing"))
    await wait_for(lambda: consuming.received, timeout=20)
    # A later message is delivered after any retry of the first would have been.
    await publisher.publish(message(job_id="marker"))
    await publisher.publish(message(job_id="marker"))
    await wait_for(lambda: len([m for m in consuming.received if m.job_id == "marker"]) == 2)
    await consuming.close()
    assert [m.job_id for m in consuming.received].count("failing") == 1


async def test_each_kind_reaches_only_its_queue(brokers: Callable[..., Any]) -> None:
    if brokers.kind == "memory":  # type: ignore[attr-defined]
        pytest.skip("the in-memory broker has no queues: it runs whatever is published")
    publisher, cpu_only = await brokers(("cpu",))
    consuming = Consuming(cpu_only)
    await publisher.publish(message(kind="io", job_id="io-run"))
    await publisher.publish(message(kind="cpu", job_id="cpu-run"))
    await wait_for(lambda: consuming.received, timeout=20)
    await publisher.publish(message(kind="cpu", job_id="cpu-marker"))
    await wait_for(lambda: len(consuming.received) == 2, timeout=20)
    await consuming.close()
    assert [m.job_id for m in consuming.received] == ["cpu-run", "cpu-marker"]


async def test_a_stopped_consumer_waits_for_running_handlers(brokers: Callable[..., Any]) -> None:
    publisher, consumer = await brokers()
    finished: list[str] = []

    async def slow(msg: RunMessage, ack: Ack) -> None:
        await ack()
        await asyncio.sleep(0.5)
        finished.append(msg.job_id)

    consuming = Consuming(consumer, slow)
    await publisher.publish(message(job_id="slow"))
    await wait_for(lambda: consuming.received, timeout=20)
    await consuming.close()
    assert finished == ["slow"]


async def queued_row(database: Database, token: str, path: Path) -> RunMessage:
    now = datetime.now(UTC)
    async with database.transaction() as db:
        row = TaskExecution(
            job_id="contract",
            job_name="contract",
            task="test_record",
            status=ExecutionStatus.QUEUED,
            trigger=ExecutionTrigger.MANUAL,
            started_at=now,
            claim_token=token,
            created_at=now,
        )
        db.add(row)
        await db.flush()
        return message(execution_id=row.id, claim_token=token, params={"path": str(path)})


async def test_a_message_delivered_twice_runs_once(
    brokers: Callable[..., Any], settings: Settings, database: Database, tmp_path: Path
) -> None:
    publisher, consumer = await brokers()
    worker = PoolWorker(settings, consumer, worker_id="contract-worker")
    out = tmp_path / "once.txt"
    sent = await queued_row(database, uuid.uuid4().hex, out)
    deliveries: list[int] = []

    async def handle(msg: RunMessage, ack: Ack) -> None:
        deliveries.append(msg.execution_id)
        await worker.handle(msg, ack)

    stop = asyncio.Event()
    consuming = asyncio.create_task(consumer.consume(handle, stop, 10))
    await publisher.publish(sent)
    await publisher.publish(sent)
    await wait_for(lambda: len(deliveries) == 2, timeout=20)

    async def final() -> TaskExecution | None:
        async with database.transaction() as db:
            row = await db.get(TaskExecution, sent.execution_id)
        return row if row is not None and row.status == ExecutionStatus.SUCCESS else None

    row = await wait_for(final, timeout=20)
    stop.set()
    await asyncio.wait_for(consuming, 30)
    await worker.database.dispose()
    assert row.runner == "contract-worker"
    assert len(lines(str(out))) == 1


async def test_a_message_with_another_claim_token_runs_nothing(
    brokers: Callable[..., Any], settings: Settings, database: Database, tmp_path: Path
) -> None:
    publisher, consumer = await brokers()
    worker = PoolWorker(settings, consumer, worker_id="contract-worker")
    out = tmp_path / "never.txt"
    sent = await queued_row(database, uuid.uuid4().hex, out)
    acked: list[int] = []

    async def handle(msg: RunMessage, ack: Ack) -> None:
        async def counted_ack() -> None:
            acked.append(msg.execution_id)
            await ack()

        await worker.handle(msg, counted_ack)

    stop = asyncio.Event()
    consuming = asyncio.create_task(consumer.consume(handle, stop, 10))
    await publisher.publish(sent.model_copy(update={"claim_token": uuid.uuid4().hex}))
    await wait_for(lambda: acked, timeout=20)
    stop.set()
    await asyncio.wait_for(consuming, 30)
    await worker.database.dispose()
    async with database.transaction() as db:
        row = await db.get(TaskExecution, sent.execution_id)
    assert row is not None
    assert row.status == ExecutionStatus.QUEUED
    assert row.runner is None
    assert lines(str(out)) == []
