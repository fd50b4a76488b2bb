"""A RabbitMQ node of its own, from Debian's `rabbitmq-server`: its own ports (AMQP,
distribution, epmd), data and log directories and Erlang cookie, so the machine's
broker is never used, and a node can be killed and started again. The benchmarks'
worker-pool runs and the worker-pool tests (`tests/pool`) both start one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench.procs import free_port

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RabbitNode:
    def __init__(self, base: Path | None = None, prefix: str = "rbbench") -> None:
        """`base` holds the node's files (a new temporary directory by default);
        `prefix` starts its node name, which tells whose a stray node is."""
        if not Path(SERVER).exists():
            raise RuntimeError("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        self.base = base or Path(tempfile.mkdtemp(prefix="reddit-bot-rabbitmq-"))
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.name = f"{prefix}{self.amqp_port}@localhost"
        self.process: subprocess.Popen[bytes] | None = None
        (self.base / "home").mkdir(parents=True, exist_ok=True)
        (self.base / "plugins").write_text("[].\n")
        (self.base / "rabbitmq.conf").write_text("")

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
        """Start the node (again, after `kill`: same ports and data) and wait for AMQP."""
        log = self.base / "server.log"
        self.process = subprocess.Popen(
            [SERVER],
            env=self.env(),
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not port_open(self.amqp_port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the RabbitMQ node {self.name} did not start:\n"
                    + log.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.2)

    def kill(self, timeout: float = 30) -> None:
        """kill -9 the node (its whole process group) and wait until its port closes."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)
        deadline = time.monotonic() + timeout
        while port_open(self.amqp_port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the RabbitMQ node {self.name} still listens after kill")
            time.sleep(0.1)

    def ctl(self, *args: str) -> str:
        completed = subprocess.run(
            [CTL, "-n", self.name, *args],
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
