"""`reddit-bot serve` with the test tasks registered (for the multi-process tests)."""

from __future__ import annotations

import sys

import uvicorn

from tests.tasks import sample_tasks  # noqa: F401

if __name__ == "__main__":
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
