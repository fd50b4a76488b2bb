"""The statements behind the shared rate budget (see `app.services.scraping.budget`).
Each is one conditional UPDATE, so processes racing for the same app's row never take
more permits than it holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.types import UTCDateTime
from app.models.reddit_budget import RedditBudget, RedditBudgetTicket


async def insert_if_missing(db: AsyncSession, app_key: str, *, probe_until: datetime) -> None:
    """A first budget for an app: one request, whose answer says the rest."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    await db.execute(
        insert(RedditBudget)
        .values(app_key=app_key, remaining=1, in_flight=0, reset_at=probe_until, probing=True)
        .on_conflict_do_nothing(index_elements=[RedditBudget.app_key])
    )


async def start_window_if_ended(
    db: AsyncSession,
    app_key: str,
    *,
    now: datetime,
    probe_until: datetime,
    unknown_until: datetime,
) -> bool:
    """Past `reset_at` the window Reddit told us of has ended. Permits still in flight (which
    may reach Reddit in the new window), and those Reddit counted in it already
    (`spilled`), count as taken in it; the answers of the old window's permits are not
    waited for (their process may have died). Whether a window began.

    A window holds what Reddit's headers last said one holds, less those permits; its end
    is unknown until an answer says (`unknown_until`, later than any window Reddit has).
    Before Reddit has said what a window holds, or when those permits fill it, one request
    may go (a probe), and the window ends at `probe_until` if no answer tells more."""
    carried = RedditBudget.in_flight + RedditBudget.spilled
    refill = RedditBudget.window_limit - carried
    known = and_(RedditBudget.window_limit.is_not(None), refill > 0)
    result = await db.execute(
        update(RedditBudget)
        .where(RedditBudget.app_key == app_key, RedditBudget.reset_at <= now)
        .values(
            remaining=case((known, refill), else_=1),
            taken=carried,
            spilled=0,
            in_flight=0,
            probing=~known,
            reset_at=case((known, unknown_until), else_=probe_until),
            window_number=RedditBudget.window_number + 1,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def add_ticket(db: AsyncSession, app_key: str, priority: int, now: datetime) -> int:
    ticket = RedditBudgetTicket(app_key=app_key, priority=priority, seen_at=now)
    db.add(ticket)
    await db.flush()
    return ticket.id


async def touch_ticket(db: AsyncSession, ticket_id: int, now: datetime) -> None:
    await db.execute(
        update(RedditBudgetTicket).where(RedditBudgetTicket.id == ticket_id).values(seen_at=now)
    )


async def delete_ticket(db: AsyncSession, ticket_id: int) -> None:
    await db.execute(delete(RedditBudgetTicket).where(RedditBudgetTicket.id == ticket_id))


async def delete_stale_tickets(db: AsyncSession, app_key: str, stale_before: datetime) -> None:
    await db.execute(
        delete(RedditBudgetTicket).where(
            RedditBudgetTicket.app_key == app_key, RedditBudgetTicket.seen_at < stale_before
        )
    )


def _ahead(app_key: str, *, ticket_id: int | None, priority: int, stale_before: datetime) -> Any:
    """The live tickets ahead of this one in its app's line; without a ticket, those
    ahead of one taken now."""
    later = RedditBudgetTicket.priority == priority
    if ticket_id is not None:
        later = and_(later, RedditBudgetTicket.id < ticket_id)
    return (
        select(func.count())
        .select_from(RedditBudgetTicket)
        .where(
            RedditBudgetTicket.app_key == app_key,
            RedditBudgetTicket.seen_at >= stale_before,
            or_(RedditBudgetTicket.priority < priority, later),
        )
        .scalar_subquery()
    )


async def take(
    db: AsyncSession,
    app_key: str,
    *,
    ticket_id: int | None,
    priority: int,
    stale_before: datetime,
) -> int | None:
    """Take a permit for the ticket (or for a scrape not in line yet) if fewer live
    tickets are ahead of it than permits are left: the first `remaining` tickets in line
    go, the others keep waiting. The number of the window the permit is in, or None."""
    ahead = _ahead(app_key, ticket_id=ticket_id, priority=priority, stale_before=stale_before)
    window: int | None = await db.scalar(
        update(RedditBudget)
        .where(RedditBudget.app_key == app_key, RedditBudget.remaining > ahead)
        .values(
            remaining=RedditBudget.remaining - 1,
            in_flight=RedditBudget.in_flight + 1,
            taken=RedditBudget.taken + 1,
        )
        .returning(RedditBudget.window_number)
    )
    return window


async def count_ahead(
    db: AsyncSession, app_key: str, *, ticket_id: int, priority: int, stale_before: datetime
) -> int:
    ahead = _ahead(app_key, ticket_id=ticket_id, priority=priority, stale_before=stale_before)
    return int(await db.scalar(select(ahead)) or 0)


async def get(db: AsyncSession, app_key: str) -> RedditBudget | None:
    return await db.get(RedditBudget, app_key, populate_existing=True)


async def answered(
    db: AsyncSession,
    app_key: str,
    *,
    window_number: int,
    used: int | None,
    remaining: int | None,
    reset_at: datetime | None,
    next_window_after: datetime | None,
) -> tuple[int, datetime] | None:
    """A request's answer came back (or it failed): its permit is no longer in flight, and
    what Reddit's headers said, if they came, is applied. An answer to a permit of an
    earlier window changes nothing. What is left after it and when the window ends (None
    for such an answer).

    Reddit's count may not hold the requests still in flight yet, so they are taken off
    what it said is left: those of the window's permits it has not counted (`taken` less
    `X-Ratelimit-Used`), or, without that header, every other permit in flight. In a known
    window what is left only falls: an answer overtaken by a later one says more is left
    than there is. Each answer's reset is no earlier than the window's true end (Reddit
    rounds it up, and it was counted before the answer came), so the earliest is kept;
    one that ends after `next_window_after` is from Reddit's next window (the permit
    reached it after the turn), and counts there. While probing, the answer says what
    the new window holds, and when it ends. Used and remaining together say what a
    window holds: the next one is filled with that."""
    others_in_flight = case((RedditBudget.in_flight > 1, RedditBudget.in_flight - 1), else_=0)
    in_flight = case((RedditBudget.in_flight > 0, RedditBudget.in_flight - 1), else_=0)
    this_window = and_(RedditBudget.app_key == app_key, RedditBudget.window_number == window_number)
    if remaining is None or reset_at is None or next_window_after is None:
        # No word from Reddit: a probe that got none lets the next request probe.
        no_word = await db.execute(
            update(RedditBudget)
            .where(this_window)
            .values(
                in_flight=in_flight,
                remaining=case(
                    (and_(RedditBudget.probing, RedditBudget.in_flight <= 1), 1),
                    else_=RedditBudget.remaining,
                ),
            )
            .returning(RedditBudget.remaining, RedditBudget.reset_at)
        )
        row = no_word.one_or_none()
        return None if row is None else (row[0], row[1])
    limit: Any = RedditBudget.window_limit
    if used is None:
        others: Any = others_in_flight
    else:
        uncounted = RedditBudget.taken - literal(used)
        others = case((uncounted > 0, uncounted), else_=0)
        limit = literal(used + remaining)
    said = case((literal(remaining) > others, literal(remaining) - others), else_=0)
    reset = literal(reset_at, UTCDateTime)
    spilled = and_(
        ~RedditBudget.probing,
        RedditBudget.reset_at < literal(next_window_after, UTCDateTime),
    )
    result = await db.execute(
        update(RedditBudget)
        .where(this_window)
        .values(
            in_flight=in_flight,
            spilled=case((spilled, RedditBudget.spilled + 1), else_=RedditBudget.spilled),
            remaining=case(
                (spilled, RedditBudget.remaining),
                (RedditBudget.probing, said),
                (RedditBudget.remaining < said, RedditBudget.remaining),
                else_=said,
            ),
            reset_at=case(
                (spilled, RedditBudget.reset_at),
                (or_(RedditBudget.probing, RedditBudget.reset_at > reset), reset),
                else_=RedditBudget.reset_at,
            ),
            probing=False,
            window_limit=case((spilled, RedditBudget.window_limit), else_=limit),
        )
        .returning(RedditBudget.remaining, RedditBudget.reset_at)
    )
    row = result.one_or_none()
    return None if row is None else (row[0], row[1])
