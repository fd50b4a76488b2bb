"""Password hashes run beside the event loop, a bounded number at a time, so that
logins do not hold up other requests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from pwdlib.hashers.argon2 import Argon2Hasher

from app.core.config import Settings
from tests.conftest import running_app, wait_for

CONCURRENCY = 2
LOGINS = 5
# Only if hashing blocked the event loop would the test be unable to release the
# hashes itself: then this does, so that it ends (and fails) instead of hanging.
SAFETY_RELEASE_SECONDS = 20


@dataclass
class HeldHashes:
    """Password verifications that wait for `release` before they run."""

    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: int = 0
    most_at_once: int = 0

    def in_flight(self) -> int:
        with self.lock:
            return self.running


@pytest.fixture
def held_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldHashes]:
    held = HeldHashes()
    verify = Argon2Hasher.verify

    def held_verify(self: Argon2Hasher, password: str | bytes, hash: str | bytes) -> bool:
        with held.lock:
            held.running += 1
            held.most_at_once = max(held.most_at_once, held.running)
        try:
            held.release.wait()
            return verify(self, password, hash)
        finally:
            with held.lock:
                held.running -= 1

    monkeypatch.setattr(Argon2Hasher, "verify", held_verify)
    safety = threading.Timer(SAFETY_RELEASE_SECONDS, held.release.set)
    safety.start()
    yield held
    safety.cancel()
    held.release.set()


async def test_requests_are_answered_while_hashes_run(
    settings_factory: Callable[..., Settings],
    admin_headers: dict[str, str],
    held_hashes: HeldHashes,
) -> None:
    settings = settings_factory(SCHEDULER_ENABLED=False, PASSWORD_HASH_CONCURRENCY=CONCURRENCY)
    async with running_app(settings) as (_, client):
        logins = [
            asyncio.create_task(
                client.post(
                    "/api/v1/auth/login",
                    data={"username": f"guess-{n}@example.com", "password": "password1"},
                )
            )
            for n in range(LOGINS)
        ]
        await wait_for(lambda: held_hashes.in_flight() == CONCURRENCY, timeout=30)

        health = await client.get("/health")
        me = await client.get("/api/v1/users/me", headers=admin_headers)

        # Answered while the hashes were still held: they did not hold up the loop.
        assert not held_hashes.release.is_set()
        assert health.status_code == 200, health.text
        assert me.status_code == 200, me.text
        assert not any(task.done() for task in logins)
        held_hashes.release.set()
        responses: list[httpx.Response] = await asyncio.gather(*logins)

    assert [r.status_code for r in responses] == [401] * LOGINS
    assert held_hashes.most_at_once == CONCURRENCY
