"""With EXECUTOR=local (the default) no process loads the distributed task engine: a
leader that starts and stops, and every module an API or scheduler process imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import app

ENGINE_PACKAGES = ("taskiq", "taskiq_aio_pika", "aio_pika", "aiormq")
PROBE = """
import asyncio, json, sys
from app.core.config import Settings
from app.db.migrate import upgrade
import app.cli, app.main, app.tasks.candidate
from app.db.session import Database
from app.tasks.scheduler import EnhancedScheduler

settings = Settings(_env_file=None, DATABASE_URL=sys.argv[1], EXECUTOR="local")
upgrade(settings.sync_database_url)

async def lead() -> None:
    database = Database(settings.DATABASE_URL)
    scheduler = EnhancedScheduler(settings, database)
    await scheduler.start()
    await scheduler.shutdown()
    await database.dispose()

asyncio.run(lead())
print(json.dumps(sorted(sys.modules)))
"""


def test_a_local_leader_loads_no_task_engine(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'local.db'}"
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, url],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(app.__file__).parent.parent,
        timeout=120,
    )
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    assert "app.tasks.scheduler" in loaded
    assert [name for name in loaded if name.split(".")[0] in ENGINE_PACKAGES] == []
    assert "app.tasks.taskiq_broker" not in loaded
