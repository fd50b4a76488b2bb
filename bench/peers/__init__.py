"""The peers, as contenders beside `ours`, `design` and `limit`: `apscheduler4`
(APScheduler 4.0 alpha, its SQLAlchemy data store on PostgreSQL) and `celery` (Celery
beat and one Celery worker on RabbitMQ). Each runs in a virtual environment of its own,
made once from its pinned list (`bench/peers/NAME.txt`) under `bench/.peers/`, so
neither meets this project's dependencies (APScheduler 3.x above all). Each peer process
serves the benchmark's contender shape (`/health`, `/bench/reset`, `/bench/runs`; see
its module) and is measured on PostgreSQL only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.contenders import Contender, Run
from bench.db import log
from bench.jobstore import JobBatch
from bench.procs import ROOT, Child, Proc, access_token, free_port

HERE = Path(__file__).resolve().parent
VENVS = ROOT / "bench" / ".peers"
UV = ROOT / ".tools" / "bin" / "uv"
# The broker the celery peer's worker and beat use (its queue is its own).
CELERY_BROKER_ENV = "BENCH_CELERY_BROKER_URL"
DEFAULT_CELERY_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


_BUILDING = threading.Lock()


def python(name: str) -> Path:
    """The peer's interpreter, its venv made first if its pinned list changed."""
    with _BUILDING:
        return _venv_python(name)


def prebuild() -> threading.Thread:
    """Make the peers' venvs in the background, while the benchmarks before the peers
    run (a first run on a fresh machine builds them)."""

    def build() -> None:
        for peer in PEERS:
            try:
                python(peer.name)
            except Exception as exc:
                # The peer's own session reports it when it tries again.
                log(f"{peer.name}: making its venv failed: {exc}")

    thread = threading.Thread(target=build, name="peer venvs", daemon=True)
    thread.start()
    return thread


def _venv_python(name: str) -> Path:
    requirements = HERE / f"{name}.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:10]
    venv = VENVS / f"{name}-{digest}"
    interpreter = venv / "bin" / "python"
    if interpreter.exists():
        return interpreter
    VENVS.mkdir(parents=True, exist_ok=True)
    building = venv.with_name(venv.name + ".building")
    subprocess.run(
        [str(UV), "venv", "--quiet", "--python", sys.executable, str(building)], check=True
    )
    env = {**os.environ, "VIRTUAL_ENV": str(building)}
    install = [str(UV), "pip", "install", "--quiet", "--no-deps", "--compile-bytecode"]
    subprocess.run([*install, "-r", str(requirements)], check=True, env=env)
    building.rename(venv)  # only a finished venv is ever used
    return interpreter


class Peer(Contender):
    """A peer process: `python NAME_peer.py PORT DATABASE_URL [...]`."""

    # Seconds the peer takes to install a batch: a fixed part and a part per job
    # (planned with room to spare).
    install_s = 0.0
    install_s_per_job = 0.0

    def extra_args(self) -> list[str]:
        return []

    def spawn(self, database_url: str, workdir: Path) -> Proc:
        port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        interpreter = python(self.name)
        stamp = f"{self.name}-{port}"
        log = workdir / f"{stamp}.log"
        spawned_at = time.time()
        process = subprocess.Popen(
            [
                str(interpreter),
                str(HERE / f"{self.name}_peer.py"),
                str(port),
                database_url,
                *self.extra_args(),
            ],
            cwd=workdir,
            env={**os.environ, "PEER_WORKDIR": str(workdir), "PYTHONUNBUFFERED": "1"},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        child = Child(
            role="serve",
            kind=self.name,
            process=process,
            log=log,
            events_path=workdir / f"{stamp}.events",
        )
        return Proc(
            kind=self.name,
            database_url=database_url,
            port=port,
            api=child,
            spawned_at=spawned_at,
            token=access_token(database_url),
        )

    def install_lead_s(self, count: int, bulk: bool = False) -> float:
        return self.install_s + count * self.install_s_per_job

    def install(self, proc: Proc, batch: JobBatch) -> None:
        proc.post("/bench/reset", batch.as_json()).raise_for_status()

    def runs(self, proc: Proc, prefix: str) -> list[Run]:
        response = proc.get("/bench/runs", prefix=prefix)
        response.raise_for_status()
        return [
            Run(job_id=job_id, scheduled=fire, started=started, finished=started, status="success")
            for job_id, fire, started in response.json()["runs"]
        ]


class APScheduler4(Peer):
    name = "apscheduler4"
    # The batch is written in multi-row inserts (see its module): about 0.2 ms a job.
    install_s = 2.0
    install_s_per_job = 0.002


class CeleryBeat(Peer):
    name = "celery"
    # A reset starts its worker and beat processes (about 3 s here).
    install_s = 8.0

    def extra_args(self) -> list[str]:
        return [os.environ.get(CELERY_BROKER_ENV, DEFAULT_CELERY_BROKER)]


PEERS: tuple[Peer, ...] = (APScheduler4(), CeleryBeat())
