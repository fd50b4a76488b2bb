"""Applying migrations from code (`reddit-bot migrate`, `serve`, tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config

from alembic import command

ROOT = Path(__file__).resolve().parents[2]

# APScheduler's job store owns this table's definition; autogenerate must neither
# drop it nor try to follow the store's changes.
AUTOGENERATE_IGNORED_TABLES = frozenset({"apscheduler_jobs"})


def include_object(
    obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any
) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return getattr(table, "name", None) not in AUTOGENERATE_IGNORED_TABLES


def alembic_config(sync_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["sync_url"] = sync_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(sync_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(sync_url), revision)
