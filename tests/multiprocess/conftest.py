"""Several real server processes on the test database."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.db.migrate import upgrade
from tests.conftest import PASSWORD, free_port
from tests.tasks import sample_tasks  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.multiprocess


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, headers=self.headers, timeout=30, **kwargs)

    def leader_pid(self) -> int | None:
        """The pid of the leader this node sees as alive, if any."""
        try:
            body = httpx.get(self.url + "/health", timeout=5).json()
        except httpx.HTTPError:
            return None
        leader = body.get("scheduler", {}).get("leader", {})
        if not leader.get("alive") or not leader.get("holder"):
            return None
        return int(leader["holder"].split(":")[1])


class Cluster:
    def __init__(self, settings: Settings, tmp: Path) -> None:
        self.settings = settings
        self.tmp = tmp
        self.nodes: list[Node] = []

    def env(self, **extra: str) -> dict[str, str]:
        secret = {"SECRET_KEY": self.settings.SECRET_KEY} if self.settings.SECRET_KEY else {}
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": self.settings.DATABASE_URL,
            **secret,
            "FIRST_SUPERUSER_EMAIL": "admin@example.com",
            "FIRST_SUPERUSER_PASSWORD": PASSWORD,
            "SCHEDULER_FAILOVER_SECONDS": str(self.settings.SCHEDULER_FAILOVER_SECONDS),
            "SCHEDULER_POLL_SECONDS": "0.1",
            "SCHEDULER_SHUTDOWN_GRACE_SECONDS": "1",
            **extra,
        }

    def start(self, count: int, **extra: str) -> list[Node]:
        started = []
        for _ in range(count):
            port = free_port()
            log = self.tmp / f"node-{port}.log"
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.multiprocess.serve_process", str(port)],
                cwd=ROOT,
                env=self.env(**extra),
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            node = Node(port, process, log)
            self.nodes.append(node)
            started.append(node)
        for node in started:
            self._wait_up(node)
            token = httpx.post(
                node.url + "/api/v1/auth/login",
                data={"username": "admin@example.com", "password": PASSWORD},
                timeout=30,
            ).json()["access_token"]
            node.headers = {"Authorization": f"Bearer {token}"}
        return started

    def _wait_up(self, node: Node, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not node.alive():
                raise AssertionError(f"node exited:\n{node.log.read_text()[-3000:]}")
            try:
                if httpx.get(node.url + "/health", timeout=2).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"node on {node.port} did not come up")

    def leader(self, timeout: float = 30) -> Node:
        """The node that leads, once every live node agrees."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [n for n in self.nodes if n.alive()]
            seen = {n.leader_pid() for n in live}
            if len(seen) == 1 and None not in seen:
                pid = seen.pop()
                for n in live:
                    if n.pid == pid:
                        return n
            time.sleep(0.1)
        raise AssertionError("no single leader")

    def stop_all(self) -> None:
        for node in self.nodes:
            if node.alive():
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            try:
                node.process.wait(30)
            except subprocess.TimeoutExpired:
                node.process.kill()


@pytest.fixture
def cluster(settings_factory: Callable[..., Settings], tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(settings_factory(SCHEDULER_FAILOVER_SECONDS=3.0), tmp_path)
    yield c
    c.stop_all()


def postgres_bin() -> Path | None:
    """The directory of Debian's PostgreSQL server programs (the newest), if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A PostgreSQL server of this test alone: its own data directory, port and socket
    directory, trust auth. A test that stops or restarts a server does it to this one,
    never to the machine's shared server."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        # initdb refuses to run as root, so as root the server runs as `postgres`, in a
        # directory of its own outside pytest's tmp_path (which only root may enter).
        self.base = Path(tempfile.mkdtemp(prefix="rb-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [*self.as_user, str(self.bin_dir / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.log.read_text()[-3000:] if self.log.exists() else ""
            raise AssertionError(f"{program} {args[0]} failed:\n{result.stderr}\n{log}")

    def _pg_ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, *args
        )

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self._pg_ctl("start")
        upgrade(Settings(_env_file=None, DATABASE_URL=self.url).sync_database_url)

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def remove(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("needs PostgreSQL's server programs (initdb, pg_ctl)")
    server = PrivatePostgres(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def private_cluster(
    settings_factory: Callable[..., Settings], private_postgres: PrivatePostgres, tmp_path: Path
) -> Iterator[Cluster]:
    """Server processes on a private PostgreSQL server (see `PrivatePostgres`)."""
    c = Cluster(
        settings_factory(DATABASE_URL=private_postgres.url, SCHEDULER_FAILOVER_SECONDS=3.0),
        tmp_path,
    )
    yield c
    c.stop_all()
