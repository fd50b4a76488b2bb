"""A RabbitMQ node of the benchmark run's own, from Debian's `rabbitmq-server`: its own
ports (AMQP, distribution, epmd), data directory and Erlang cookie. The machine's
broker is never used."""

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


def _open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RabbitNode:
    def __init__(self) -> None:
        if not Path(SERVER).exists():
            raise RuntimeError("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        self.base = Path(tempfile.mkdtemp(prefix="reddit-bot-bench-rabbitmq-"))
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        (self.base / "home").mkdir()
        (self.base / "plugins").write_text("[].\n")
        (self.base / "rabbitmq.conf").write_text("")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.base / "home"),
            "RABBITMQ_NODENAME": f"rbbench{self.amqp_port}@localhost",
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
        self.process = subprocess.Popen(
            [SERVER],
            env=self._env(),
            stdout=(self.base / "server.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _open(self.amqp_port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the benchmark's RabbitMQ node did not start:\n"
                    + (self.base / "server.log").read_text(errors="replace")[-2000:]
                )
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        subprocess.run(
            ["epmd", "-port", str(self.epmd_port), "-kill"],
            env=self._env(),
            capture_output=True,
            timeout=30,
            check=False,
        )
