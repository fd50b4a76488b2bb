"""Triggers as JSON: validation, the scheduler's trigger classes, and back.

A cron trigger means what crontab(5) and cron(8) of Debian mean (see `CrontabTrigger`);
an interval trigger keeps its slots on a fixed grid from its start (see
`AnchoredIntervalTrigger`). Both are APScheduler 3 triggers, pickled into
`apscheduler_jobs` under this module's path: moving or renaming them needs a conversion
of the stored jobs, as `upgrade` does for the APScheduler classes stored before them.

Every trigger is built with an explicit time zone (UTC unless one is given): a trigger
object built by hand would otherwise take the machine's local zone, not the
scheduler's. Fire times are computed on UTC instants, never by adding to a local time,
whose `fold` such arithmetic would lose in a repeated hour.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from cronsim import CronSim, CronSimError
from cronsim.cronsim import Field as CronSimField
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.schemas.types import TimeZone, union_member_schema

# The crontab fields, least significant first, as a six-field expression orders them.
CRONTAB_FIELDS = ("second", "minute", "hour", "day", "month", "day_of_week")
# The fields form's defaults, as APScheduler's: a field less significant than the most
# significant one given starts at its first value, a more significant one is `*`.
SIGNIFICANCE = ("month", "day", "day_of_week", "hour", "minute", "second")
FIRST_VALUES = {"month": "1", "day": "1", "day_of_week": "*", "hour": "0", "minute": "0"}
FIRST_VALUES["second"] = "0"
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CRONSIM_FIELD = {
    "second": CronSimField.SECOND,
    "minute": CronSimField.MINUTE,
    "hour": CronSimField.HOUR,
    "day": CronSimField.DAY,
    "month": CronSimField.MONTH,
    "day_of_week": CronSimField.DOW,
}
_NAMES = {"month": MONTH_NAMES, "day_of_week": WEEKDAY_NAMES}
FIELD_RANGES = {
    "second": "0-59",
    "minute": "0-59",
    "hour": "0-23",
    "day": "1-31",
    "month": "1-12 or jan-dec",
    "day_of_week": "0-7 or sun-sat, 0 and 7 being Sunday",
}
# crontab(5)'s grammar of one list item: `*` or a value or a range, then maybe a step.
# ASCII only: `\d` would take any script's digits.
_ITEM = re.compile(
    r"(?:\*|(?P<low>[0-9]+|[a-z]{3})(?:-(?P<high>[0-9]+|[a-z]{3}))?)(?:/(?P<step>[0-9]+))?",
    re.ASCII | re.IGNORECASE,
)
# The fields form keeps APScheduler's `last` (the last day of the month).
LAST_DAY = "last"

# Bounds on what a trigger may say, so that no date arithmetic can leave datetime's range.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
MAX_INTERVAL = timedelta(days=3660)
MAX_JITTER_SECONDS = 31 * 86400
# How far the shortest gap of a cron trigger is looked for: 29 years hold every
# combination of weekday, month and leap day.
GAP_SCAN_YEARS = (2000, 2029)
# How many fire times around one clock change are looked at for its real gaps.
GAP_SCAN_SLOTS = 5000


def _bounded_instant(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset, e.g. 2027-01-01T00:00:00Z")
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        instant = LATEST
    if not EARLIEST <= instant < LATEST:
        raise ValueError(
            f"must be from {EARLIEST:%Y-%m-%dT%H:%M:%SZ} and before {LATEST:%Y-%m-%dT%H:%M:%SZ}"
        )
    return value


def _finite(data: Any) -> Any:
    """JSON has no NaN or Infinity, so a 422 that showed them could not be sent: they
    reach the fields' own checks as text, whose errors show the text."""
    if isinstance(data, dict):
        return {
            key: str(value) if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in data.items()
        }
    return data


Instant = Annotated[datetime, AfterValidator(_bounded_instant)]
Jitter = Annotated[int, Field(ge=0, le=MAX_JITTER_SECONDS)]
# A cron field in the fields form: crontab's syntax, or one number.
CronValue = Annotated[str, Field(max_length=200)] | StrictInt


class _TriggerBase(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=union_member_schema())

    @model_validator(mode="before")
    @classmethod
    def _json_numbers(cls, data: Any) -> Any:
        return _finite(data)

    timezone: TimeZone = "UTC"
    start_date: Instant | None = None
    end_date: Instant | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _TriggerBase:
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        return self


class IntervalSpec(_TriggerBase):
    model_config = ConfigDict(
        json_schema_extra=union_member_schema(
            one_positive=("weeks", "days", "hours", "minutes", "seconds")
        )
    )

    type: Literal["interval"] = "interval"
    weeks: int = Field(default=0, ge=0, le=MAX_INTERVAL.days // 7)
    days: int = Field(default=0, ge=0, le=MAX_INTERVAL.days)
    hours: int = Field(default=0, ge=0, le=MAX_INTERVAL.days * 24)
    minutes: int = Field(default=0, ge=0, le=MAX_INTERVAL.days * 1440)
    seconds: float = Field(default=0, ge=0, le=MAX_INTERVAL.total_seconds(), allow_inf_nan=False)
    # Last, so that its check sees the interval.
    jitter: Jitter | None = None

    @field_validator("jitter")
    @classmethod
    def _within_interval(cls, value: int | None, info: ValidationInfo) -> int | None:
        units = ("weeks", "days", "hours", "minutes", "seconds")
        if value and all(unit in info.data for unit in units):
            interval = timedelta(**{unit: info.data[unit] for unit in units})
            if interval > timedelta(0) and value > interval.total_seconds():
                raise ValueError(
                    f"must not be longer than the interval ({interval.total_seconds():g} s): "
                    "a run moves inside its own slot"
                )
        return value

    @model_validator(mode="after")
    def _positive(self) -> IntervalSpec:
        if self.interval <= timedelta(0):
            raise ValueError("interval must be greater than zero")
        if self.interval > MAX_INTERVAL:
            raise ValueError(f"interval must be at most {MAX_INTERVAL.days} days")
        return self

    @property
    def interval(self) -> timedelta:
        return timedelta(
            weeks=self.weeks,
            days=self.days,
            hours=self.hours,
            minutes=self.minutes,
            seconds=self.seconds,
        )


class CronSpec(_TriggerBase):
    """A crontab `expression` (minute hour day month day-of-week, a sixth leading field
    for seconds, or a macro such as `@daily`), or the same fields by name. Both forms
    mean what crontab means, weekday numbers included: 0 or 7 is Sunday."""

    type: Literal["cron"] = "cron"
    expression: str | None = Field(default=None, max_length=500)
    month: CronValue | None = None
    day: CronValue | None = None
    day_of_week: CronValue | None = None
    hour: CronValue | None = None
    minute: CronValue | None = None
    second: CronValue | None = None
    # Last, so that its check sees the whole trigger.
    jitter: Jitter | None = None

    @field_validator("expression")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            crontab_fields(value)
        return value

    @field_validator(*CRONTAB_FIELDS)
    @classmethod
    def _field_parses(cls, value: str | int | None, info: ValidationInfo) -> str | int | None:
        if value is not None:
            assert info.field_name is not None
            check_field(info.field_name, str(value), allow_last=True)
        return value

    @field_validator("jitter")
    @classmethod
    def _within_gap(cls, value: int | None, info: ValidationInfo) -> int | None:
        if not value:
            return value
        try:
            trigger = _crontab_trigger(info.data, jitter=None)
            check_days(trigger.fields)
        except (KeyError, ValueError):
            return value  # the fields' own errors say what is wrong
        gap = trigger.shortest_gap()
        if gap is not None and value > gap.total_seconds():
            raise ValueError(
                f"must not be longer than the shortest gap between fire times "
                f"({gap.total_seconds():g} s): a run moves inside its own slot"
            )
        return value

    @model_validator(mode="after")
    def _one_form(self) -> CronSpec:
        fields = self.given_fields()
        if self.expression is not None and fields:
            raise ValueError("give either `expression` or cron fields, not both")
        if self.expression is None and not fields:
            raise ValueError("give a crontab `expression` or at least one cron field")
        if fields:
            check_days(complete_fields(fields))
        return self

    def given_fields(self) -> dict[str, str]:
        return {f: str(getattr(self, f)) for f in CRONTAB_FIELDS if getattr(self, f) is not None}


class DateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=union_member_schema())

    type: Literal["date"] = "date"
    run_date: Instant
    timezone: TimeZone = "UTC"

    @model_validator(mode="before")
    @classmethod
    def _json_numbers(cls, data: Any) -> Any:
        return _finite(data)


TriggerSpec = Annotated[IntervalSpec | CronSpec | DateSpec, Field(discriminator="type")]
AnySpec = IntervalSpec | CronSpec | DateSpec


# --- crontab fields --------------------------------------------------------------------


def check_field(name: str, text: str, *, allow_last: bool = False) -> None:
    """Raise ValueError unless `text` is a valid crontab field `name` (crontab(5): lists
    of `*`, values and ranges of ASCII numbers or of the field's English names, each
    maybe with a step)."""
    if allow_last and name == "day" and text.strip().lower() == LAST_DAY:
        return
    names = _NAMES.get(name, ())
    for item in text.split(","):
        match = _ITEM.fullmatch(item)
        words = [w for w in (match.group("low"), match.group("high")) if w] if match else []
        if match is None or any(w.isalpha() and w.lower() not in names for w in words):
            raise ValueError(f"{name} {text!r}: {item!r} is not a crontab value, range or step")
        try:
            if len(words) == 2:
                low, high = (_CRONSIM_FIELD[name].int(w.upper()) for w in words)
                if high < low:
                    raise ValueError(f"{name} {text!r}: the range {item!r} runs backwards")
            _CRONSIM_FIELD[name].parse(item.upper())
        except CronSimError:
            raise ValueError(
                f"{name} {text!r}: {item!r} is out of range (values {FIELD_RANGES[name]})"
            ) from None


def crontab_fields(expression: str) -> dict[str, str]:
    """The six fields of a crontab expression or macro, by name."""
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise ValueError(f"unknown macro {text!r}; known: {', '.join(MACROS)}")
        text = MACROS[text.lower()]
    values = text.split()
    if len(values) == 5:
        values.insert(0, "0")
    if len(values) != 6:
        raise ValueError(
            "a crontab expression has 5 fields (or 6, with seconds first), "
            f"got {len(values)}: {expression!r}"
        )
    fields = dict(zip(CRONTAB_FIELDS, values, strict=True))
    for name, value in fields.items():
        check_field(name, value)
    check_days(fields)
    return fields


def check_days(fields: dict[str, str]) -> None:
    """Raise ValueError for days no month has, such as `0 0 31 2 *` (every February
    31st) and `0 0 30 2 *`: a trigger that would never fire."""
    try:
        CronSim(_cronsim_expression(fields), datetime(2000, 1, 1))
    except CronSimError:
        raise ValueError(
            f"day {fields['day']!r} never occurs in month {fields['month']!r}"
        ) from None


def _cronsim_expression(fields: dict[str, str]) -> str:
    """Six fields, seconds first, as cronsim reads them."""
    values = [fields[f] for f in CRONTAB_FIELDS]
    if values[3].lower() == LAST_DAY:
        values[3] = "L"
    return " ".join(values)


def complete_fields(given: dict[str, str]) -> dict[str, str]:
    """The fields form with APScheduler's defaults filled in (see `SIGNIFICANCE`)."""
    last = max(SIGNIFICANCE.index(f) for f in given)
    return {
        f: given.get(f, FIRST_VALUES[f] if SIGNIFICANCE.index(f) > last else "*")
        for f in CRONTAB_FIELDS
    }


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
        return _cronsim_expression(self.fields)

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
        reference = max(now or datetime.now(UTC), self.start_date or EARLIEST)
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


# --- specs to triggers and back ----------------------------------------------------------


def _crontab_trigger(data: dict[str, Any], *, jitter: int | None) -> CrontabTrigger:
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


def build_trigger(spec: AnySpec) -> BaseTrigger:
    zone = ZoneInfo(spec.timezone)
    if isinstance(spec, IntervalSpec):
        return AnchoredIntervalTrigger(
            weeks=spec.weeks,
            days=spec.days,
            hours=spec.hours,
            minutes=spec.minutes,
            seconds=spec.seconds,
            start_date=spec.start_date,
            end_date=spec.end_date,
            timezone=zone,
            jitter=spec.jitter,
        )
    if isinstance(spec, CronSpec):
        return _crontab_trigger(spec.model_dump(), jitter=spec.jitter)
    return DateTrigger(run_date=spec.run_date.astimezone(zone), timezone=zone)


def check_fires(spec: AnySpec, now: datetime | None = None) -> None:
    """Reject a trigger that would never fire again (a past date, an end before now)."""
    now = now or datetime.now(UTC)
    if isinstance(spec, DateSpec) and spec.run_date <= now:
        raise ValueError("run_date is in the past")
    if next_fire_times(build_trigger(spec), 1, now) == []:
        raise ValueError("this trigger never fires after now")


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


def describe_trigger(trigger: BaseTrigger) -> dict[str, Any]:
    """A stored trigger as JSON (the shape `TriggerSpec` accepts)."""
    trigger = upgrade(trigger) or trigger
    if isinstance(trigger, IntervalTrigger):
        total = trigger.interval.total_seconds()
        out: dict[str, Any] = {"type": "interval"}
        for unit, size in (("weeks", 604800), ("days", 86400), ("hours", 3600), ("minutes", 60)):
            if total >= size and total % size == 0:
                out[unit] = int(total // size)
                break
        else:
            out["seconds"] = total
        out["start_date"] = trigger.start_date.isoformat() if trigger.start_date else None
        out["end_date"] = trigger.end_date.isoformat() if trigger.end_date else None
        out["timezone"] = str(trigger.timezone)
        out["jitter"] = trigger.jitter
        return out
    if isinstance(trigger, CrontabTrigger):
        return {
            "type": "cron",
            **trigger.source,
            "start_date": trigger.start_date.isoformat() if trigger.start_date else None,
            "end_date": trigger.end_date.isoformat() if trigger.end_date else None,
            "timezone": str(trigger.timezone),
            "jitter": trigger.jitter,
        }
    if isinstance(trigger, CronTrigger):
        # Stored before crontab semantics, with what they cannot say (see `upgrade`):
        # APScheduler's own fields and meaning.
        out = {"type": "cron", "legacy": True}
        for field in trigger.fields:
            if not field.is_default:
                out[field.name] = str(field)
        out["timezone"] = str(trigger.timezone)
        return out
    if isinstance(trigger, DateTrigger):
        return {
            "type": "date",
            "run_date": trigger.run_date.isoformat(),
            "timezone": str(trigger.run_date.tzinfo),
        }
    return {"type": type(trigger).__name__}


def signature(trigger: BaseTrigger) -> tuple[Any, ...]:
    """What defines when a trigger fires, without its anchor: two triggers with the same
    signature fire on the same pattern, so a stored job is left as it is."""
    if isinstance(trigger, IntervalTrigger):
        return ("interval", trigger.interval, str(trigger.timezone))
    if isinstance(trigger, CrontabTrigger):
        return ("crontab", tuple(trigger.fields.items()), str(trigger.timezone))
    if isinstance(trigger, CronTrigger):
        return ("cron", str(trigger), str(trigger.timezone))
    if isinstance(trigger, DateTrigger):
        return ("date", trigger.run_date)
    return (repr(trigger),)


# --- triggers stored by earlier versions -------------------------------------------------


def upgrade(trigger: BaseTrigger) -> BaseTrigger | None:
    """The trigger this code would build for one stored before it, with the same
    meaning; None if `trigger` is current or cannot be said exactly.

    An APScheduler interval trigger becomes an `AnchoredIntervalTrigger` (the same
    state; only jitter works differently). An APScheduler cron trigger becomes a
    `CrontabTrigger` when crontab can say the same days: not when it restricts the year
    or the week, nor both day of month and day of week (APScheduler wants both to
    match, crontab either), nor days such as `1st mon`. Weekday numbers are translated
    (APScheduler counts from Monday = 0)."""
    if type(trigger) is IntervalTrigger:
        anchored: AnchoredIntervalTrigger = AnchoredIntervalTrigger.__new__(AnchoredIntervalTrigger)
        anchored.__setstate__(trigger.__getstate__())
        return anchored
    if type(trigger) is not CronTrigger:
        return None
    fields = {f.name: f for f in trigger.fields}
    if str(fields["year"]) != "*" or str(fields["week"]) != "*":
        return None
    day, weekday = str(fields["day"]), str(fields["day_of_week"])
    if day != "*" and weekday != "*":
        return None
    source = {name: str(fields[name]) for name in SIGNIFICANCE if not fields[name].is_default}
    if "day_of_week" in source:
        source["day_of_week"] = _crontab_weekdays(fields["day_of_week"])
    if not source:
        source = {"second": "0"}
    try:
        for name, value in source.items():
            check_field(name, value, allow_last=True)
    except ValueError:
        return None
    if complete_fields(source) != {
        name: str(fields[name]) if name != "day_of_week" else source.get(name, weekday)
        for name in CRONTAB_FIELDS
    }:
        return None
    return CrontabTrigger(
        source,
        timezone=ZoneInfo(str(trigger.timezone)),
        start_date=trigger.start_date,
        end_date=trigger.end_date,
        jitter=trigger.jitter,
    )


def _crontab_weekdays(field: Any) -> str:
    """An APScheduler day-of-week field (Monday = 0) as crontab weekday names."""
    days = []
    monday = datetime(2024, 1, 1)
    for offset in range(7):
        date = monday + timedelta(days=offset)
        if any(expr.get_next_value(date, field) == offset for expr in field.expressions):
            days.append(WEEKDAY_NAMES[(offset + 1) % 7])
    if len(days) == 7:
        return "*"
    return ",".join(sorted(days, key=WEEKDAY_NAMES.index))
