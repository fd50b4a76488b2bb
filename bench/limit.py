"""The `limit` contender: bare APScheduler (`AsyncIOScheduler`, in-memory job store,
`AsyncIOExecutor`), no history: what the engine itself costs. It sits behind the same
API shape and superuser check as the others so the API figures compare, and the
benchmark gives it its jobs through `/bench/reset` (a memory store cannot be filled from
outside the process). Its `write` work is the same one-row update as ours, through bare
SQLAlchemy (an engine with its defaults, a transaction per run).

`/bench/bare/*` are `api_throughput`'s limit: bare FastAPI + SQLAlchemy endpoints (no
authentication, no middleware, a plain session, the response as a dict) that run the
same main query as `GET /api/v1/users/me`, `/tasks?limit=50` and `/tasks/{id}/stats`
(the app's own crud functions)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from typing import Any

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import APIRouter, Body, FastAPI, HTTPException, Query
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from app.api.deps import Admin
from app.core.config import get_settings
from app.crud import job as job_crud
from app.crud import task_execution as execution_crud
from app.crud import user as user_crud
from app.db.session import Database
from app.services.instance_secret import access_tokens
from bench.db import SUPERUSER_ID
from bench.design import JobInfo, job_detail, job_summary
from bench.jobstore import JobBatch
from bench.probe import emit
from bench.tasks import COUNTER_UPDATE, counter_update

# (job id, start time) of every run.
RUNS: list[tuple[str, float]] = []


async def noop(job_id: str) -> None:
    RUNS.append((job_id, time.time()))


async def write(job_id: str) -> None:
    started = time.time()
    assert engine.bare is not None
    async with engine.bare.begin() as conn:
        await conn.execute(COUNTER_UPDATE, counter_update(job_id))
    RUNS.append((job_id, started))


WORK = {"noop": noop, "write": write}


class Engine:
    scheduler: AsyncIOScheduler | None = None
    # Bare SQLAlchemy on the app's database: the `write` work and `/bench/bare/*`.
    bare: AsyncEngine | None = None
    sessions: async_sessionmaker[Any] | None = None


engine = Engine()


def start_with(batch: JobBatch | None) -> float:
    """Replace the scheduler by a new one holding `batch`; returns how long starting it
    with its jobs took (start paused, add every job, resume)."""
    old = engine.scheduler
    if old is not None and old.running:
        old.shutdown(wait=False)
    started = time.perf_counter()
    scheduler = AsyncIOScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": AsyncIOExecutor()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
    scheduler.start(paused=True)
    if batch is not None:
        work = WORK[batch.work]
        for i in range(batch.count):
            job_id = batch.job_id(i)
            scheduler.add_job(
                work, trigger=batch.trigger(i), id=job_id, name=job_id, kwargs={"job_id": job_id}
            )
    scheduler.resume()
    engine.scheduler = scheduler
    return time.perf_counter() - started


def _scheduler() -> AsyncIOScheduler:
    assert engine.scheduler is not None
    return engine.scheduler


router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("", response_model=list[JobInfo])
async def list_jobs(
    _: Admin,
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> list[JobInfo]:
    return [job_summary(job) for job in _scheduler().get_jobs()[offset : offset + limit]]


@router.get("/{job_id}", response_model=JobInfo)
async def get_job(job_id: str, _: Admin) -> JobInfo:
    job = _scheduler().get_job(job_id)
    if not job:
        raise HTTPException(status_code=404, detail="Job not found")
    return job_detail(job)


bench_router = APIRouter(prefix="/bench")


@bench_router.post("/reset")
async def reset(batch: dict[str, Any] | None = Body(default=None)) -> dict[str, float]:
    return {"seconds": start_with(JobBatch.from_json(batch) if batch else None)}


@bench_router.get("/runs")
async def runs(prefix: str = "") -> dict[str, list[tuple[str, float]]]:
    return {"runs": [run for run in RUNS if run[0].startswith(prefix)]}


def _sessions() -> async_sessionmaker[Any]:
    assert engine.sessions is not None
    return engine.sessions


@bench_router.get("/bare/users/me")
async def bare_user() -> dict[str, Any]:
    async with _sessions()() as db:
        user = await user_crud.get(db, SUPERUSER_ID)
        assert user is not None
        return {"id": user.id, "email": user.email, "full_name": user.full_name}


@bench_router.get("/bare/tasks")
async def bare_jobs(limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    async with _sessions()() as db:
        rows = await job_crud.list_page(db, limit=limit, offset=offset)
        return [{"id": row.id, "next_run_time": row.next_run_time} for row in rows]


@bench_router.get("/bare/tasks/{job_id}/stats")
async def bare_stats(job_id: str) -> dict[str, Any]:
    async with _sessions()() as db:
        return await execution_crud.stats(db, job_id)


def create_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = get_settings()
        database = Database(settings.DATABASE_URL)
        app.state.settings = settings
        app.state.db = database
        # The same signing key as the app's, so its access tokens work here too.
        async with database.transaction() as db:
            app.state.access_tokens, _ = await access_tokens(db, settings)
        engine.bare = create_async_engine(settings.DATABASE_URL)
        engine.sessions = async_sessionmaker(engine.bare, expire_on_commit=False)
        emit("scheduler_started", seconds=start_with(None))
        try:
            yield
        finally:
            if engine.scheduler is not None and engine.scheduler.running:
                engine.scheduler.shutdown(wait=False)
            await engine.bare.dispose()
            await database.dispose()

    app = FastAPI(title="limit baseline", lifespan=lifespan)
    app.include_router(router, prefix="/api/v1")
    app.include_router(bench_router)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        running = engine.scheduler is not None and bool(engine.scheduler.running)
        return {"status": "ok", "scheduler": {"leader": {"alive": running}}}

    return app
