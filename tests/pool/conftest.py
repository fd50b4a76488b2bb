"""The worker pool for real: a private RabbitMQ node, the test PostgreSQL database, a
scheduler leader (an API process with its candidate) and worker processes, each in a
process group of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
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
from tests.conftest import BACKEND, free_port, wait_until
from tests.multiprocess.conftest import ROOT, Cluster, Node

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"

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


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RabbitNode:
    """A RabbitMQ node of the test session's own: own ports (AMQP, distribution, epmd),
    data and log directories and Erlang cookie. The machine's broker is never used."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.name = f"rbtest{self.amqp_port}@localhost"
        self.process: subprocess.Popen[bytes] | None = None
        (base / "home").mkdir(parents=True, exist_ok=True)
        (base / "plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text("")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.base / "home"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
            "RABBITMQ_PID_FILE": str(self.base / "rabbit.pid"),
        }

    def start(self, timeout: float = 90) -> None:
        log = (self.base / "server.log").open("ab")
        self.process = subprocess.Popen(
            [RABBITMQ_SERVER],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not port_open(self.amqp_port):
            if self.process.poll() is not None:
                raise AssertionError(
                    "rabbitmq-server exited:\n" + (self.base / "server.log").read_text()[-3000:]
                )
            if time.monotonic() > deadline:
                raise AssertionError("the private RabbitMQ node did not start")
            time.sleep(0.2)

    def kill(self) -> None:
        """kill -9 the node (its whole process group)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        wait_until(lambda: not port_open(self.amqp_port), timeout=30)

    def ctl(self, *args: str) -> str:
        completed = subprocess.run(
            [RABBITMQCTL, "-n", self.name, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return completed.stdout

    def queue_length(self, queue: str) -> int:
        for line in self.ctl("list_queues", "-q", "name", "messages").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == queue:
                return int(parts[1])
        return 0

    def stop(self) -> None:
        self.kill()
        # The node's own epmd (a daemon outside its process group).
        subprocess.run(
            ["epmd", "-port", str(self.epmd_port), "-kill"],
            env=self.env(),
            capture_output=True,
            timeout=30,
            check=False,
        )


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    if BACKEND != "postgresql":
        pytest.skip("the worker pool needs PostgreSQL (EXECUTOR=broker refuses SQLite)")
    if not Path(RABBITMQ_SERVER).exists() or shutil.which("epmd") is None:
        pytest.fail("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
    node = RabbitNode(tmp_path_factory.mktemp("rabbitmq"))
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
