from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core import security
from app.core.config import Settings


@pytest.fixture
def restore_cost() -> Iterator[None]:
    yield
    security.configure_password_hashing(1, 1024)


async def test_password_hash_cost_follows_the_settings(restore_cost: None) -> None:
    defaults = Settings(_env_file=None)
    security.configure_password_hashing(
        defaults.PASSWORD_HASH_TIME_COST, defaults.PASSWORD_HASH_MEMORY_KIB
    )
    strong = await security.hash_password("correct-horse")
    assert strong.startswith("$argon2id$")
    assert "m=65536,t=3" in strong

    security.configure_password_hashing(1, 1024)
    cheap = await security.hash_password("correct-horse")
    assert "m=1024,t=1" in cheap
    # A stored hash carries its own cost: old hashes still verify after a change.
    assert await security.verify_password("correct-horse", strong)
    assert not await security.verify_password("wrong-horse", strong)
    assert not await security.verify_password("correct-horse", None)
