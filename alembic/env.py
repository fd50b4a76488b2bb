from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from sqlalchemy import create_engine, event, pool

from alembic import context
from app.core.config import get_settings
from app.db.base import Base
from app.db.migrate import include_object
from app.db.session import ensure_sqlite_dir, sqlite_pragmas

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    url: str | None = config.attributes.get("sync_url")
    return url or get_settings().sync_database_url


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = database_url()
    ensure_sqlite_dir(url)
    connectable = create_engine(url, poolclass=pool.NullPool)
    if connectable.dialect.name == "sqlite":
        event.listen(connectable, "connect", sqlite_pragmas)
    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        "include_object": include_object,
        "render_as_batch": connectable.dialect.name == "sqlite",
        "compare_type": True,
    }
    with connectable.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
