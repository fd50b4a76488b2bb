"""One rate budget per Reddit app, shared by every process that scrapes with it.

Reddit gives each OAuth client a number of requests per window and says on every
answer how many are left (`X-Ratelimit-Remaining`) and when the window ends
(`X-Ratelimit-Reset`). The budget lives in the database (`reddit_budgets`, a row per
app), so API processes and the scheduler leader draw from the same one:

- Before each request a scrape takes a slot with one conditional UPDATE (`remaining >
  0`); with none left it waits, until the window ends or a slot comes back, for as long
  as the scrape's timeout allows.
- Every answer's headers set what is left, less the requests still in flight; within a
  window the count only falls, so answers arriving out of order cannot inflate it.
- Nothing is assumed about a window before Reddit has described it: a new app, or a
  window that has ended, gets one request (a probe), whose answer tells the rest.

Waiting scrapes queue (`reddit_budget_tickets`): slots go to tickets in order, manual
scrapes before scheduled ones, then by arrival. A scrape has one request waiting at a
time and queues again at the back after each, so the scrapes waiting on an app take
turns: one bot with many subreddits cannot starve the others.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from app.crud import reddit_budget as budget_crud
from app.db.session import Database

# Reddit's reset is whole seconds; this much later the window has surely ended.
RESET_MARGIN_SECONDS = 1.0
# How often a waiting scrape looks again when slots are left but others are ahead.
POLL_SECONDS = 0.05
# A waiting scrape refreshes its ticket this often; one not refreshed for STALE is a
# dead process's and no longer holds anyone up.
TICKET_REFRESH_SECONDS = 5.0
TICKET_STALE_SECONDS = 30.0
MANUAL_PRIORITY = 0
SCHEDULED_PRIORITY = 1


class RateBudget:
    """The budget of one app, as one scrape draws from it."""

    def __init__(
        self, database: Database, app_key: str, *, priority: int, probe_seconds: float
    ) -> None:
        self.database = database
        self.app_key = app_key
        self.priority = priority
        # How long a probe may go unanswered before another may be sent: a request's
        # timeout (it has an answer or has failed by then).
        self.probe_seconds = probe_seconds

    async def take(self) -> float:
        """Wait for a slot and take it; the seconds waited (0 if one was free)."""
        ticket_id: int | None = None
        try:
            ticket_id, delay = await self._try(None)
            if delay is None:
                ticket_id = None
                return 0.0
            started = touched = time.monotonic()
            while delay is not None:
                await asyncio.sleep(delay)
                if time.monotonic() - touched >= TICKET_REFRESH_SECONDS:
                    async with self.database.transaction() as db:
                        await budget_crud.touch_ticket(db, ticket_id, datetime.now(UTC))
                    touched = time.monotonic()
                _, delay = await self._try(ticket_id)
            ticket_id = None
            return time.monotonic() - started
        finally:
            if ticket_id is not None:
                async with self.database.transaction() as db:
                    await budget_crud.delete_ticket(db, ticket_id)

    async def _try(self, ticket_id: int | None) -> tuple[int, float | None]:
        """One attempt, in one transaction: the ticket, and None if a slot was taken
        (the ticket is gone then), else how long to wait before the next attempt."""
        now = datetime.now(UTC)
        probe_until = now + timedelta(seconds=self.probe_seconds)
        async with self.database.transaction() as db:
            if ticket_id is None:
                await budget_crud.insert_if_missing(db, self.app_key, probe_until=probe_until)
                await budget_crud.delete_stale_tickets(
                    db, self.app_key, now - timedelta(seconds=TICKET_STALE_SECONDS)
                )
                ticket_id = await budget_crud.add_ticket(db, self.app_key, self.priority, now)
            await budget_crud.start_window_if_ended(
                db, self.app_key, now=now, probe_until=probe_until
            )
            taken = await budget_crud.take(
                db,
                self.app_key,
                ticket_id=ticket_id,
                priority=self.priority,
                stale_before=now - timedelta(seconds=TICKET_STALE_SECONDS),
            )
            if taken:
                await budget_crud.delete_ticket(db, ticket_id)
                return ticket_id, None
            budget = await budget_crud.get(db, self.app_key)
        if budget is None or budget.remaining > 0 or budget.probing:
            # Others are ahead, or the probe's answer will say what is left.
            return ticket_id, POLL_SECONDS
        until_reset = (budget.reset_at - now).total_seconds()
        return ticket_id, min(max(until_reset, POLL_SECONDS), TICKET_REFRESH_SECONDS)

    async def answered(self, remaining: float | None, reset_seconds: float | None) -> None:
        """The slot's request has its answer (or failed for good, without one)."""
        reset_at = None
        if reset_seconds is not None:
            reset_at = datetime.now(UTC) + timedelta(
                seconds=max(reset_seconds, 0.0) + RESET_MARGIN_SECONDS
            )
        async with self.database.transaction() as db:
            await budget_crud.answered(
                db,
                self.app_key,
                remaining=None if remaining is None else int(remaining),
                reset_at=reset_at,
            )
