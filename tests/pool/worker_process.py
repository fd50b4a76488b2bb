"""`reddit-bot worker` with the test tasks registered (for the worker pool tests)."""

from __future__ import annotations

import sys

from app.cli import cli
from tests.tasks import sample_tasks  # noqa: F401

if __name__ == "__main__":
    cli(["worker", *sys.argv[1:]])
