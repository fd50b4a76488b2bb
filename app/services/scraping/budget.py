"""One rate budget per Reddit app, shared by every process that scrapes with it.

Reddit gives each OAuth client a number of requests per window and says on every
answer how many it has counted (`X-Ratelimit-Used`), how many are left
(`X-Ratelimit-Remaining`) and when the window ends (`X-Ratelimit-Reset`). The budget
lives in the database (`reddit_budgets`, a row per app), so API processes, the
scheduler leader and workers draw from the same one:

- Before each request a scrape takes a permit with one conditional UPDATE (`remaining >
  0`); with none left it waits, until the window ends or a permit comes back, for as long
  as the scrape's timeout allows.
- Every answer's headers set what is left, less the window's permits Reddit has not
  counted yet; within a window the count only falls, so answers arriving out of order
  cannot inflate it.
- Nothing is assumed about a window before Reddit has described it: a new app gets
  one request (a probe), whose answer tells the rest. A window ends at the earliest
  reset its answers allow, and the next one holds what the last answer said a window
  holds (used plus remaining), less the permits that may reach Reddit in it from the
  window before (still in flight, or counted in it already): waiting scrapes go as
  soon as Reddit's new window has begun, without waiting for a probe's answer.

Waiting scrapes queue (`reddit_budget_tickets`): permits go to tickets in order, manual
scrapes before scheduled ones, then by arrival. A scrape has one request waiting at a
time and queues again at the back after each, so the scrapes waiting on an app take
turns: one bot with many subreddits cannot starve the others.

A waiting scrape sleeps until its app's window ends, or until this process changes the
budget in a way that may let it go (an answer, a new window, a ticket leaving the line);
what other processes change it sees by polling, less often the further back in line it
is, so a long line does not flood the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.crud import reddit_budget as budget_crud
from app.db.session import Database

# Answers' resets are upper bounds of the window's end taken on this host's clock; this
# much later leaves room for the clocks of the hosts sharing the budget to differ.
RESET_MARGIN_SECONDS = 0.1
# Reddit's reset is whole seconds, rounded up: the answers of one window put its end
# less than this apart (an answer whose end is later is from the next window).
RESET_ROUNDING_SECONDS = 1.0
# Reddit's longest window: a window whose end no answer has told yet ends by then.
LONGEST_WINDOW_SECONDS = 600.0
# How often the first in line looks again while the budget may change elsewhere; one
# further back looks this much less often per ticket ahead of it.
POLL_SECONDS = 0.05
# A waiting scrape refreshes its ticket this often; one not refreshed for STALE is a
# dead process's and no longer holds anyone up.
TICKET_REFRESH_SECONDS = 5.0
TICKET_STALE_SECONDS = 30.0
MANUAL_PRIORITY = 0
SCHEDULED_PRIORITY = 1


@dataclass(frozen=True)
class Permit:
    """A permit taken: the window it is in, and the seconds waited for it."""

    window_number: int
    waited: float


@dataclass(frozen=True)
class _Look:
    """What one attempt saw: a permit taken, or the line and the budget as they were."""

    permit_window: int | None
    ahead: int = 0
    remaining: int = 0
    probing: bool = False
    reset_at: datetime | None = None


class _Wakeups:
    """The scrapes of this process waiting on each app's budget, woken when this process
    changes it. Waiters may be on any thread's event loop (the API's, the scheduler's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        # The end of each app's window as this process last applied it.
        self._ends: dict[str, datetime] = {}

    @contextmanager
    def waiting(self, app_key: str) -> Iterator[asyncio.Event]:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.setdefault(app_key, set()).add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                waiters = self._waiting[app_key]
                waiters.discard(entry)
                if not waiters:
                    del self._waiting[app_key]

    def answered(self, app_key: str, remaining: int, reset_at: datetime) -> None:
        """An answer was applied: those waiting may go if permits are left, or must sleep
        until another time if it told when the window ends."""
        with self._lock:
            moved = self._ends.get(app_key) != reset_at
            self._ends[app_key] = reset_at
        if remaining > 0 or moved:
            self.wake(app_key)

    def wake(self, app_key: str) -> None:
        with self._lock:
            waiters = list(self._waiting.get(app_key, ()))
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile
                loop.call_soon_threadsafe(event.set)


_wakeups = _Wakeups()


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

    async def take(self) -> Permit:
        """Wait for a permit and take it."""
        ticket_id: int | None = None
        with _wakeups.waiting(self.app_key) as woken:
            try:
                ticket_id, look = await self._try(None)
                if look.permit_window is not None:
                    return Permit(look.permit_window, 0.0)
                started = touched = time.monotonic()
                while look.permit_window is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), self._delay(look))
                    woken.clear()
                    if ticket_id is not None and time.monotonic() - touched >= (
                        TICKET_REFRESH_SECONDS
                    ):
                        async with self.database.transaction() as db:
                            await budget_crud.touch_ticket(db, ticket_id, datetime.now(UTC))
                        touched = time.monotonic()
                    _, look = await self._try(ticket_id)
                ticket_id = None
                return Permit(look.permit_window, time.monotonic() - started)
            finally:
                if ticket_id is not None:
                    async with self.database.transaction() as db:
                        await budget_crud.delete_ticket(db, ticket_id)
                    # Those behind it may go now.
                    _wakeups.wake(self.app_key)

    def _delay(self, look: _Look) -> float:
        """How long to sleep, unless woken, before the next attempt."""
        if look.remaining > look.ahead:
            return 0.0  # a permit came free between the take and the look
        until_reset = TICKET_REFRESH_SECONDS
        if look.reset_at is not None:
            until_reset = (look.reset_at - datetime.now(UTC)).total_seconds()
        if look.remaining == 0 and not look.probing:
            # Nothing is left before the window ends.
            return min(max(until_reset, 0.0), TICKET_REFRESH_SECONDS)
        # A probe's answer, or those ahead taking what is left, will say more; those may
        # happen in another process.
        poll = POLL_SECONDS * (1 + look.ahead - look.remaining)
        return min(poll, max(until_reset, 0.0), TICKET_REFRESH_SECONDS)

    async def _try(self, ticket_id: int | None) -> tuple[int | None, _Look]:
        """One attempt, in one transaction: the ticket, and what it saw. A scrape gets a
        ticket (a place at the back of the line) only when no permit is free for it, and
        gives it up with the permit it takes."""
        now = datetime.now(UTC)
        probe_until = now + timedelta(seconds=self.probe_seconds)
        stale_before = now - timedelta(seconds=TICKET_STALE_SECONDS)
        async with self.database.transaction() as db:
            began = await budget_crud.start_window_if_ended(
                db,
                self.app_key,
                now=now,
                probe_until=probe_until,
                unknown_until=now + timedelta(seconds=LONGEST_WINDOW_SECONDS),
            )
            window = await budget_crud.take(
                db,
                self.app_key,
                ticket_id=ticket_id,
                priority=self.priority,
                stale_before=stale_before,
            )
            budget = None
            if window is None:
                budget = await budget_crud.get(db, self.app_key)
                if budget is None:
                    await budget_crud.insert_if_missing(db, self.app_key, probe_until=probe_until)
                    window = await budget_crud.take(
                        db,
                        self.app_key,
                        ticket_id=ticket_id,
                        priority=self.priority,
                        stale_before=stale_before,
                    )
                    budget = await budget_crud.get(db, self.app_key)
            if window is not None:
                if ticket_id is not None:
                    await budget_crud.delete_ticket(db, ticket_id)
                look = _Look(window)
            else:
                assert budget is not None  # inserted above, never deleted
                if ticket_id is None:
                    await budget_crud.delete_stale_tickets(db, self.app_key, stale_before)
                    ticket_id = await budget_crud.add_ticket(db, self.app_key, self.priority, now)
                ahead = await budget_crud.count_ahead(
                    db,
                    self.app_key,
                    ticket_id=ticket_id,
                    priority=self.priority,
                    stale_before=stale_before,
                )
                look = _Look(None, ahead, budget.remaining, budget.probing, budget.reset_at)
        if began and window is None:
            # The new window's permits (or its probe) are for those ahead in line.
            _wakeups.wake(self.app_key)
        return ticket_id, look

    async def answered(
        self,
        permit: Permit,
        *,
        used: float | None,
        remaining: float | None,
        reset_seconds: float | None,
    ) -> None:
        """The permit's request has its answer (or failed for good, without one)."""
        reset_at = next_window_after = None
        if reset_seconds is not None:
            reset_at = datetime.now(UTC) + timedelta(
                seconds=max(reset_seconds, 0.0) + RESET_MARGIN_SECONDS
            )
            next_window_after = reset_at - timedelta(seconds=RESET_ROUNDING_SECONDS)
        async with self.database.transaction() as db:
            after = await budget_crud.answered(
                db,
                self.app_key,
                window_number=permit.window_number,
                used=None if used is None else int(used),
                remaining=None if remaining is None else int(remaining),
                reset_at=reset_at,
                next_window_after=next_window_after,
            )
        if after is not None:
            _wakeups.answered(self.app_key, *after)
