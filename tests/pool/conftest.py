"""The worker pool for real: a private RabbitMQ node, the test PostgreSQL database, a
scheduler leader (an API process with its candidate) and worker processes, each in a
process group of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models.task_execution import TaskExecution
from app.models.worker import Worker
from bench import rabbit as rabbit_node
from bench.rabbit import RabbitNode, port_open
from tests.conftest import BACKEND, free_port, wait_until
from tests.multiprocess.conftest import ROOT, Cluster, Node

# Short timings, so a dead worker is found in seconds.
POOL_ENV = {
    "EXECUTOR": "broker",
    "WORKER_HEARTBEAT_SECONDS": "0.5",
    "WORKER_LEASE_SECONDS": "3",
    "WORKER_SHUTDOWN_GRACE_SECONDS": "3",
    "WORKER_CONCURRENCY": "5",
    "BROKER_REPUBLISH_SECONDS": "2",
}


def needs_postgresql() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        BACKEND != "postgresql",
        reason="the worker pool needs PostgreSQL (EXECUTOR=broker refuses SQLite)",
    )


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    if BACKEND != "postgresql":
        pytest.skip("the worker pool needs PostgreSQL (EXECUTOR=broker refuses SQLite)")
    if not Path(rabbit_node.SERVER).exists() or shutil.which("epmd") is None:
        pytest.fail("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
    node = RabbitNode(tmp_path_factory.mktemp("rabbitmq"), prefix="rbtest")
    node.start()
    yield node
    node.stop()


@dataclass
class WorkerProcess:
    worker_id: str
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        os.killpg(self.process.pid, sig)

    def metric(self, name: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0


@dataclass
class PoolCluster:
    cluster: Cluster
    rabbit: RabbitNode
    tmp: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        return self.cluster.env(**{**POOL_ENV, "BROKER_URL": self.rabbit.url, **extra})

    def start_leaders(self, count: int = 1, **extra: str) -> list[Node]:
        """Scheduler candidates (API processes with their candidate thread), once one of
        them leads."""
        nodes = self.cluster.start(count, **{**POOL_ENV, "BROKER_URL": self.rabbit.url, **extra})
        self.cluster.leader()
        return nodes

    def start_worker(self, worker_id: str, *, wait: bool = True, **extra: str) -> WorkerProcess:
        log = self.tmp / f"worker-{worker_id}.log"
        metrics_port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.pool.worker_process", "--id", worker_id],
            cwd=ROOT,
            env=self.env(WORKER_METRICS_PORT=str(metrics_port), **extra),
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = WorkerProcess(worker_id, process, log, metrics_port)
        self.workers.append(worker)
        if wait:
            self._wait_serving(worker)
        return worker

    def start_workers(self, *worker_ids: str, **extra: str) -> list[WorkerProcess]:
        """Several workers started side by side, once all of them serve."""
        workers = [self.start_worker(worker_id, wait=False, **extra) for worker_id in worker_ids]
        for worker in workers:
            self._wait_serving(worker)
        return workers

    @staticmethod
    def _wait_serving(worker: WorkerProcess) -> None:
        wait_until(lambda: "serving" in worker.log.read_text(), timeout=60, process=worker.process)

    def rows(self, **where: Any) -> list[TaskExecution]:
        engine = create_engine(self.cluster.settings.sync_database_url)
        query = select(TaskExecution).order_by(TaskExecution.id)
        for column, value in where.items():
            query = query.where(getattr(TaskExecution, column) == value)
        with Session(engine) as db:
            rows = list(db.scalars(query))
        engine.dispose()
        return rows

    def workers_rows(self) -> list[Worker]:
        engine = create_engine(self.cluster.settings.sync_database_url)
        with Session(engine) as db:
            rows = list(db.scalars(select(Worker).order_by(Worker.id)))
        engine.dispose()
        return rows

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.alive():
                worker.signal(signal.SIGTERM)
        self.cluster.stop_all()
        for worker in self.workers:
            try:
                worker.process.wait(30)
            except subprocess.TimeoutExpired:
                worker.signal(signal.SIGKILL)
                worker.process.wait(10)


@pytest.fixture
def pool(
    rabbit: RabbitNode, settings_factory: Callable[..., Settings], tmp_path: Path
) -> Iterator[PoolCluster]:
    if not port_open(rabbit.amqp_port):
        rabbit.start()
    cluster = Cluster(settings_factory(SCHEDULER_FAILOVER_SECONDS=3.0), tmp_path)
    pool = PoolCluster(cluster, rabbit, tmp_path)
    yield pool
    pool.stop_all()
    # Messages a test left behind must not reach the next test's workers.
    if port_open(rabbit.amqp_port):
        for queue in ("reddit_bot.io", "reddit_bot.cpu"):
            with contextlib.suppress(subprocess.CalledProcessError):
                rabbit.ctl("purge_queue", queue)
