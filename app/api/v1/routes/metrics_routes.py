"""Prometheus exposition of this process's metrics (see `app.core.metrics` for which
process carries run metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.core import metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
