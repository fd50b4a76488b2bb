"""Jobs moved between deployments: the export of every job, and the import of many."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.audit import Reason
from app.schemas.task import JobFields
from app.schemas.types import Flag, JsonObject, Timestamp
from app.tasks.overlap import DEFAULT_OVERLAP, OverlapPolicy
from app.tasks.retry_policy import RetryPolicy

ImportMode = Literal["create", "upsert"]
# An import's body may be this large, whatever MAX_REQUEST_BODY_BYTES says: 10,000 jobs
# as the export gives them take about 3 MiB, with room for params.
IMPORT_MAX_BODY_BYTES = 32 * 1024 * 1024


class JobImportItem(JobFields):
    """A job as the import takes it and the export gives it: what `POST /tasks` takes,
    and its next run time, so an imported job fires when the exported one would have.
    `next_run_time` null on a job that is not paused: the scheduler computes it."""

    next_run_time: Timestamp | None = None


class ExportedJob(BaseModel):
    """`JobImportItem`'s fields. The trigger is as stored: one kept from an earlier
    version's cron class (`"legacy": true`) is shown, though no import takes it."""

    id: str
    name: str
    task: str | None
    params: dict[str, Any]
    trigger: dict[str, Any]
    timeout_seconds: float | None
    retry: RetryPolicy | None = None
    pause_after_failures: int | None = None
    overlap: OverlapPolicy = DEFAULT_OVERLAP
    catchup_window_seconds: int | None = None
    max_instances: int | None
    misfire_grace_time: int | None
    coalesce: bool | None
    paused: bool
    next_run_time: datetime | None


class JobExport(BaseModel):
    jobs: list[ExportedJob]


class JobImport(BaseModel):
    """`jobs` are checked one by one in the service (`JobImportItem`), so that each error
    names its job; here they are only JSON objects."""

    model_config = ConfigDict(extra="forbid")

    jobs: Annotated[list[JsonObject], Field(min_length=1)]
    mode: ImportMode = "create"
    dry_run: Flag = False
    reason: Reason | None = None


class JobImportResult(BaseModel):
    mode: ImportMode
    dry_run: bool
    # With `dry_run`, what the import would do.
    created: int
    updated: int
