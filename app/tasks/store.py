"""`JobWriter`: every write to `apscheduler_jobs`, through the leader's engine (see
`jobstore.py` for the store itself). Synchronous: call it on a thread, never on the
event loop. It speaks of job specs only; which jobs a domain wants is the catalog's."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.triggers.base import BaseTrigger

from app.core.errors import Conflict, NotFound
from app.tasks import runner, stored_triggers, trigger_specs
from app.tasks.commands import ImportedJob
from app.tasks.jobstore import SchedulerEngine
from app.tasks.registry import JobSpec

logger = logging.getLogger(__name__)

# How `ensure` left a job.
Ensured = str  # "added", "rescheduled", "updated" or "unchanged"


def job_kwargs(spec: JobSpec) -> dict[str, Any]:
    """What a stored job passes the runner entry point."""
    kwargs: dict[str, Any] = {"task": spec.task, "params": spec.params or {}}
    if spec.timeout_seconds is not None:
        kwargs["timeout_seconds"] = spec.timeout_seconds
    if spec.retry is not None:
        kwargs["retry"] = spec.retry.model_dump(mode="json")
    if spec.pause_after_failures is not None:
        kwargs["pause_after_failures"] = spec.pause_after_failures
    # Always kept: a job without it is one stored before policies (see `stored_overlap`).
    kwargs["overlap"] = spec.overlap
    if spec.catchup_window_seconds is not None:
        kwargs["catchup_window_seconds"] = spec.catchup_window_seconds
    return kwargs


class JobWriter:
    def __init__(self, engine: SchedulerEngine) -> None:
        self.engine = engine

    def existing(self, job_id: str | None) -> Job:
        job = self.engine.get_job(job_id) if job_id else None
        if job is None:
            raise NotFound(f"Job {job_id!r} not found")
        return job

    def add(self, spec: JobSpec, *, paused: bool = False) -> Job:
        try:
            return self._add(spec, trigger_specs.build_trigger(spec.trigger), paused=paused)
        except ConflictingIdError:
            raise Conflict(f"A job with id {spec.id!r} already exists") from None

    def _add(self, spec: JobSpec, trigger: BaseTrigger, *, paused: bool = False) -> Job:
        return self.engine.add_job(
            runner.ENTRY_POINT,
            trigger=trigger,
            id=spec.id,
            name=spec.name,
            kwargs=job_kwargs(spec),
            max_instances=spec.max_instances,
            misfire_grace_time=spec.misfire_grace_time,
            coalesce=spec.coalesce,
            replace_existing=False,
            **({"next_run_time": None} if paused else {}),
        )

    def ensure(self, spec: JobSpec, stored: dict[str, Job] | None = None) -> Ensured:
        """Add the job if it is missing; if it exists, change only what differs, and keep
        its next run time and paused state unless its trigger pattern changed. `stored`:
        the store's jobs read just before, so a batch of calls does not read each job again."""
        job = self.engine.get_job(spec.id) if stored is None else stored.get(spec.id)
        trigger = trigger_specs.build_trigger(spec.trigger)
        if job is None:
            try:
                self._add(spec, trigger)
                return "added"
            except ConflictingIdError:
                # Another scheduler (two leaders overlapping briefly) added it meanwhile.
                job = self.engine.get_job(spec.id)
                if job is None:
                    raise
        changes: dict[str, Any] = {}
        wanted_kwargs = job_kwargs(spec)
        if job.kwargs != wanted_kwargs or job.func_ref != runner.ENTRY_POINT:
            changes.update(func=runner.ENTRY_POINT, kwargs=wanted_kwargs)
        for attr in ("name", "max_instances", "misfire_grace_time", "coalesce"):
            if getattr(job, attr) != getattr(spec, attr):
                changes[attr] = getattr(spec, attr)
        if changes:
            self.engine.modify_job(spec.id, **changes)
        if stored_triggers.signature(job.trigger) != stored_triggers.signature(trigger):
            self.reschedule(job, trigger)
            return "rescheduled"
        return "updated" if changes else "unchanged"

    def import_jobs(self, jobs: Sequence[ImportedJob], *, replace: bool) -> dict[str, int]:
        """Store `jobs` in one write (see `commands.ImportJobs`); counts of the jobs
        created and replaced."""
        now = datetime.now(UTC)
        built: list[Job] = []
        replaced = 0
        taken: list[str] = []
        for item in jobs:
            stored = self.engine.get_job(item.id)
            if stored is not None and not replace:
                taken.append(item.id)
                continue
            replaced += stored is not None
            trigger = trigger_specs.build_trigger(item.trigger)
            next_run: datetime | None = None
            if not item.paused:
                next_run = item.next_run_time or trigger.get_next_fire_time(None, now)
            spec = item.spec()
            # As the store loads a job: from its state. `Job()` would check the entry
            # point's signature again for each of thousands of jobs.
            job: Job = Job.__new__(Job)
            job.__setstate__(
                {
                    "version": 1,
                    "id": spec.id,
                    "func": runner.ENTRY_POINT,
                    "trigger": trigger,
                    "executor": "default",
                    "args": (),
                    "kwargs": job_kwargs(spec),
                    "name": spec.name,
                    "misfire_grace_time": spec.misfire_grace_time,
                    "coalesce": spec.coalesce,
                    "max_instances": spec.max_instances,
                    "next_run_time": next_run,
                }
            )
            job._scheduler = self.engine
            job._jobstore_alias = "default"
            built.append(job)
        if taken:
            raise Conflict(f"Jobs with these ids already exist: {', '.join(taken[:20])}")
        try:
            self.engine.add_jobs(built, replace=replace)
        except ConflictingIdError:
            raise Conflict(
                "Some of these jobs were created meanwhile; nothing was imported"
            ) from None
        return {"created": len(built) - replaced, "updated": replaced}

    def reconcile(self, prefix: str, specs: Iterable[JobSpec]) -> tuple[int, int]:
        """Make the stored jobs whose id starts with `prefix` exactly `specs`; returns
        (added or changed, removed). Unchanged jobs keep their next run time."""
        wanted = {spec.id: spec for spec in specs}
        stored = {j.id: j for j in self.engine.find_jobs(lambda job_id: job_id.startswith(prefix))}
        orphans = stored.keys() - wanted.keys()
        for job_id in orphans:
            self.remove(job_id)
        changed = sum(self.ensure(spec, stored) != "unchanged" for spec in wanted.values())
        return changed, len(orphans)

    def reschedule(self, job: Job, trigger: BaseTrigger) -> Job:
        """The job as stored after the change. A paused job stays paused in the same
        change: rescheduled and then paused again, it could fire in between."""
        if job.next_run_time is None:
            paused: Job = self.engine.modify_job(job.id, trigger=trigger, next_run_time=None)
            return paused
        changed: Job = self.engine.reschedule_job(job.id, trigger=trigger)
        return changed

    def modify(self, job: Job, changes: dict[str, Any]) -> Job:
        """The job as stored after the change."""
        changed: Job = self.engine.modify_job(job.id, **changes)
        return changed

    def stored_state(self, job: Job) -> str:
        """The job's state as the store wrote it, as text for a command's answer: the API
        reads it as it reads the table's rows, also once the job has left the table (a
        one-off job that ran at once)."""
        return base64.b64encode(self.engine.state_of(job)).decode("ascii")

    def pause(self, job: Job) -> None:
        self.engine.pause_job(job.id)

    def resume(self, job: Job) -> bool:
        """False if the job has nothing left to run (a date trigger whose time passed)."""
        if job.next_run_time is None:
            self.engine.resume_job(job.id)
        return self.engine.get_job(job.id) is not None

    def remove(self, job_id: str) -> bool:
        try:
            self.engine.remove_job(job_id)
        except JobLookupError:
            return False
        return True

    def upgrade_triggers(self) -> None:
        """Give jobs stored with an older trigger class the one this code builds (see
        `stored_triggers.upgrade`). A run still due stays due; a future next run time is
        computed again, since the old class may have skipped a slot to reach it."""
        now = datetime.now(UTC)
        for job in self.engine.find_jobs(containing=stored_triggers.UPGRADED_MODULES):
            trigger = stored_triggers.upgrade(job.trigger)
            if trigger is None:
                continue
            changes: dict[str, Any] = {"trigger": trigger}
            if job.next_run_time is not None and job.next_run_time > now:
                next_run = trigger.get_next_fire_time(None, now)
                if next_run is not None:
                    changes["next_run_time"] = next_run
            self.engine.modify_job(job.id, **changes)
            logger.info("job %s: trigger %s stored as %s", job.id, job.trigger, trigger)
