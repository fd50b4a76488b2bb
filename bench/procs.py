"""Contender processes: start one on a database, wait until its scheduler runs, talk to
it over HTTP, read its memory from /proc, stop it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.core import security
from bench.db import SECRET_KEY, SUPERUSER_EMAIL, SUPERUSER_ID, SUPERUSER_PASSWORD, settings_for

ROOT = Path(__file__).resolve().parents[1]
# Compiled modules outside the tree, so every contender process after the first starts
# from bytecode as an installed deployment would (not from source each time).
PYCACHE = Path(tempfile.gettempdir()) / "reddit-bot-bench-pycache"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def access_token(url: str) -> str:
    settings = settings_for(url).model_copy(update={"ACCESS_TOKEN_EXPIRE_MINUTES": 600})
    return security.create_access_token(settings, SUPERUSER_ID)


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@dataclass
class Proc:
    kind: str
    database_url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    events_path: Path
    spawned_at: float
    token: str
    client: httpx.Client = field(init=False)
    errors: int = 0

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=httpx.Timeout(600.0, connect=10.0),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    # --- memory ------------------------------------------------------------------

    def rss_mb(self) -> float:
        return round(_status_kib(self.pid, "VmRSS") / 1024, 1)

    def peak_mb(self) -> float:
        return round(_status_kib(self.pid, "VmHWM") / 1024, 1)

    def reset_peak(self) -> None:
        """Reset the kernel's peak RSS (VmHWM) to the current RSS."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    # --- events and HTTP ---------------------------------------------------------

    def events(self, name: str) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        lines = self.events_path.read_text(encoding="utf-8").splitlines()
        return [e for e in map(json.loads, lines) if e.get("event") == name]

    def wait_ready(self, timeout: float) -> float:
        """Wait until the API answers and sees a live scheduler; seconds since spawn."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.kind} exited:\n{self.tail()}")
            try:
                body = httpx.get(self.url + "/health", timeout=5).json()
                if body.get("scheduler", {}).get("leader", {}).get("alive"):
                    return time.time() - self.spawned_at
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} not ready within {timeout:.0f} s:\n{self.tail()}")

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params or None)

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.client.post(path, json=body)

    def timed_get(self, path: str, attempts: int = 3) -> float:
        """Seconds for one GET answered 200. A failed attempt (the database dropped its
        connections, say) is counted in `errors` and tried again."""
        for attempt in range(attempts):
            started = time.perf_counter()
            try:
                response = self.client.get(path)
            except httpx.HTTPError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                elapsed = time.perf_counter() - started
                if response.status_code == 200:
                    return elapsed
                failure = f"{response.status_code}: {response.text[:300]}"
            self.errors += 1
            if attempt + 1 < attempts:
                time.sleep(0.5)
        raise RuntimeError(f"GET {path} failed {attempts} times, last: {failure}")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 60) -> None:
        self.client.close()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        **env,
        "PYTHONPYCACHEPREFIX": str(PYCACHE),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def spawn(kind: str, database_url: str, workdir: Path, **env: str) -> Proc:
    """Start a contender process (`bench.entry`) on `database_url`."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = f"{kind}-{port}"
    log = workdir / f"{stamp}.log"
    events = workdir / f"{stamp}.events"
    environment = child_env(
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        FIRST_SUPERUSER_EMAIL=SUPERUSER_EMAIL,
        FIRST_SUPERUSER_PASSWORD=SUPERUSER_PASSWORD,
        BENCH_EVENTS=str(events),
        **env,
    )
    spawned_at = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.entry", kind, str(port)],
        cwd=ROOT,
        env=environment,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Proc(
        kind=kind,
        database_url=database_url,
        port=port,
        process=process,
        log=log,
        events_path=events,
        spawned_at=spawned_at,
        token=access_token(database_url),
    )
