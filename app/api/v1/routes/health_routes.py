from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.api.deps import SchedulerDep, SettingsDep
from app.api.routing import StrictJSONRoute
from app.services import worker as worker_service

router = APIRouter(tags=["health"], route_class=StrictJSONRoute)


@router.get("/health", responses={503: {"description": "The database is unreachable"}})
async def health(request: Request, scheduler: SchedulerDep, settings: SettingsDep) -> JSONResponse:
    """Database reachable and scheduler leader known; 503 when the database is down.
    Uses its own session: a failing database must give an answer, not a failed commit."""
    body: dict[str, Any] = {"status": "ok", "database": "ok"}
    try:
        async with request.app.state.db.sessionmaker() as db:
            await db.execute(text("SELECT 1"))
            leader = await scheduler.leader(db)
            workers = await worker_service.list_workers(db, settings)
    except Exception as exc:
        body.update(status="error", database=f"unreachable: {type(exc).__name__}")
        return JSONResponse(body, status_code=503)
    body["scheduler"] = {
        "enabled_here": settings.SCHEDULER_ENABLED,
        "leader": leader.model_dump(mode="json"),
    }
    body["executor"] = settings.EXECUTOR
    body["workers"] = [w.model_dump(mode="json") for w in workers]
    if not leader.alive:
        body["status"] = "degraded"
    return JSONResponse(body)
