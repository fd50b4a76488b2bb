"""Triggers in words, as the job list shows them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.tasks import triggers
from app.tasks.humanize import describe
from app.tasks.triggers import CronSpec, DateSpec, IntervalSpec


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
    ],
)
def test_described_in_words(spec: IntervalSpec | CronSpec | DateSpec, text: str) -> None:
    assert describe(triggers.build_trigger(spec)) == text
