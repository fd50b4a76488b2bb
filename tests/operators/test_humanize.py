"""Triggers in words, as the job list shows them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.tasks import trigger_specs
from app.tasks.humanize import describe
from app.tasks.trigger_specs import CronSpec, DateSpec, IntervalSpec


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (IntervalSpec(hours=1), "every hour"),
        (IntervalSpec(hours=6), "every 6 hours"),
        (IntervalSpec(minutes=90), "every 90 minutes"),
        (IntervalSpec(days=1, hours=2), "every 26 hours"),
        (IntervalSpec(hours=1, seconds=1), "every 1 hour 1 second"),
        (IntervalSpec(weeks=2), "every 2 weeks"),
        (IntervalSpec(seconds=0.5), "every 0.5 seconds"),
        (
            IntervalSpec(days=1, end_date=datetime(2027, 1, 1, tzinfo=UTC)),
            "every day, until 2027-01-01 00:00 UTC",
        ),
        (CronSpec(hour=3, minute=0), "every day at 03:00 UTC"),
        (CronSpec(day_of_week="sun", hour=2, minute=30), "every Sunday at 02:30 UTC"),
        (CronSpec(expression="0 3 * * *"), "every day at 03:00 UTC"),
        (
            CronSpec(expression="0 3 * * *", timezone="Europe/Paris"),
            "every day at 03:00 Europe/Paris",
        ),
        (CronSpec(expression="0 9 * * 1-5"), "every weekday (Monday to Friday) at 09:00 UTC"),
        (CronSpec(expression="30 6 * * 0,6"), "every Saturday and Sunday at 06:30 UTC"),
        (CronSpec(expression="0 22 * * 1-5/2"), "every Monday, Wednesday and Friday at 22:00 UTC"),
        # The fields form numbers weekdays as crontab does: 0 or 7 is Sunday.
        (CronSpec(day_of_week="6", hour=1, minute=0), "every Saturday at 01:00 UTC"),
        (CronSpec(day_of_week=0, hour=1, minute=0), "every Sunday at 01:00 UTC"),
        (CronSpec(day_of_week="7", hour=1, minute=0), "every Sunday at 01:00 UTC"),
        (CronSpec(expression="*/5 * * * *"), "every 5 minutes"),
        (CronSpec(expression="* * * * *"), "every minute"),
        (CronSpec(expression="* * * * * *"), "every second"),
        (CronSpec(expression="*/10 * * * * *"), "every 10 seconds"),
        (CronSpec(expression="15 * * * *"), "every hour at minute 15"),
        (CronSpec(expression="0 * * * *"), "every hour, on the hour"),
        (CronSpec(expression="0 */2 * * *"), "every 2 hours, on the hour"),
        (CronSpec(expression="0 0 1 * *"), "on the 1st of every month at 00:00 UTC"),
        (CronSpec(expression="0 0 25 12 *"), "every year on December 25 at 00:00 UTC"),
        (CronSpec(day="last", hour=0, minute=0), "on the last day of every month at 00:00 UTC"),
        (CronSpec(hour=3, minute=0, second=30), "every day at 03:00:30 UTC"),
        (CronSpec(expression="0 9-17 * * *"), "cron: hour=9-17 minute=0 second=0 (UTC)"),
        (
            DateSpec(run_date=datetime(2027, 1, 1, 9, 30, tzinfo=UTC)),
            "once, at 2027-01-01 09:30 UTC",
        ),
        # In its own time zone, not in UTC.
        (
            DateSpec(run_date=datetime(2027, 1, 1, 9, 30, tzinfo=UTC), timezone="Europe/Berlin"),
            "once, at 2027-01-01 10:30 Europe/Berlin",
        ),
        (CronSpec(expression="*/1 * * * *"), "every minute"),
        (CronSpec(expression="@daily"), "every day at 00:00 UTC"),
        (CronSpec(expression="0 9,17 * * *"), "every day at 09:00 and 17:00 UTC"),
        # crontab's rule: both day fields restricted, either one matching is enough.
        (
            CronSpec(expression="0 0 1 * 1"),
            "on the 1st of every month and every Monday at 00:00 UTC",
        ),
        (
            CronSpec(expression="0 0 1,15 * 5"),
            "on the 1st and 15th of every month and every Friday at 00:00 UTC",
        ),
        (
            CronSpec(day=1, day_of_week="mon", hour=0),
            ("on the 1st of every month and every Monday at 00:00 UTC"),
        ),
        (
            CronSpec(expression="0 0 1-7 * *"),
            "on the 1st, 2nd, 3rd, 4th, 5th, 6th and 7th of every month at 00:00 UTC",
        ),
        # A field starting with `*` counts as unrestricted, so both must match.
        (
            CronSpec(expression="0 0 */10 * 1"),
            "on the 1st, 11th, 21st and 31st of every month, when that day is also a Monday "
            "at 00:00 UTC",
        ),
        (CronSpec(expression="0 0 30 2 1"), "every Monday in February at 00:00 UTC"),
        (
            CronSpec(expression="0 12 1 jan/3 *"),
            ("on the 1st of January, April, July and October at 12:00 UTC"),
        ),
        (CronSpec(expression="*/5 * * * 1"), "every 5 minutes, every Monday (UTC)"),
        # Minute 56 is followed by minute 0: not "every 7 minutes".
        (CronSpec(expression="*/7 * * * *"), "cron: minute=*/7 second=0 (UTC)"),
        (
            CronSpec(expression="0 3 * * *", jitter=300),
            "every day at 03:00 UTC, each run up to 300 s late at random",
        ),
        (
            IntervalSpec(minutes=10, jitter=60),
            "every 10 minutes, each run up to 60 s late at random",
        ),
    ],
)
def test_described_in_words(spec: IntervalSpec | CronSpec | DateSpec, text: str) -> None:
    assert describe(trigger_specs.build_trigger(spec)) == text
