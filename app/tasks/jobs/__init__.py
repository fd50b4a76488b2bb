"""The catalog: every task this code can run and the jobs it keeps by itself. Importing
it registers the built-in tasks; whoever looks tasks up or starts a leader imports this,
so the registry it uses is complete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict
from app.tasks.commands import LegacyDecoder
from app.tasks.jobs import (
    cleanup,
    http_request,  # noqa: F401  (registers its task)
    scraping,
)
from app.tasks.registry import JobSpec, TaskRegistry, registry

# The jobs a domain wants, read from the database, for the leader to reconcile the
# stored jobs with that id prefix against.
WantedJobs = Callable[[AsyncSession], Awaitable[list[JobSpec]]]


@dataclass(frozen=True)
class Catalog:
    registry: TaskRegistry
    builtin_jobs: tuple[JobSpec, ...] = ()
    reconciled: Mapping[str, WantedJobs] = field(default_factory=dict)
    legacy_commands: Mapping[str, LegacyDecoder] = field(default_factory=dict)


CATALOG = Catalog(
    registry=registry,
    builtin_jobs=cleanup.BUILTIN_JOBS,
    reconciled={scraping.BOT_JOB_PREFIX: scraping.wanted_bot_jobs},
    legacy_commands={"sync_bot": scraping.legacy_sync_bot},
)
BUILTIN_JOB_IDS = cleanup.BUILTIN_JOB_IDS


def check_managed(job_id: str, action: str) -> None:
    """Refuse (409) to let the task API create, delete or re-task a job code keeps."""
    if job_id in BUILTIN_JOB_IDS:
        raise Conflict(f"Job {job_id!r} is built in and cannot be {action}; pause it instead")
    if scraping.is_bot_job(job_id):
        raise Conflict(
            f"Job {job_id!r} follows its bot config and cannot be {action} here; change the "
            "bot config (auto_scrape_enabled, is_active, scrape_interval_hours) instead"
        )


__all__ = ["BUILTIN_JOB_IDS", "CATALOG", "Catalog", "WantedJobs", "check_managed", "registry"]
