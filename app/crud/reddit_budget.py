"""The statements behind the shared rate budget (see `app.services.scraping.budget`).
Each is one conditional UPDATE, so processes racing for the same app's row never take
more slots than it holds."""

from __future__ import annotations

from datetime import datetime

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
    db: AsyncSession, app_key: str, *, now: datetime, probe_until: datetime
) -> None:
    """Past `reset_at` the window Reddit told us of has ended: what the new one holds is
    unknown until an answer says, so one request may go. Slots counted in flight then
    belong to the old window (or to a process that died)."""
    await db.execute(
        update(RedditBudget)
        .where(RedditBudget.app_key == app_key, RedditBudget.reset_at <= now)
        .values(remaining=1, in_flight=0, probing=True, reset_at=probe_until)
    )


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


async def take(
    db: AsyncSession, app_key: str, *, ticket_id: int, priority: int, stale_before: datetime
) -> bool:
    """Take a slot for the ticket if fewer live tickets are ahead of it than slots are
    left: the first `remaining` tickets in line go, the others keep waiting."""
    ahead = (
        select(func.count())
        .select_from(RedditBudgetTicket)
        .where(
            RedditBudgetTicket.app_key == app_key,
            RedditBudgetTicket.seen_at >= stale_before,
            or_(
                RedditBudgetTicket.priority < priority,
                and_(RedditBudgetTicket.priority == priority, RedditBudgetTicket.id < ticket_id),
            ),
        )
        .scalar_subquery()
    )
    result = await db.execute(
        update(RedditBudget)
        .where(RedditBudget.app_key == app_key, RedditBudget.remaining > ahead)
        .values(remaining=RedditBudget.remaining - 1, in_flight=RedditBudget.in_flight + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def get(db: AsyncSession, app_key: str) -> RedditBudget | None:
    return await db.get(RedditBudget, app_key, populate_existing=True)


async def answered(
    db: AsyncSession,
    app_key: str,
    *,
    remaining: int | None,
    reset_at: datetime | None,
) -> None:
    """A request's answer came back (or it failed): its slot is no longer in flight, and
    what Reddit's headers said, if they came, is applied.

    The requests still in flight may not have reached Reddit when it counted, so they
    are taken off what it said is left. In a known window what is left only falls: an
    answer overtaken by a later one says more is left than there is. While probing, the
    answer says what the new window holds, and when it ends."""
    others = case((RedditBudget.in_flight > 1, RedditBudget.in_flight - 1), else_=0)
    in_flight = case((RedditBudget.in_flight > 0, RedditBudget.in_flight - 1), else_=0)
    if remaining is None or reset_at is None:
        # No word from Reddit: a probe that got none lets the next request probe.
        await db.execute(
            update(RedditBudget)
            .where(RedditBudget.app_key == app_key)
            .values(
                in_flight=in_flight,
                remaining=case(
                    (and_(RedditBudget.probing, RedditBudget.in_flight <= 1), 1),
                    else_=RedditBudget.remaining,
                ),
            )
        )
        return
    said = case((literal(remaining) > others, literal(remaining) - others), else_=0)
    reset = literal(reset_at, UTCDateTime)
    await db.execute(
        update(RedditBudget)
        .where(RedditBudget.app_key == app_key)
        .values(
            in_flight=in_flight,
            remaining=case(
                (RedditBudget.probing, said),
                (RedditBudget.remaining < said, RedditBudget.remaining),
                else_=said,
            ),
            reset_at=case(
                (or_(RedditBudget.probing, RedditBudget.reset_at < reset), reset),
                else_=RedditBudget.reset_at,
            ),
            probing=False,
        )
    )
