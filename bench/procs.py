"""Contender processes: start one on a database (or, in the split layout, an API process
and a scheduler process), wait until its scheduler runs, talk to it over HTTP, read its
memory from /proc, stop it."""

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
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import make_url

from app.core import security
from bench.db import SECRET_KEY, SUPERUSER_EMAIL, SUPERUSER_ID, SUPERUSER_PASSWORD

ROOT = Path(__file__).resolve().parents[1]
# Compiled modules outside the tree, so every contender process after the first starts
# from bytecode as an installed deployment would (not from source each time).
PYCACHE = Path(tempfile.gettempdir()) / "reddit-bot-bench-pycache"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def access_token(url: str) -> str:
    tokens = security.AccessTokens(key=SECRET_KEY, lifetime=timedelta(minutes=600))
    # The bench superuser's sessions are never ended: its token version stays 0.
    claims = security.AccessClaims(user_id=SUPERUSER_ID, version=0, family_id="bench")
    return tokens.issue(claims)


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@dataclass
class Child:
    """One OS process of a contender: its log, its events file (`BENCH_EVENTS`), and its
    memory from /proc."""

    role: str  # "serve" (API and scheduler), "api" or "scheduler"
    kind: str  # the `bench.entry` kind it runs
    process: subprocess.Popen[bytes]
    log: Path
    events_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_mb(self) -> float:
        return round(_status_kib(self.pid, "VmRSS") / 1024, 1)

    def peak_mb(self) -> float:
        return round(_status_kib(self.pid, "VmHWM") / 1024, 1)

    def reset_peak(self) -> None:
        """Reset the kernel's peak RSS (VmHWM) to the current RSS."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def events(self, name: str) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        lines = self.events_path.read_text(encoding="utf-8").splitlines()
        return [e for e in map(json.loads, lines) if e.get("event") == name]

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def state(self) -> str:
        code = self.process.poll()
        return "running" if code is None else f"exited with code {code}"


@dataclass
class Proc:
    """A running contender: one process (`serve`: API and scheduler), or in the split
    layout an API process (`SCHEDULER_ENABLED=false`) and a scheduler process. HTTP goes
    to the API process; a benchmark of the scheduler's own memory reads `leader`."""

    kind: str
    database_url: str
    port: int
    api: Child
    spawned_at: float
    token: str
    scheduler: Child | None = None  # the separate scheduler process (split layout)
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
    def database(self) -> str:
        """`postgresql` or `sqlite`."""
        return make_url(self.database_url).get_backend_name()

    @property
    def layout(self) -> str:
        return "split" if self.scheduler is not None else "single"

    @property
    def children(self) -> list[Child]:
        return [self.api] if self.scheduler is None else [self.api, self.scheduler]

    @property
    def leader(self) -> Child:
        """The process that runs the scheduler: the scheduler process when split."""
        return self.scheduler if self.scheduler is not None else self.api

    @property
    def pid(self) -> int:
        return self.api.pid

    def alive(self) -> bool:
        """Whether every process of the contender still runs."""
        return all(child.alive() for child in self.children)

    def check(self) -> None:
        """Raise if any process of the contender has exited (a figure measured meanwhile
        would not be the contender's)."""
        dead = [c for c in self.children if not c.alive()]
        if dead:
            names = ", ".join(f"{c.kind} ({c.state()})" for c in dead)
            raise RuntimeError(f"{self.kind} process exited: {names}\n{self.tail()}")

    # --- memory of the API process (the one process when not split) ----------------

    def rss_mb(self) -> float:
        return self.api.rss_mb()

    def peak_mb(self) -> float:
        return self.api.peak_mb()

    def reset_peak(self) -> None:
        self.api.reset_peak()

    # --- events and HTTP ---------------------------------------------------------

    def events(self, name: str) -> list[dict[str, Any]]:
        """The events of every process of the contender, in time order."""
        found = [e for child in self.children for e in child.events(name)]
        return sorted(found, key=lambda e: float(e.get("t", 0.0)))

    def wait_ready(self, timeout: float) -> float:
        """Wait until the API answers and sees a live scheduler; seconds since spawn."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.kind} exited:\n{self.tail()}")
            try:
                # The contender's own client: a new one per poll (`httpx.get`) built an
                # SSL context each time, 37 ms of CPU here, taken from the start it waits on.
                body = self.client.get("/health", timeout=5).json()
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
        if self.scheduler is None:
            return self.api.tail(chars)
        return "\n".join(
            f"--- {c.role} process {c.log.name} ({c.state()}) ---\n{c.tail(chars)}"
            for c in self.children
        )

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM to every process at once, then wait (SIGKILL after `timeout`)."""
        self.client.close()
        _stop(self.children, timeout)


def _stop(children: list[Child], timeout: float) -> None:
    for child in children:
        if child.alive():
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait(10)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        **env,
        "PYTHONPYCACHEPREFIX": str(PYCACHE),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def _start(
    kind: str, role: str, port: int, database_url: str, workdir: Path, env: dict[str, str]
) -> Child:
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
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.entry", kind, str(port)],
        cwd=ROOT,
        env=environment,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Child(role=role, kind=kind, process=process, log=log, events_path=events)


def spawn(
    kind: str,
    database_url: str,
    workdir: Path,
    *,
    scheduler_kind: str | None = None,
    **env: str,
) -> Proc:
    """Start a contender (`bench.entry`) on `database_url`: one process, or with
    `scheduler_kind` the split layout, an API process of `kind` started with
    `SCHEDULER_ENABLED=false` and a scheduler process of `scheduler_kind`. Each process
    logs to `{kind}-{port}.log` and writes its events to `{kind}-{port}.events` (the
    port is the API's)."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    spawned_at = time.time()
    started: list[Child] = []
    try:
        scheduler = None
        if scheduler_kind is not None:
            scheduler = _start(scheduler_kind, "scheduler", port, database_url, workdir, env)
            started.append(scheduler)
            env = {**env, "SCHEDULER_ENABLED": "false"}
        role = "serve" if scheduler is None else "api"
        api = _start(kind, role, port, database_url, workdir, env)
        started.append(api)
        token = access_token(database_url)
    except BaseException:
        _stop(started, 10)
        raise
    return Proc(
        kind=kind,
        database_url=database_url,
        port=port,
        api=api,
        scheduler=scheduler,
        spawned_at=spawned_at,
        token=token,
    )
