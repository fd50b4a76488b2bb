from __future__ import annotations

from collections.abc import Callable

import pytest

from app.core.config import Settings


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    """Accounts and auth need no scheduler: these tests run the API alone."""
    return settings_factory(SCHEDULER_ENABLED=False)
