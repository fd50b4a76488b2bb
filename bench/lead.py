"""How far ahead of an installation a batch's first fire is scheduled.

A figure is measured from a batch's first fire time, so the batch (or the processes
that run it) must be installed before then. How long that takes depends on how busy
the machine is, not only on the contender: the lead is what the caller plans for,
raised to what installs of the same kind took earlier in the run, and when an
install still ends past its first fire, that batch is dropped (`undo`) and a fresh
one is installed further ahead, by what the late one took. A busy machine makes the
run longer, never a benchmark fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from bench.db import log

ATTEMPTS = 3
# Above the slowest install of its kind seen so far: the next one may meet a busier
# machine.
MARGIN = 1.5

T = TypeVar("T")

_lock = threading.Lock()
_seconds_per_job: dict[str, float] = {}


def learned(kind: str, count: int) -> float:
    """Seconds ahead that installs of `kind` so far call for, for `count` jobs."""
    with _lock:
        per_job = _seconds_per_job.get(kind)
    return 0.0 if per_job is None else MARGIN * per_job * count


def _learn(kind: str, seconds: float, count: int) -> None:
    per_job = seconds / max(count, 1)
    with _lock:
        _seconds_per_job[kind] = max(per_job, _seconds_per_job.get(kind, 0.0))


def attempt_prefix(prefix: str, attempt: int) -> str:
    """The job id prefix of a batch's `attempt` (0: `prefix` itself): a fresh batch
    never meets the ids of one dropped before it."""
    return prefix if attempt == 0 else f"{prefix.rstrip('_')}{attempt + 1}_"


def install_ahead(
    kind: str,
    count: int,
    planned_s: float,
    install: Callable[[int, float], T],
    first_fire: Callable[[T], float],
    undo: Callable[[T], None],
    *,
    fixed_s: float = 0.0,
) -> T:
    """`install(attempt, first_fire)` for a first fire `fixed_s` plus the larger of
    `planned_s` and what `kind` has taken so far for `count` jobs ahead of now; again
    with a fresh batch (after `undo` of the late one) while it ends past
    `first_fire(installed)`."""
    lead = fixed_s + max(planned_s, learned(kind, count))
    for attempt in range(ATTEMPTS):
        started = time.monotonic()
        installed = install(attempt, time.time() + lead)
        took = time.monotonic() - started
        _learn(kind, took, count)
        if time.time() <= first_fire(installed):
            return installed
        log(f"  {kind}: installing took {took:.1f} s, past a lead of {lead:.1f} s; again")
        undo(installed)
        # The same busy machine again: room above what the late one took.
        lead = fixed_s + max(lead, MARGIN * took)
    raise RuntimeError(f"{kind}: installing took past the first fire {ATTEMPTS} times")
