"""The worker pool (EXECUTOR=broker) with real processes: a private RabbitMQ node, the
test PostgreSQL database, a scheduler leader and worker processes."""

from __future__ import annotations

import asyncio
import itertools
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
    workers = pool.start_workers("w1", "w2")
    out = tmp_path / "runs.txt"
    for i in range(4):
        create_job(leader, f"spread_{i}", {"path": str(out), "sleep": 0.3})

    def spread() -> bool:
        done = [r for r in pool.rows() if r.status == ExecutionStatus.SUCCESS]
        return len(done) >= 16 and len({r.runner for r in done}) >= 2

    wait_until(spread, timeout=60)
    shown = {r["runner"] for r in history(leader, "spread_0") if r["status"] == "success"}
    assert shown
    assert shown <= {w.worker_id for w in workers}
    health = leader.request("GET", "/health").json()
    assert health["executor"] == "broker"
    assert {w["id"]: w["alive"] for w in health["workers"]} == {"w1": True, "w2": True}
    stats = leader.request("GET", "/api/v1/tasks/system/stats").json()
    assert {w["id"] for w in stats["workers"]} == {"w1", "w2"}
    assert all(w["host"] and w["last_heartbeat"] for w in stats["workers"])
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


def run_now_once_free(node: Node, job_id: str, timeout: float = 15) -> None:
    """Run now as soon as the leader has seen the last run end: a worker's outcome
    reaches the leader by notification or by its next poll (`Pool.tend_seconds`), so
    for a moment after the row is final the instance may still count as running."""

    def started() -> bool:
        response = node.request("POST", f"/api/v1/tasks/{job_id}/run")
        assert response.status_code in (202, 409), response.text
        return response.status_code == 202

    wait_until(started, timeout=timeout, interval=0.2)


def hourly_job(node: Node, job_id: str, params: dict[str, Any], **extra: Any) -> None:
    """A job that fires only when run now (within the test)."""
    create_job(node, job_id, params, trigger={"type": "interval", "seconds": 3600}, **extra)


def metric(node: Node, series: str) -> float:
    for line in node.request("GET", "/metrics").text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[1])
    return 0.0


def claimed(rows: list[Any]) -> list[Any]:
    """The rows a worker claimed (skipped and coalesced fires are recorded by the leader,
    with its own id as runner)."""
    return [r for r in rows if r.claim_token is not None and r.runner is not None]


def one_row(pool: PoolCluster, job_id: str, *statuses: ExecutionStatus) -> Any:
    rows = [r for r in pool.rows(job_id=job_id) if r.status in statuses]
    return rows[0] if rows else None


def test_a_killed_workers_run_ends_interrupted_and_the_schedule_goes_on(
    pool: PoolCluster, tmp_path: Path
) -> None:
    [leader] = pool.start_leaders()
    workers = {w.worker_id: w for w in pool.start_workers("k1", "k2")}
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
    alive = {w["id"]: w["alive"] for w in leader.request("GET", "/health").json()["workers"]}
    assert alive == {victim.worker_id: False, survivor.worker_id: True}
    wait_until(
        lambda: [r for r in pool.rows(job_id="tick") if r.status == ExecutionStatus.SUCCESS],
        timeout=20,
    )
    ticks = claimed(pool.rows(job_id="tick"))
    assert {r.runner for r in ticks} == {survivor.worker_id}
    assert len(lines(str(tmp_path / "long.txt"))) == 1
    assert metric(leader, 'pool_reaped_runs_total{reason="interrupted"}') == 1
    wait_until(lambda: metric(leader, "pool_workers_alive") == 1, timeout=10)


def test_a_run_that_ignores_its_timeout_is_ended_by_the_leader(
    pool: PoolCluster, tmp_path: Path
) -> None:
    [leader] = pool.start_leaders()
    worker = pool.start_worker("st1")
    response = leader.request(
        "POST",
        "/api/v1/tasks",
        json={
            "id": "stubborn",
            "task": "test_stubborn",
            "params": {"seconds": 8},
            "trigger": {"type": "interval", "seconds": 3600},
            "timeout_seconds": 1,
        },
    )
    assert response.status_code == 201, response.text
    hourly_job(leader, "after", {"path": str(tmp_path / "after.txt")})
    run_now(leader, "stubborn")
    ended = wait_until(lambda: one_row(pool, "stubborn", ExecutionStatus.TIMEOUT), timeout=20)
    assert "did not end it" in (ended.error_message or "")
    assert metric(leader, 'pool_reaped_runs_total{reason="timeout"}') == 1
    # The body's own outcome, once it returns, is fenced off: the row stays `timeout`.
    wait_until(lambda: "outcome success not written" in worker.log.read_text(), timeout=20)
    [row] = pool.rows(job_id="stubborn")
    assert row.status == ExecutionStatus.TIMEOUT
    run_now(leader, "after")
    done = wait_until(lambda: one_row(pool, "after", ExecutionStatus.SUCCESS), timeout=20)
    assert done.runner == worker.worker_id


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
    workers = pool.start_workers("d1", "d2")
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


def test_broker_killed_and_restarted_everyone_recovers(pool: PoolCluster, tmp_path: Path) -> None:
    [leader] = pool.start_leaders()
    pool.start_workers("b1", "b2")
    out = tmp_path / "ticks.txt"
    create_job(leader, "through", {"path": str(out)}, misfire_grace_time=30)
    wait_until(lambda: one_row(pool, "through", ExecutionStatus.SUCCESS), timeout=30)
    pool.rabbit.kill()
    wait_until(lambda: one_row(pool, "through", ExecutionStatus.QUEUED), timeout=20)
    pool.rabbit.start()
    restarted = max(r.id for r in pool.rows())
    wait_until(
        lambda: len([r for r in claimed(pool.rows(job_id="through")) if r.id > restarted]) >= 3,
        timeout=60,
    )
    # Every row queued while the broker was down ends: run once, or missed.
    wait_until(
        lambda: all(
            r.status not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)
            for r in pool.rows(job_id="through")
            if r.id <= restarted
        ),
        timeout=45,
    )
    pool.stop_all()
    rows = pool.rows(job_id="through")
    assert len(lines(str(out))) == len(claimed(rows))
    # (Fires while one was queued were skipped: one instance at a time.)
    assert {r.status for r in rows if r.id <= restarted and r.claim_token} <= {
        ExecutionStatus.SUCCESS,
        ExecutionStatus.MISSED,
    }


def test_a_purged_queue_is_published_again(pool: PoolCluster, tmp_path: Path) -> None:
    [leader] = pool.start_leaders()
    hourly_job(leader, "purged", {"path": str(tmp_path / "purged.txt")})
    # No worker yet: the message waits in the queue, and is purged there.
    run_now(leader, "purged")
    wait_until(lambda: one_row(pool, "purged", ExecutionStatus.QUEUED), timeout=20)
    wait_until(lambda: pool.rabbit.queue_length("reddit_bot.io") >= 1, timeout=20)
    pool.rabbit.ctl("purge_queue", "reddit_bot.io")
    worker = pool.start_worker("p1")
    done = wait_until(lambda: one_row(pool, "purged", ExecutionStatus.SUCCESS), timeout=30)
    assert done.runner == worker.worker_id
    # With no worker, a second run waits queued: not finished, so not in the success rate.
    worker.signal(signal.SIGTERM)
    worker.process.wait(30)
    run_now_once_free(leader, "purged")
    wait_until(lambda: one_row(pool, "purged", ExecutionStatus.QUEUED), timeout=20)
    stats = leader.request("GET", "/api/v1/tasks/purged/stats").json()
    assert stats["total_runs"] == 2
    assert stats["queued_runs"] == 1
    assert stats["success_rate"] == 100.0


def test_leader_killed_while_runs_are_on_workers(pool: PoolCluster, tmp_path: Path) -> None:
    first, second = pool.start_leaders(2)
    pool.start_workers("l1", "l2")
    leader = pool.cluster.leader()
    out = tmp_path / "long.txt"
    # Fires every second; each run takes 4 s, one at a time.
    create_job(leader, "steady", {"path": str(out), "sleep": 4})
    running = wait_until(lambda: one_row(pool, "steady", ExecutionStatus.RUNNING), timeout=30)
    leader.process.kill()
    leader.process.wait(10)
    done = wait_until(
        lambda: [
            r
            for r in pool.rows(job_id="steady")
            if r.id == running.id and r.status == ExecutionStatus.SUCCESS
        ],
        timeout=30,
    )
    assert done
    survivor = second if leader is first else first
    assert pool.cluster.leader().pid == survivor.pid
    wait_until(
        lambda: (
            len([r for r in pool.rows(job_id="steady") if r.status == ExecutionStatus.SUCCESS]) >= 2
        ),
        timeout=40,
    )
    pool.stop_all()
    runs = sorted(
        (r for r in claimed(pool.rows(job_id="steady")) if r.completed_at),
        key=lambda r: r.started_at,
    )
    # Never two instances at once: each run started after the one before it ended.
    for before, after in itertools.pairwise(runs):
        assert before.completed_at is not None
        assert after.started_at >= before.completed_at
    assert len(lines(str(out))) == len(claimed(pool.rows(job_id="steady")))


def test_sigterm_drains_then_interrupts(pool: PoolCluster, tmp_path: Path) -> None:
    [leader] = pool.start_leaders()
    worker = pool.start_worker("s1")
    hourly_job(leader, "short", {"path": str(tmp_path / "short.txt"), "sleep": 1})
    hourly_job(leader, "endless", {"path": str(tmp_path / "endless.txt"), "sleep": 120})
    run_now(leader, "short")
    run_now(leader, "endless")
    wait_until(
        lambda: (
            one_row(pool, "short", ExecutionStatus.RUNNING)
            and one_row(pool, "endless", ExecutionStatus.RUNNING)
        ),
        timeout=20,
    )
    worker.signal(signal.SIGTERM)
    assert worker.process.wait(30) == 0
    assert one_row(pool, "short", ExecutionStatus.SUCCESS)
    interrupted = one_row(pool, "endless", ExecutionStatus.INTERRUPTED)
    assert interrupted is not None
    assert "did not finish within 3 s" in interrupted.error_message


def test_broker_unreachable_at_start(pool: PoolCluster, tmp_path: Path) -> None:
    pool.rabbit.kill()
    [leader] = pool.start_leaders()
    worker = pool.start_worker("u1", wait=False)
    wait_until(lambda: "broker unreachable" in worker.log.read_text(), timeout=30)
    wait_until(lambda: "broker unreachable" in leader.log.read_text(), timeout=30)
    assert worker.alive()
    assert leader.request("GET", "/health").status_code == 200
    hourly_job(leader, "later", {"path": str(tmp_path / "later.txt")})
    run_now(leader, "later")
    pool.rabbit.start()
    done = wait_until(lambda: one_row(pool, "later", ExecutionStatus.SUCCESS), timeout=45)
    assert done.runner == worker.worker_id


def test_a_second_worker_with_an_id_in_use_is_refused(pool: PoolCluster) -> None:
    first = pool.start_worker("same")
    second = pool.start_worker("same", wait=False)
    assert second.process.wait(60) == 1
    assert "worker id 'same' is in use" in second.log.read_text()
    assert first.alive()
    [row] = pool.workers_rows()
    assert row.stopped_at is None
    assert row.pid == first.pid


def test_the_leaders_running_gauge_counts_runs_on_workers(
    pool: PoolCluster, tmp_path: Path
) -> None:
    """`scheduler_jobs_running` on the leader counts a run while a worker runs it, and
    not once it has ended."""
    [leader] = pool.start_leaders()
    pool.start_worker("g1")
    hourly_job(leader, "gauged", {"path": str(tmp_path / "gauged.txt"), "sleep": 6})
    series = 'scheduler_jobs_running{task="test_record"}'
    assert metric(leader, series) == 0
    run_now(leader, "gauged")
    wait_until(
        lambda: [r for r in pool.rows(job_id="gauged") if r.status is ExecutionStatus.RUNNING],
        timeout=30,
    )
    wait_until(lambda: metric(leader, series) == 1, timeout=10)
    wait_until(
        lambda: [r for r in pool.rows(job_id="gauged") if r.status is ExecutionStatus.SUCCESS],
        timeout=30,
    )
    wait_until(lambda: metric(leader, series) == 0, timeout=10)
