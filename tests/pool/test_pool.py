"""The worker pool (EXECUTOR=broker) with real processes: a private RabbitMQ node, the
test PostgreSQL database, a scheduler leader and worker processes."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app.models.task_execution import ExecutionStatus
from app.tasks.broker import RunMessage
from app.tasks.taskiq_broker import rabbitmq
from tests.conftest import wait_until
from tests.multiprocess.conftest import Node
from tests.pool.conftest import PoolCluster, needs_postgresql
from tests.tasks.sample_tasks import lines

pytestmark = [pytest.mark.multiprocess, needs_postgresql()]

FINAL = {s for s in ExecutionStatus if s not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)}


def create_job(node: Node, job_id: str, params: dict[str, Any], **extra: Any) -> None:
    body = {
        "id": job_id,
        "task": "test_record",
        "params": params,
        "trigger": {"type": "interval", "seconds": 1},
        **extra,
    }
    response = node.request("POST", "/api/v1/tasks", json=body)
    assert response.status_code == 201, response.text


def history(node: Node, job_id: str) -> list[dict[str, Any]]:
    response = node.request("GET", f"/api/v1/tasks/{job_id}/executions", params={"limit": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list)
    return body


def test_runs_spread_over_workers_once_per_slot(pool: PoolCluster, tmp_path: Path) -> None:
    [leader] = pool.start_leaders()
    workers = [pool.start_worker("w1"), pool.start_worker("w2")]
    out = tmp_path / "runs.txt"
    for i in range(4):
        create_job(leader, f"spread_{i}", {"path": str(out), "sleep": 0.3})

    def spread() -> bool:
        done = [r for r in pool.rows() if r.status == ExecutionStatus.SUCCESS]
        return len(done) >= 16 and len({r.runner for r in done}) >= 2

    wait_until(spread, timeout=60)
    shown = {r["runner"] for r in history(leader, "spread_0") if r["status"] == "success"}
    assert shown and shown <= {w.worker_id for w in workers}
    pool.stop_all()
    rows = pool.rows()
    dispatched = [r for r in rows if r.claim_token is not None]
    assert {r.runner for r in dispatched if r.runner} == {w.worker_id for w in workers}
    slots = Counter((r.job_id, r.scheduled_at) for r in rows)
    assert max(slots.values()) == 1
    # Each body ran once per claimed run: one line in the file per claimed row.
    claimed = Counter(r.job_id for r in dispatched if r.runner is not None)
    ran = Counter(line[0] for line in lines(str(out)))
    assert ran == claimed
    # Stopped, the workers left nothing running (a row queued as the leader stopped
    # stays queued for the next leader).
    assert ExecutionStatus.RUNNING not in {r.status for r in rows}


def run_now(node: Node, job_id: str) -> None:
    response = node.request("POST", f"/api/v1/tasks/{job_id}/run")
    assert response.status_code == 202, response.text


def hourly_job(node: Node, job_id: str, params: dict[str, Any], **extra: Any) -> None:
    """A job that fires only when run now (within the test)."""
    create_job(node, job_id, params, trigger={"type": "interval", "seconds": 3600}, **extra)


def one_row(pool: PoolCluster, job_id: str, *statuses: ExecutionStatus) -> Any:
    rows = [r for r in pool.rows(job_id=job_id) if r.status in statuses]
    return rows[0] if rows else None


def test_a_killed_workers_run_ends_interrupted_and_the_schedule_goes_on(
    pool: PoolCluster, tmp_path: Path
) -> None:
    [leader] = pool.start_leaders()
    workers = {w.worker_id: w for w in (pool.start_worker("k1"), pool.start_worker("k2"))}
    hourly_job(leader, "long", {"path": str(tmp_path / "long.txt"), "sleep": 60})
    run_now(leader, "long")
    running = wait_until(lambda: one_row(pool, "long", ExecutionStatus.RUNNING), timeout=30)
    victim = workers[running.runner]
    survivor = next(w for w in workers.values() if w is not victim)
    victim.signal(signal.SIGKILL)
    victim.process.wait(10)
    create_job(leader, "tick", {"path": str(tmp_path / "tick.txt")})

    # Within the lease (3 s here) and a few seconds of reaping.
    ended = wait_until(lambda: one_row(pool, "long", ExecutionStatus.INTERRUPTED), timeout=15)
    assert ended.runner == victim.worker_id
    assert ended.completed_at is not None
    wait_until(
        lambda: [r for r in pool.rows(job_id="tick") if r.status == ExecutionStatus.SUCCESS],
        timeout=20,
    )
    ticks = [r for r in pool.rows(job_id="tick") if r.runner is not None]
    assert {r.runner for r in ticks} == {survivor.worker_id}
    assert len(lines(str(tmp_path / "long.txt"))) == 1


def test_a_run_past_its_timeout_ends_timeout_and_the_worker_goes_on(
    pool: PoolCluster, tmp_path: Path
) -> None:
    [leader] = pool.start_leaders()
    worker = pool.start_worker("t1")
    hourly_job(leader, "slow", {"path": str(tmp_path / "slow.txt"), "sleep": 30}, timeout_seconds=1)
    hourly_job(leader, "quick", {"path": str(tmp_path / "quick.txt")})
    run_now(leader, "slow")
    ended = wait_until(lambda: one_row(pool, "slow", ExecutionStatus.TIMEOUT), timeout=20)
    assert ended.runner == worker.worker_id
    assert "1 s" in (ended.error_message or "")
    run_now(leader, "quick")
    done = wait_until(lambda: one_row(pool, "quick", ExecutionStatus.SUCCESS), timeout=20)
    assert done.runner == worker.worker_id
    assert worker.alive()


def test_the_same_message_delivered_twice_runs_once(pool: PoolCluster, tmp_path: Path) -> None:
    [leader] = pool.start_leaders()
    workers = [pool.start_worker("d1"), pool.start_worker("d2")]
    out = tmp_path / "once.txt"
    hourly_job(leader, "once", {"path": str(out), "sleep": 2})
    run_now(leader, "once")
    row = wait_until(
        lambda: one_row(pool, "once", ExecutionStatus.QUEUED, ExecutionStatus.RUNNING),
        timeout=20,
    )
    message = RunMessage.from_row(row.id, row.message)

    async def publish_twice() -> None:
        broker = rabbitmq(pool.rabbit.url)
        await broker.start()
        try:
            await broker.publish(message)
            await broker.publish(message)
        finally:
            await broker.stop()

    asyncio.run(publish_twice())
    wait_until(lambda: one_row(pool, "once", ExecutionStatus.SUCCESS), timeout=20)
    dropped = "pool_duplicate_deliveries_dropped_total"
    wait_until(lambda: sum(w.metric(dropped) for w in workers) >= 2, timeout=20)
    assert len(pool.rows(job_id="once")) == 1
    assert len(lines(str(out))) == 1
