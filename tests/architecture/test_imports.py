"""What an API process loads: every route module, and none of the leader's engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import app

ENGINE_PACKAGES = ("apscheduler.schedulers", "apscheduler.jobstores", "apscheduler.executors")
PROBE = """
import importlib, json, pkgutil, sys
import app.api
names = [m.name for m in pkgutil.walk_packages(app.api.__path__, "app.api.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_every_api_module_loads_no_scheduler_engine() -> None:
    # A fresh interpreter: this test process has long loaded the engine.
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(app.__file__).parent.parent,
        timeout=120,
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert "app.api.v1.routes.task_routes" in report["imported"]
    assert "app.api.v1.routes.bot_config_routes" in report["imported"]
    engine = [name for name in report["loaded"] if name.startswith(ENGINE_PACKAGES)]
    assert engine == []
    leader = [
        name
        for name in report["loaded"]
        if name in {"app.tasks.scheduler", "app.tasks.candidate", "app.tasks.runs"}
    ]
    assert leader == []
