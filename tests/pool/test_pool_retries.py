"""Retries with the worker pool: a due attempt is queued and run by a worker like any
run, and an attempt waiting for its backoff survives its leader being killed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.models.task_execution import ExecutionStatus, TaskExecution
from tests.conftest import wait_until
from tests.multiprocess.conftest import Node
from tests.pool.conftest import PoolCluster, needs_postgresql
from tests.tasks.http_target import HttpTarget

pytestmark = [pytest.mark.multiprocess, needs_postgresql()]


@pytest.fixture
def target() -> Iterator[HttpTarget]:
    server = HttpTarget().start()
    yield server
    server.stop()


def create_http_job(node: Node, job_id: str, url: str, retry: dict[str, Any]) -> None:
    start = datetime.now(UTC) + timedelta(seconds=1)
    body = {
        "id": job_id,
        "task": "http_request",
        "params": {"url": url},
        "trigger": {"type": "interval", "hours": 1, "start_date": start.isoformat()},
        "retry": retry,
    }
    response = node.request("POST", "/api/v1/tasks", json=body)
    assert response.status_code == 201, response.text


def attempts(pool: PoolCluster, job_id: str, count: int) -> list[TaskExecution]:
    def ended() -> list[TaskExecution] | None:
        rows = pool.rows(job_id=job_id)
        done = [r for r in rows if r.completed_at is not None]
        return rows if len(done) >= count else None

    rows: list[TaskExecution] = wait_until(ended, timeout=60)
    return rows


def test_a_failed_attempt_is_retried_on_a_worker(pool: PoolCluster, target: HttpTarget) -> None:
    [leader] = pool.start_leaders(HTTP_TASK_ALLOWED_HOSTS=target.host)
    pool.start_worker("r1", HTTP_TASK_ALLOWED_HOSTS=target.host)
    create_http_job(
        leader,
        "pooled_flaky",
        f"{target.url}/fail-first/2",
        {"max_attempts": 4, "backoff_seconds": 0, "jitter": False},
    )
    rows = attempts(pool, "pooled_flaky", 3)
    assert [(r.status, r.attempt) for r in rows] == [
        (ExecutionStatus.FAILED, 1),
        (ExecutionStatus.FAILED, 2),
        (ExecutionStatus.SUCCESS, 3),
    ]
    assert {r.runner for r in rows} == {"r1"}
    assert len({r.scheduled_at for r in rows}) == 1
    assert target.count("/fail-first/2") == 3


def test_an_attempt_waiting_when_its_leader_is_killed_runs_under_the_next(
    pool: PoolCluster, target: HttpTarget
) -> None:
    first, second = pool.start_leaders(2, HTTP_TASK_ALLOWED_HOSTS=target.host)
    pool.start_worker("r2", HTTP_TASK_ALLOWED_HOSTS=target.host)
    leader = pool.cluster.leader()
    create_http_job(
        leader,
        "failover_flaky",
        f"{target.url}/fail-first/1",
        {"max_attempts": 2, "backoff_seconds": 8, "jitter": False},
    )
    wait_until(
        lambda: [r for r in pool.rows(job_id="failover_flaky") if r.status == "waiting"],
        timeout=30,
    )
    leader.process.kill()
    leader.process.wait(10)
    rows = attempts(pool, "failover_flaky", 2)
    assert [(r.status, r.attempt) for r in rows] == [
        (ExecutionStatus.FAILED, 1),
        (ExecutionStatus.SUCCESS, 2),
    ]
    survivor = second if leader is first else first
    assert pool.cluster.leader().pid == survivor.pid
    # The slot was tried twice, not once more by each leader.
    assert target.count("/fail-first/1") == 2
