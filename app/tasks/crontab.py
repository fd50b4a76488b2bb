"""crontab(5)'s field grammar: names, macros, ranges, and the fields form's defaults.

What a field may say is checked here; when a trigger fires is `triggers.CrontabTrigger`.
"""

from __future__ import annotations

import re
from datetime import datetime

from cronsim import CronSim, CronSimError
from cronsim.cronsim import Field as CronSimField

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
        CronSim(cronsim_expression(fields), datetime(2000, 1, 1))
    except CronSimError:
        raise ValueError(
            f"day {fields['day']!r} never occurs in month {fields['month']!r}"
        ) from None


def cronsim_expression(fields: dict[str, str]) -> str:
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
