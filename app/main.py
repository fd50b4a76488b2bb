"""The FastAPI application, built by `create_app(settings)` (uvicorn runs it as a factory)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.api.docs import DOCS_STATIC_PATH, DocsSecurityHeaders
from app.api.v1.router import router as v1_router
from app.api.v1.routes import dashboard_routes, health_routes, metrics_routes
from app.core.config import Settings, get_settings
from app.core.email import email_sender_for
from app.core.errors import AppError, Conflict, shown_validation_errors
from app.core.security import configure_password_hashing
from app.db.session import Database
from app.services.instance_secret import KeySource, access_tokens
from app.services.scrape_session import BackgroundScrapes
from app.services.user import ensure_superuser
from app.tasks.candidate import SchedulerCandidate
from app.tasks.client import SchedulerClient

logger = logging.getLogger(__name__)


async def app_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    detail = exc.detail
    if isinstance(detail, list):
        detail = shown_validation_errors(detail)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's rendering, except that a 405's `Allow` lists every method of the path
    that matched: Starlette names only those of its first route, and each method here is
    a route of its own (`GET /users/me` and `PATCH /users/me`)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code != status.HTTP_405_METHOD_NOT_ALLOWED:
        return await http_exception_handler(request, exc)
    matched: str | None = None
    allowed: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        if not route.methods or route.matches(request.scope)[0] is Match.NONE:
            continue
        # Only the first path that matched: `/tasks/preview` is not also `/tasks/{job_id}`.
        matched = matched or route.path_format
        if route.path_format == matched:
            allowed |= route.methods
    headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": shown_validation_errors(exc.errors())}, status_code=422)


def _new_app(settings: Settings, **options: Any) -> FastAPI:
    """The FastAPI object, with its API docs served from the app's own copies of Swagger
    UI and ReDoc (the dashboard keeps tokens on this origin: no script from a CDN may
    run here), or with no docs and no schema at all."""
    if not settings.DOCS_ENABLED:
        return FastAPI(docs_url=None, redoc_url=None, openapi_url=None, **options)
    app = FastAPIOffline(
        static_url=DOCS_STATIC_PATH,
        # Swagger UI's default sends the schema's URL to an outside validator.
        swagger_ui_parameters={"validatorUrl": None},
        **options,
    )
    app.add_middleware(DocsSecurityHeaders)
    return app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_password_hashing(
        settings.PASSWORD_HASH_TIME_COST,
        settings.PASSWORD_HASH_MEMORY_KIB,
        settings.PASSWORD_HASH_CONCURRENCY,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.DATABASE_URL)
        service = SchedulerCandidate(settings) if settings.SCHEDULER_ENABLED else None
        app.state.settings = settings
        app.state.db = database
        app.state.mailer = email_sender_for(settings)
        app.state.scheduler_candidate = service
        app.state.scheduler_client = SchedulerClient(settings, database, service)
        # Manual scrapes run on this loop with `database`: they end before it is disposed.
        scrapes = app.state.background_scrapes = BackgroundScrapes()
        async with database.transaction() as db:
            app.state.access_tokens, source = await access_tokens(db, settings)
        if source is KeySource.ENVIRONMENT:
            logger.info("access tokens are signed with SECRET_KEY from the environment")
        else:
            logger.info(
                "access tokens are signed with this deployment's generated key, kept in "
                "the database (instance_secrets); set SECRET_KEY to use your own"
            )
        if settings.FIRST_SUPERUSER_EMAIL and settings.FIRST_SUPERUSER_PASSWORD:
            try:
                async with database.transaction() as db:
                    await ensure_superuser(
                        db, settings.FIRST_SUPERUSER_EMAIL, settings.FIRST_SUPERUSER_PASSWORD
                    )
            except (IntegrityError, Conflict):
                logger.info("first superuser was created by another process")
        if service is not None:
            service.start_in_thread()
        try:
            yield
        finally:
            await scrapes.shutdown(settings.SCHEDULER_SHUTDOWN_GRACE_SECONDS)
            if service is not None:
                # Off the loop: draining runs can take the whole grace period.
                await asyncio.to_thread(
                    service.join, settings.SCHEDULER_SHUTDOWN_GRACE_SECONDS + 15
                )
            await database.dispose()

    app = _new_app(
        settings,
        title="reddit-bot-backend",
        description="Reddit scraping bots with a persistent, observable task scheduler.",
        version="0.1.0",
        lifespan=lifespan,
        max_body_size=settings.MAX_REQUEST_BODY_BYTES,
    )
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.include_router(v1_router, prefix="/api/v1")
    app.include_router(health_routes.router, include_in_schema=False)
    if settings.METRICS_ENABLED:
        app.include_router(metrics_routes.router)
    app.include_router(dashboard_routes.router)
    app.mount(
        dashboard_routes.STATIC_PATH, dashboard_routes.static_files(), name="dashboard-static"
    )
    return app
