"""A run's logs: the `logging` records emitted while its task body runs, kept with the run.

One handler on the root logger hands each record to the run whose context it was
emitted in (a context variable), so concurrent runs on one event loop keep their own
lines, and so do the tasks and threads a run starts (they copy its context). Whatever
runs a task body, the leader's loop or another process, wraps it in `capture` and
stores the lines with `store`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from app.crud import task_execution as execution_crud
from app.db.session import Database

logger = logging.getLogger(__name__)

# What a run captures: INFO and up, whatever the process prints on its console.
CAPTURED_LEVEL = logging.INFO
# Counted per line on top of its message, for its time and level.
LINE_OVERHEAD_BYTES = 48

_current: ContextVar[RunLog | None] = ContextVar("run_log", default=None)
_install_lock = threading.Lock()
_handler: _RunLogHandler | None = None


class RunLog:
    """The lines of one run, at most `max_bytes` of them; the rest are counted."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.lines: list[dict[str, Any]] = []
        self.size = 0
        self.dropped_lines = 0
        self.dropped_bytes = 0
        self._lock = threading.Lock()

    @property
    def truncated(self) -> bool:
        return self.dropped_lines > 0

    def add(self, at: datetime, level: str, message: str) -> None:
        size = len(message.encode("utf-8")) + LINE_OVERHEAD_BYTES
        with self._lock:
            room = self.max_bytes - self.size
            if self.truncated or room <= LINE_OVERHEAD_BYTES:
                self.dropped_lines += 1
                self.dropped_bytes += size
                return
            if size > room:
                # The first line that does not fit is kept in part, and marked.
                kept = message.encode("utf-8")[: room - LINE_OVERHEAD_BYTES]
                message = kept.decode("utf-8", errors="ignore") + "…"
                self.dropped_lines += 1
                self.dropped_bytes += size - room
                size = room
            self.lines.append({"time": at.isoformat(), "level": level, "message": message})
            self.size += size

    def entries(self) -> list[dict[str, Any]]:
        """The lines as stored: a cut log ends with a line saying what was left out."""
        with self._lock:
            lines = list(self.lines)
            if self.truncated:
                lines.append(
                    {
                        "time": datetime.now(UTC).isoformat(),
                        "level": "WARNING",
                        "message": (
                            f"log truncated at RUN_LOG_MAX_BYTES ({self.max_bytes} bytes): "
                            f"{self.dropped_lines} line(s), about {self.dropped_bytes} "
                            "bytes, not kept"
                        ),
                    }
                )
            return lines


class _RunLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        run_log = _current.get()
        if run_log is None or record.levelno < CAPTURED_LEVEL:
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            run_log.add(datetime.fromtimestamp(record.created, UTC), record.levelname, message)
        except Exception:
            self.handleError(record)


def _install() -> None:
    """The handler, once per process. The root logger must pass INFO records on for
    them to reach it; a process that logs at WARNING still prints only warnings."""
    global _handler
    with _install_lock:
        if _handler is not None:
            return
        _handler = _RunLogHandler(level=CAPTURED_LEVEL)
        root = logging.getLogger()
        if root.getEffectiveLevel() > CAPTURED_LEVEL:
            for existing in root.handlers:
                if existing.level < root.level:
                    existing.setLevel(root.level)
            root.setLevel(CAPTURED_LEVEL)
        root.addHandler(_handler)


@contextmanager
def capture(max_bytes: int) -> Iterator[RunLog]:
    """Collect the records emitted in this context (and the tasks and threads started
    from it) until the block ends."""
    _install()
    run_log = RunLog(max_bytes)
    token = _current.set(run_log)
    try:
        yield run_log
    finally:
        _current.reset(token)


@contextmanager
def paused() -> Iterator[None]:
    """Collect nothing in this block (the writing of the log itself, say)."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


async def store(database: Database, execution_id: int, run_log: RunLog) -> None:
    """Keep the lines with their run. A run without lines stores nothing. Never raises:
    losing a run's logs must not change its outcome."""
    entries = run_log.entries()
    if not entries:
        return
    try:
        async with database.transaction() as db:
            await execution_crud.add_logs(db, execution_id, entries, truncated=run_log.truncated)
    except Exception:
        logger.exception("could not store the logs of execution %s", execution_id)
