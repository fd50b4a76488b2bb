"""The migrations build exactly the schema the models describe, on the test database's
backend, and they leave APScheduler's job store table to the job store."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, MetaData, create_engine, inspect, text
from sqlalchemy.engine import make_url

from alembic import command
from app.core.config import Settings
from app.db.base import Base
from app.db.migrate import alembic_config, include_object, upgrade

JOBS_TABLE = "apscheduler_jobs"


def sync_url(url: str) -> str:
    return Settings(DATABASE_URL=url).sync_database_url


def diffs(connection: Connection, metadata: MetaData, **opts: Any) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True, **opts}
    )
    return list(compare_metadata(context, metadata))


def only_jobs_table(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return getattr(table, "name", None) == JOBS_TABLE


def job_store_metadata(url: str) -> MetaData:
    """The table as `SQLAlchemyJobStore` itself would create it."""
    engine = create_engine(url)
    try:
        store = SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)
        metadata: MetaData = store.jobs_t.metadata
        return metadata
    finally:
        engine.dispose()


def user_tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def noop() -> None:
    """A job target the job store can refer to by name."""


@pytest.fixture
def scratch_url(database_url: str, tmp_path: Any) -> Iterator[str]:
    """The sync URL of an empty database of the test backend, gone afterwards."""
    if make_url(database_url).get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"rb_scratch_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    server = create_engine(sync_url(database_url), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield sync_url(make_url(database_url).set(database=name).render_as_string(False))
        finally:
            with server.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        server.dispose()


def test_migrations_have_a_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, heads


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            assert diffs(conn, Base.metadata, include_object=include_object) == []
            # Every model table, the job store's included, exists after migrating.
            assert set(Base.metadata.tables) <= user_tables(conn)
    finally:
        engine.dispose()


def test_alembic_check_finds_nothing_to_generate(database_url: str) -> None:
    # Runs autogenerate the way `alembic revision --autogenerate` would, through env.py.
    command.check(alembic_config(sync_url(database_url)))


def test_job_store_table_is_what_sqlalchemy_jobstore_expects(database_url: str) -> None:
    url = sync_url(database_url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            columns = {c["name"]: c for c in inspect(conn).get_columns(JOBS_TABLE)}
            assert set(columns) == {"id", "next_run_time", "job_state"}
            assert columns["job_state"]["nullable"] is False
            pk = inspect(conn).get_pk_constraint(JOBS_TABLE)
            assert pk["constrained_columns"] == ["id"]
            indexes = inspect(conn).get_indexes(JOBS_TABLE)
            assert [i["column_names"] for i in indexes] == [["next_run_time"]]
            assert diffs(conn, job_store_metadata(url), include_object=only_jobs_table) == []
    finally:
        engine.dispose()


def test_job_store_round_trips_a_job_in_the_migrated_table(database_url: str) -> None:
    engine = create_engine(sync_url(database_url))
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)
    scheduler = BackgroundScheduler(timezone=UTC)
    # Microseconds survive only if next_run_time is an 8-byte float.
    next_run = datetime.now(UTC).replace(microsecond=123456) + timedelta(days=1)
    try:
        store.start(scheduler, "default")
        job = Job(
            scheduler,
            id="migration-probe",
            func=f"{__name__}:noop",
            trigger=IntervalTrigger(hours=1, timezone=UTC),
            executor="default",
            args=(),
            kwargs={},
            name="probe",
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            next_run_time=next_run,
        )
        store.add_job(job)

        loaded = store.lookup_job("migration-probe")
        assert loaded is not None
        assert loaded.name == "probe"
        assert loaded.next_run_time == next_run
        assert store.get_next_run_time() == next_run
        store.remove_job("migration-probe")
        assert store.get_all_jobs() == []
    finally:
        engine.dispose()


def test_autogenerate_never_proposes_dropping_the_job_store_table(database_url: str) -> None:
    without_jobs = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        if table.name != JOBS_TABLE:
            table.to_metadata(without_jobs)
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            assert diffs(conn, without_jobs, include_object=include_object) == []
            # The filter is what keeps it: without it the table would be dropped.
            unfiltered = diffs(conn, without_jobs)
            assert ("remove_table", JOBS_TABLE) in [
                (d[0], d[1].name) for d in unfiltered if isinstance(d, tuple)
            ]
    finally:
        engine.dispose()


def test_autogenerate_ignores_changes_the_job_store_makes(scratch_url: str) -> None:
    upgrade(scratch_url)
    engine = create_engine(scratch_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {JOBS_TABLE} ADD COLUMN extra_state TEXT"))
            conn.execute(text(f"CREATE INDEX ix_jobs_extra ON {JOBS_TABLE} (extra_state)"))
    finally:
        engine.dispose()
    command.check(alembic_config(scratch_url))


def test_downgrade_to_base_and_upgrade_again(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    engine = create_engine(scratch_url)
    try:
        command.upgrade(config, "head")
        with engine.connect() as conn:
            assert user_tables(conn) == set(Base.metadata.tables)

        command.downgrade(config, "base")
        with engine.connect() as conn:
            assert user_tables(conn) == set()

        command.upgrade(config, "head")
        with engine.connect() as conn:
            assert user_tables(conn) == set(Base.metadata.tables)
            assert diffs(conn, Base.metadata, include_object=include_object) == []
    finally:
        engine.dispose()
