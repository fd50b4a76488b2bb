"""The scheduler's trigger classes, and the fire times they give.

A cron trigger means what crontab(5) and cron(8) of Debian mean (see `CrontabTrigger`);
an interval trigger keeps its slots on a fixed grid from its start (see
`AnchoredIntervalTrigger`). Both are APScheduler 3 triggers, pickled into
`apscheduler_jobs` under this module's path: moving or renaming them needs a conversion
of the stored jobs, as `stored_triggers.upgrade` does for the APScheduler classes stored
before them.

Every trigger is built with an explicit time zone (UTC unless one is given): a trigger
object built by hand would otherwise take the machine's local zone, not the
scheduler's. Fire times are computed on UTC instants, never by adding to a local time,
whose `fold` such arithmetic would lose in a repeated hour.
"""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from cronsim import CronSim

from app.tasks.crontab import CRONTAB_FIELDS, complete_fields, cronsim_expression, crontab_fields

# How far the shortest gap of a cron trigger is looked for: 29 years hold every
# combination of weekday, month and leap day.
GAP_SCAN_YEARS = (2000, 2029)
# How many fire times around one clock change are looked at for its real gaps.
GAP_SCAN_SLOTS = 5000


def _is_imaginary(naive: datetime, zone: ZoneInfo) -> bool:
    """A local time the clock skips (in a spring gap)."""
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]
    """crontab's schedule with cron(8)'s handling of clock changes, on cronsim.

    - Days: when both day of month and day of week are restricted, either one matching
      is enough; a field that starts with `*` (`*/2` too) counts as unrestricted.
    - A job at a fixed local time (neither its minute nor its hour field starts with
      `*`) runs once per matching local time: one that falls in a spring gap runs at the
      first minute after the jump, one in a repeated autumn hour runs at its first
      occurrence only. Computed on the local wall clock, then placed on the time line.
    - A job with a wildcard minute or hour runs at every real instant whose local time
      matches, so every real hour gets its runs (twice for the repeated hour, none
      for the skipped one).
    - `jitter` delays each run by a random time below `jitter` seconds; the next run is
      the first slot after the previous run, so with a jitter no longer than the
      shortest gap between slots (`shortest_gap`) no slot is lost and none moves.
    """

    __slots__ = ("end_date", "fields", "jitter", "source", "start_date", "timezone")

    def __init__(
        self,
        source: dict[str, str],
        *,
        timezone: ZoneInfo,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        jitter: int | None = None,
    ) -> None:
        # `source`: the fields as given; the rest follow from them (`complete_fields`).
        self.source = dict(source)
        self.fields = complete_fields(self.source)
        self.timezone = timezone
        self.start_date = start_date.astimezone(timezone) if start_date else None
        self.end_date = end_date.astimezone(timezone) if end_date else None
        self.jitter = jitter

    @property
    def expression(self) -> str:
        return cronsim_expression(self.fields)

    @property
    def fixed_time(self) -> bool:
        return not self.fields["minute"].startswith("*") and not self.fields["hour"].startswith("*")

    def slots(self, after: datetime, *, inclusive: bool = False) -> Iterator[datetime]:
        """The fire times after `after` (or at it, if `inclusive`), strictly increasing,
        before any jitter and regardless of start and end."""
        moment = after.astimezone(UTC)
        # cronsim yields times strictly after the whole second it starts from.
        origin = moment - timedelta(seconds=1) if inclusive else moment
        local = origin.astimezone(self.timezone)
        last = moment - timedelta(microseconds=1) if inclusive else moment
        try:
            if self.fixed_time:
                for naive in CronSim(self.expression, local.replace(tzinfo=None)):
                    while _is_imaginary(naive, self.timezone):
                        naive += timedelta(minutes=1)
                    # fold=0: the first of a repeated local time.
                    fire = naive.replace(tzinfo=self.timezone)
                    if fire.astimezone(UTC) > last:
                        last = fire.astimezone(UTC)
                        yield fire
            else:
                for fire in CronSim(self.expression, local):
                    if fire.astimezone(UTC) > last:
                        last = fire.astimezone(UTC)
                        yield fire.astimezone(self.timezone)
        except (StopIteration, OverflowError):
            return

    def next_slot(self, after: datetime, *, inclusive: bool) -> datetime | None:
        # Compared in UTC: two times of one zone compare by wall clock, blind to `fold`.
        if self.start_date is not None and _utc(after) < _utc(self.start_date):
            after, inclusive = self.start_date, True
        slot = next(self.slots(after, inclusive=inclusive), None)
        if slot is None or (self.end_date is not None and _utc(slot) > _utc(self.end_date)):
            return None
        return slot

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            slot = self.next_slot(previous_fire_time, inclusive=False)
        else:
            slot = self.next_slot(now, inclusive=True)
        return _jittered(slot, self.jitter)

    def shortest_gap(self, now: datetime | None = None) -> timedelta | None:
        """The shortest time between two fire times: on the wall clock over the whole
        calendar, and in real time around the zone's next clock changes."""
        sim = CronSim(self.expression, datetime(GAP_SCAN_YEARS[0], 1, 1))
        times = sorted(
            h * 3600 + m * 60 + s for h in sim.hours for m in sim.minutes for s in sim.seconds
        )
        gaps = [b - a for a, b in itertools.pairwise(times)]
        day = datetime(GAP_SCAN_YEARS[0], 1, 1).date()
        previous = None
        while day.year < GAP_SCAN_YEARS[1]:
            if day.month in sim.months and sim.match_day(day):
                if previous is not None:
                    gaps.append((day - previous).days * 86400 - times[-1] + times[0])
                previous = day
            day += timedelta(days=1)
        if not gaps:
            return None
        shortest = timedelta(seconds=min(gaps))
        reference = now or datetime.now(UTC)
        if self.start_date is not None:
            reference = max(reference, self.start_date)
        for change in _clock_changes(self.timezone, reference):
            window_start = change - min(shortest * GAP_SCAN_SLOTS, shortest + timedelta(hours=3))
            previous_fire = None
            for count, slot in enumerate(self.slots(window_start)):
                fire = _utc(slot)
                if previous_fire is not None:
                    shortest = min(shortest, fire - previous_fire)
                previous_fire = fire
                if count > GAP_SCAN_SLOTS or fire > change + timedelta(hours=3) + shortest:
                    break
        return shortest

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": 1,
            "source": self.source,
            "timezone": self.timezone,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "jitter": self.jitter,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("version", 1) > 1:
            raise ValueError(
                f"Got serialized data for version {state['version']} of "
                f"{type(self).__name__}, but only version 1 can be handled"
            )
        self.source = state["source"]
        self.fields = complete_fields(self.source)
        self.timezone = state["timezone"]
        self.start_date = state["start_date"]
        self.end_date = state["end_date"]
        self.jitter = state["jitter"]

    def __str__(self) -> str:
        # APScheduler's form for its cron trigger, in its field order.
        order = ("month", "day", "day_of_week", "hour", "minute", "second")
        shown = ", ".join(f"{f}='{self.source[f]}'" for f in order if f in self.source)
        return f"cron[{shown}]"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ({self.expression!r}, timezone='{self.timezone}')>"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _clock_changes(zone: ZoneInfo, after: datetime) -> list[datetime]:
    """The instants in the year after `after` at which the zone's UTC offset changes."""
    changes: list[datetime] = []
    day = after.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = day + timedelta(days=366)
    while day < end:
        following = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            low, high = day, following
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            changes.append(high)
        day = following
    return changes


def _jittered(slot: datetime | None, jitter: float | None) -> datetime | None:
    """The slot, delayed by a random time below `jitter` seconds (never by all of it,
    so a jitter equal to the gap to the next slot still keeps that slot)."""
    if slot is None or not jitter:
        return slot
    # Spreading load, not secrecy: any uniform source does.
    delay = int(random.random() * jitter * 1_000_000)
    return slot + timedelta(microseconds=delay)


class AnchoredIntervalTrigger(IntervalTrigger):  # type: ignore[misc]
    """APScheduler's interval trigger with its slots fixed on a grid from `start_date`.
    APScheduler's adds the interval to the previous fire time, jitter included, so
    jitter accumulates; here the next run is the slot after the one the previous run
    belonged to, and jitter (below the interval) delays a run inside its slot."""

    __slots__ = ()

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        start: datetime = self.start_date.astimezone(UTC)
        step: timedelta = self.interval
        if previous_fire_time is not None:
            elapsed = previous_fire_time - start
            count = elapsed // step + 1 if elapsed >= timedelta(0) else 0
        elif start > now:
            count = 0
        else:
            count = -((start - now) // step)
        slot = start + step * count
        if self.end_date is not None and slot > self.end_date:
            return None
        fire = _jittered(slot, self.jitter)
        assert fire is not None
        return fire.astimezone(self.timezone)


def crontab_trigger(data: dict[str, Any], *, jitter: int | None) -> CrontabTrigger:
    """The trigger of a cron spec's fields (`expression`, or the fields by name)."""
    expression = data.get("expression")
    if expression is not None:
        source = crontab_fields(expression)
    else:
        source = {f: str(data[f]) for f in CRONTAB_FIELDS if data.get(f) is not None}
        if not source:
            raise ValueError("no cron fields")
    return CrontabTrigger(
        source,
        timezone=ZoneInfo(data["timezone"]),
        start_date=data["start_date"],
        end_date=data["end_date"],
        jitter=jitter,
    )


def next_fire_times(
    trigger: BaseTrigger, count: int, now: datetime | None = None
) -> list[datetime]:
    """The slots the scheduler will fire the trigger at, as it computes them: the first
    from now, each next one from the one before. Without jitter, which only delays each
    run by less than `jitter` seconds."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if getattr(trigger, "jitter", None):
        trigger = copy.copy(trigger)
        trigger.jitter = None
    times: list[datetime] = []
    fire = trigger.get_next_fire_time(None, now)
    while fire is not None and len(times) < count:
        times.append(fire)
        previous = fire.astimezone(UTC)
        fire = trigger.get_next_fire_time(previous, previous)
        if fire is not None and fire.astimezone(UTC) <= previous:
            raise RuntimeError(f"{trigger!r} went back from {previous} to {fire}")
    return times


def fire_times_between(
    trigger: BaseTrigger, start: datetime, end: datetime, limit: int
) -> list[datetime]:
    """The slots in `[start, end)`, as `next_fire_times` computes them (without jitter),
    at most `limit + 1` of them: one more than `limit` says the window holds too many."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if getattr(trigger, "jitter", None):
        trigger = copy.copy(trigger)
        trigger.jitter = None
    times: list[datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire.astimezone(UTC) < end and len(times) <= limit:
        previous = fire.astimezone(UTC)
        if previous >= start:
            times.append(previous)
        fire = trigger.get_next_fire_time(previous, previous)
        if fire is not None and fire.astimezone(UTC) <= previous:
            raise RuntimeError(f"{trigger!r} went back from {previous} to {fire}")
    return times


def latest_fire_time(trigger: BaseTrigger, start: datetime, end: datetime) -> datetime | None:
    """The last slot in `[start, end)`, looked for in windows that grow back from `end`,
    so a long range of a frequent trigger is not walked from its start."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    span = timedelta(minutes=1)
    while True:
        since = max(start, end - span)
        slots = fire_times_between(trigger, since, end, 100_000)
        if slots and len(slots) <= 100_000:
            return slots[-1]
        if slots:
            # Too many even in this window: walk on from the last one listed.
            return latest_fire_time(trigger, slots[-1], end)
        if since == start:
            return None
        span *= 2
