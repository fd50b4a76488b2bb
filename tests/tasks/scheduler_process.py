"""A scheduler candidate process with the test tasks registered: `reddit-bot scheduler`
plus tests.tasks.sample_tasks. Settings come from the environment."""

from __future__ import annotations

import asyncio
import logging
import signal

from app.core.config import Settings
from app.tasks.candidate import SchedulerCandidate
from tests.tasks import sample_tasks  # noqa: F401


async def main() -> None:
    service = SchedulerCandidate(Settings())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, service.stop)
    await service.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s: %(message)s")
    asyncio.run(main())
