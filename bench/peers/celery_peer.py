"""The `celery` peer: Celery beat with the benchmark's schedule and one Celery worker on
RabbitMQ, in a virtual environment of its own (`bench/peers/__init__.py` makes it).

`python celery_peer.py PORT DATABASE_URL BROKER_URL`. A batch's `work` is `noop`, or
`write`: the one-row update of `bench_counters` that `bench_write` makes for ours. This
process serves the benchmark's contender shape over plain HTTP (`peer_http`); on reset
it (re)starts `celery beat` with that batch as its schedule and one `celery worker`
(prefork, as many children as cores, Celery's default). Each run's task writes its job
id and start time to a table in DATABASE_URL, where `/bench/runs` reads them: Celery
beat sends no fire time, so the benchmark derives each run's slot from the schedule, as
for `design`. The queue is this peer's own (auto-deleted with its worker) on the given
broker.

Also the Celery app itself (`-A celery_peer`) for the beat and worker processes, which
read their settings from the environment this process gives them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import peer_http
import psycopg
from celery import Celery
from celery.schedules import schedule
from kombu import Queue

HERE = Path(__file__).resolve().parent
QUEUE = os.environ.get("PEER_QUEUE", "bench-celery")
DSN = os.environ.get("PEER_DSN", "")
TABLE = "bench_celery_runs"
# As `bench.tasks.COUNTER_ROWS` (the table is made by the benchmark).
COUNTER_ROWS = 100

app = Celery("celery_peer", broker=os.environ.get("PEER_BROKER", "amqp://"))
app.conf.update(
    task_queues=[Queue(QUEUE, auto_delete=True)],
    task_default_queue=QUEUE,
    task_ignore_result=True,
    worker_prefetch_multiplier=4,
    timezone="UTC",
    enable_utc=True,
    broker_connection_retry_on_startup=True,
)

_connection: psycopg.Connection[Any] | None = None


def _db() -> psycopg.Connection[Any]:
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(DSN, autocommit=True)
    return _connection


@app.task(name="peer.noop")
def noop(job_id: str) -> None:
    started = time.time()
    _db().execute(f"INSERT INTO {TABLE} (job_id, started) VALUES (%s, %s)", (job_id, started))


@app.task(name="peer.write")
def write(job_id: str) -> None:
    started = time.time()
    conn = _db()
    with conn.transaction():
        conn.execute(
            "UPDATE bench_counters SET n = n + 1, touched_at = now() WHERE id = %s",
            (zlib.crc32(job_id.encode()) % COUNTER_ROWS,),
        )
    conn.execute(f"INSERT INTO {TABLE} (job_id, started) VALUES (%s, %s)", (job_id, started))


class anchored(schedule):
    """Every `interval` seconds from `start` (not from when beat started), until `end`:
    the benchmark's staggered interval jobs."""

    def __init__(self, interval: float, start: float, end: float | None) -> None:
        super().__init__(run_every=timedelta(seconds=interval))
        self.interval, self.start, self.end = interval, start, end

    def __reduce__(self) -> tuple[Any, ...]:
        # Beat keeps its entries in a shelve file: unpickled with these arguments.
        return (anchored, (self.interval, self.start, self.end))

    def _next_after(self, t: float) -> float:
        if t < self.start:
            return self.start
        return self.start + ((t - self.start) // self.interval + 1) * self.interval

    def is_due(self, last_run_at: datetime) -> tuple[bool, float]:
        now = time.time()
        due_at = self._next_after(last_run_at.timestamp())
        if self.end is not None and due_at > self.end:
            return False, 3600.0
        if now >= due_at:
            following = self._next_after(now)
            return True, max(0.0, following - now)
        return False, due_at - now


def _beat_schedule() -> dict[str, Any]:
    path = os.environ.get("PEER_BATCH")
    if not path:
        return {}
    batch = json.loads(Path(path).read_text())
    interval = batch["interval_s"]
    entries = {}
    for i in range(batch["count"]):
        job_id = f"{batch['prefix']}{i:06d}"
        start = batch["first_fire"] + i * batch["stagger_s"]
        if interval is None:  # a one-off job: due once, at its start
            every, end = 3600.0, start
        else:
            every = interval
            end = None
            if batch.get("runs") is not None:
                end = start + (batch["runs"] - 1) * interval + interval / 2
        entries[job_id] = {
            "task": f"peer.{batch.get('work', 'noop')}",
            "schedule": anchored(every, start, end),
            "args": (job_id,),
        }
    return entries


app.conf.beat_schedule = _beat_schedule()


class Peer:
    def __init__(self, port: int, url: str, broker: str) -> None:
        self.port = port
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        self.broker = broker
        self.workdir = Path(os.environ.get("PEER_WORKDIR", "/tmp"))
        self.children: list[subprocess.Popen[bytes]] = []
        self.lock = threading.Lock()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} "
                "(id bigserial PRIMARY KEY, job_id text NOT NULL, started double precision)"
            )

    def _env(self, batch_path: Path | None) -> dict[str, str]:
        env = {
            **os.environ,
            "PEER_QUEUE": f"bench-celery-{self.port}",
            "PEER_DSN": self.dsn,
            "PEER_BROKER": self.broker,
            "PYTHONPATH": str(HERE),
        }
        if batch_path is not None:
            env["PEER_BATCH"] = str(batch_path)
        return env

    def _start(self, name: str, args: list[str], batch_path: Path | None) -> None:
        log = (self.workdir / f"celery-{name}-{self.port}.log").open("ab")
        self.children.append(
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "celery_peer", *args],
                cwd=self.workdir,
                env=self._env(batch_path),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def stop_children(self) -> None:
        for child in self.children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(10)
        self.children = []

    def reset(self, batch: dict[str, Any] | None) -> float:
        with self.lock:
            started = time.perf_counter()
            self.stop_children()
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute(f"TRUNCATE {TABLE}")
            if batch:
                path = self.workdir / f"celery-batch-{self.port}.json"
                path.write_text(json.dumps(batch))
                schedule_file = self.workdir / f"celery-beat-{self.port}"
                for stale in self.workdir.glob(f"celery-beat-{self.port}*"):
                    stale.unlink()
                worker = ["worker", "--loglevel=WARNING", "-n", f"peer{self.port}@%h"]
                self._start("worker", worker, None)
                self._start("beat", ["beat", "--loglevel=WARNING", "-s", str(schedule_file)], path)
            return time.perf_counter() - started

    def runs(self, prefix: str) -> list[tuple[str, None, float]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                f"SELECT job_id, started FROM {TABLE} WHERE job_id LIKE %s", (prefix + "%",)
            ).fetchall()
        return [(job_id, None, started) for job_id, started in rows]


def main(argv: list[str]) -> None:
    port, url, broker = int(argv[0]), argv[1], argv[2]
    peer = Peer(port, url, broker)
    server = peer_http.server(port, lambda: True, peer.reset, peer.runs)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        server.shutdown()
        peer.stop_children()


if __name__ == "__main__":
    main(sys.argv[1:])
