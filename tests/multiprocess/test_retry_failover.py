"""A retry attempt waiting for its backoff when its leader is killed: the next leader
starts it, once."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from app.models.task_execution import ExecutionStatus
from tests.conftest import wait_until
from tests.multiprocess.conftest import Cluster
from tests.multiprocess.test_cluster import all_executions
from tests.tasks.http_target import HttpTarget

pytestmark = pytest.mark.multiprocess


@pytest.fixture
def target() -> Iterator[HttpTarget]:
    server = HttpTarget().start()
    yield server
    server.stop()


def test_a_waiting_attempt_runs_once_under_the_next_leader(
    cluster: Cluster, target: HttpTarget
) -> None:
    cluster.start(2, HTTP_TASK_ALLOWED_HOSTS=target.host)
    leader = cluster.leader()
    start = datetime.now(UTC) + timedelta(seconds=1)
    response = leader.request(
        "POST",
        "/api/v1/tasks",
        json={
            "id": "retried",
            "task": "http_request",
            "params": {"url": f"{target.url}/fail-first/1"},
            "trigger": {"type": "interval", "hours": 1, "start_date": start.isoformat()},
            "retry": {"max_attempts": 3, "backoff_seconds": 8, "jitter": False},
        },
    )
    assert response.status_code == 201, response.text

    def rows() -> list[tuple[ExecutionStatus, int]]:
        return [(r.status, r.attempt) for r in all_executions(cluster) if r.job_id == "retried"]

    wait_until(lambda: (ExecutionStatus.WAITING, 2) in rows(), timeout=30)
    leader.process.send_signal(signal.SIGKILL)
    leader.process.wait(10)
    new_leader = cluster.leader(timeout=30)
    assert new_leader.pid != leader.pid
    wait_until(lambda: (ExecutionStatus.SUCCESS, 2) in rows(), timeout=60)
    assert rows() == [(ExecutionStatus.FAILED, 1), (ExecutionStatus.SUCCESS, 2)]
    [second] = [r for r in all_executions(cluster) if r.job_id == "retried" and r.attempt == 2]
    assert second.runner is not None
    assert f":{new_leader.pid}:" in second.runner
    assert target.count("/fail-first/1") == 2
