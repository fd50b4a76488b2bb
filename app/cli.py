"""`reddit-bot`: serve the API (with a scheduler candidate), run a scheduler alone,
migrate, create a superuser; `reddit-bot tasks ...` (`cli_tasks.py`) drives a running
server's jobs."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from app.cli_tasks import tasks_cli
from app.core.config import Settings, get_settings

cli = typer.Typer(help="reddit-bot-backend", no_args_is_help=True)
cli.add_typer(tasks_cli, name="tasks")


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def load_settings() -> Settings:
    """The settings, or a refusal naming the setting that is wrong (no traceback)."""
    from pydantic import ValidationError

    try:
        return get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            typer.echo(f"invalid setting {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def migrate() -> None:
    """Apply database migrations."""
    from app.db.migrate import upgrade

    configure_logging()
    upgrade(get_settings().sync_database_url)
    typer.echo("database is up to date")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(envvar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    no_migrate: Annotated[bool, typer.Option("--no-migrate")] = False,
) -> None:
    """Migrate, then serve the API. With SCHEDULER_ENABLED (the default) each process is
    also a scheduler candidate; exactly one of them leads."""
    import uvicorn

    from app.db.migrate import upgrade

    configure_logging()
    settings = load_settings()
    if not no_migrate:
        upgrade(settings.sync_database_url)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        timeout_graceful_shutdown=int(settings.SCHEDULER_SHUTDOWN_GRACE_SECONDS) + 5,
    )


@cli.command()
def scheduler() -> None:
    """Run a scheduler candidate without the API (waits as a standby if another leads)."""
    from app.db.migrate import upgrade
    from app.tasks.candidate import SchedulerCandidate

    configure_logging()
    settings = load_settings()
    upgrade(settings.sync_database_url)
    service = SchedulerCandidate(settings)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, service.stop)
        await service.run()

    asyncio.run(main())


@cli.command()
def worker(
    worker_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            envvar="WORKER_ID",
            help="Stable id of this worker (default host:pid); a restarted worker with "
            "the same id closes the runs its previous process left",
        ),
    ] = None,
    queues: Annotated[
        str, typer.Option(envvar="WORKER_QUEUES", help="Task kinds to take: io, cpu or io,cpu")
    ] = "io,cpu",
    metrics_port: Annotated[
        int, typer.Option(envvar="WORKER_METRICS_PORT", help="Serve /metrics here (0: off)")
    ] = 0,
) -> None:
    """Run a worker of the broker executor (EXECUTOR=broker): it takes runs from the
    broker's queues and runs them, WORKER_CONCURRENCY at a time."""
    from app.tasks.registry import TASK_KINDS

    configure_logging()
    settings = load_settings()
    if settings.EXECUTOR != "broker":
        typer.echo("reddit-bot worker needs EXECUTOR=broker (and BROKER_URL)", err=True)
        raise typer.Exit(2)
    asked = [k.strip() for k in queues.split(",") if k.strip()]
    kinds = tuple(k for k in TASK_KINDS if k in asked)
    unknown = [k for k in asked if k not in TASK_KINDS]
    if unknown or not kinds:
        typer.echo(
            f"--queues: unknown task kind(s) {unknown}; use {', '.join(TASK_KINDS)}", err=True
        )
        raise typer.Exit(2)

    from app.db.migrate import upgrade
    from app.tasks.taskiq_broker import rabbitmq
    from app.tasks.worker import PoolWorker, WorkerIdInUse

    upgrade(settings.sync_database_url)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    assert settings.BROKER_URL is not None
    broker = rabbitmq(
        settings.BROKER_URL,
        kinds,
        concurrency=settings.WORKER_CONCURRENCY,
        worker=True,
    )
    pool_worker = PoolWorker(settings, broker, worker_id=worker_id, kinds=kinds)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, pool_worker.stop)
        await pool_worker.run()

    try:
        asyncio.run(main())
    except WorkerIdInUse as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@cli.command("create-superuser")
def create_superuser(
    email: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Create a superuser (or report that the email is taken)."""
    from pydantic import ValidationError

    from app.core.security import configure_password_hashing
    from app.db.migrate import upgrade
    from app.db.session import Database
    from app.schemas.user import UserCreate
    from app.services.user import ensure_superuser

    settings = get_settings()
    try:
        UserCreate(email=email, password=password)
    except ValidationError as exc:
        typer.echo(
            f"invalid input: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", err=True
        )
        raise typer.Exit(2) from None
    upgrade(settings.sync_database_url)
    configure_password_hashing(
        settings.PASSWORD_HASH_TIME_COST,
        settings.PASSWORD_HASH_MEMORY_KIB,
        settings.PASSWORD_HASH_CONCURRENCY,
    )

    async def create() -> bool:
        database = Database(settings.DATABASE_URL)
        try:
            async with database.transaction() as db:
                _, created = await ensure_superuser(db, email, password)
            return created
        finally:
            await database.dispose()

    if asyncio.run(create()):
        typer.echo(f"superuser {email} created")
    else:
        typer.echo(f"a user with email {email} already exists; nothing changed", err=True)
        raise typer.Exit(1)


def main() -> None:
    cli()
