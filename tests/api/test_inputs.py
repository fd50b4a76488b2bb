"""Bad input through the HTTP API: every refusal is a 4xx that names the field, its body
can be encoded and repeats no value back, and nothing stored changes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.db.session import Database
from tests.conftest import PASSWORD, create_job, login, running_app, stored_state

TOO_BIG = "9223372036854775808"  # 2**63: past every integer column
MIB = 1024 * 1024


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    """Task writes go through the scheduler leader: these tests run one."""
    return settings_factory()


@dataclass
class World:
    client: httpx.AsyncClient
    admin: dict[str, str]
    bot_id: int
    job_id: str
    post_id: int = 1


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    async with running_app(settings) as (_, client):
        admin = {
            "Authorization": f"Bearer {(await login(client, 'admin@example.com'))['access_token']}"
        }
        bot = await client.post(
            "/api/v1/bot-configs",
            headers=admin,
            json={"name": "watcher", "subreddits": ["python"]},
        )
        assert bot.status_code == 201, bot.text
        job = await create_job(
            client,
            admin,
            id="inputs_job",
            task="cleanup_expired_tokens",
            trigger={"type": "interval", "hours": 1},
        )
        yield World(client, admin, bot.json()["id"], job["id"])


def named_fields(response: httpx.Response) -> set[str]:
    """Every part of every `loc` in a 422 body (so `["body", "trigger", "hours"]` names
    `trigger` and `hours`)."""
    detail = response.json()["detail"]
    assert isinstance(detail, list), detail
    return {str(part) for error in detail for part in error["loc"]}


@dataclass(frozen=True)
class Bad:
    """One bad request, the status it must get and the field its answer must name."""

    method: str
    path: str
    field: str | None = None
    status: int = 422
    json: Any = None
    content: str | bytes | None = None
    data: dict[str, str] | None = None
    params: dict[str, str] | None = None
    anonymous: bool = False

    def __str__(self) -> str:
        shown = self.content if self.content is not None else self.json or self.data or ""
        return f"{self.method} {self.path} {self.params or ''} {str(shown)[:80]}"


async def send(world: World, bad: Bad) -> httpx.Response:
    path = bad.path.format(bot=world.bot_id, job=world.job_id, post=world.post_id)
    headers = {} if bad.anonymous else dict(world.admin)
    if bad.content is not None:
        headers["Content-Type"] = "application/json"
    return await world.client.request(
        bad.method,
        f"/api/v1{path}",
        headers=headers,
        json=bad.json,
        content=bad.content,
        data=bad.data,
        params=bad.params,
    )


async def assert_all_refused(world: World, database: Database, cases: list[Bad]) -> None:
    before = await stored_state(database)
    failures: list[str] = []
    for bad in cases:
        response = await send(world, bad)
        if response.status_code != bad.status:
            failures.append(f"{bad}: {response.status_code} {response.text[:300]}")
            continue
        body = response.json()  # an answer that can be read back as JSON
        if bad.field is not None and bad.field not in named_fields(response):
            failures.append(f"{bad}: does not name {bad.field!r}: {body}")
    assert not failures, "\n".join(failures)
    assert await stored_state(database) == before


def nul_cases() -> Iterator[Bad]:
    yield Bad(
        "POST",
        "/auth/login",
        "username",
        data={"username": "a\x00b", "password": "x"},
        anonymous=True,
    )
    yield Bad(
        "POST",
        "/auth/login",
        "password",
        data={"username": "admin@example.com", "password": "a\x00b"},
        anonymous=True,
    )
    yield Bad(
        "POST", "/auth/refresh", "refresh_token", json={"refresh_token": "a\x00b"}, anonymous=True
    )
    yield Bad(
        "POST",
        "/auth/password-reset/confirm",
        "token",
        json={"token": "a\x00b", "new_password": "long-enough-1"},
        anonymous=True,
    )
    for method in ("GET", "PATCH", "DELETE"):
        yield Bad(method, "/tasks/a%00b", "job_id", json={} if method == "PATCH" else None)
    for action in ("pause", "resume", "run"):
        yield Bad("POST", f"/tasks/a%00b/{action}", "job_id")
        yield Bad("POST", f"/tasks/{{job}}/{action}", "reason", params={"reason": "a\x00b"})
    yield Bad("DELETE", "/tasks/{job}", "reason", params={"reason": "a\x00b"})
    for suffix in ("executions", "stats", "audit"):
        yield Bad("GET", f"/tasks/a%00b/{suffix}", "job_id")
    job = {
        "id": "nul_job",
        "task": "cleanup_expired_tokens",
        "trigger": {"type": "interval", "hours": 1},
    }
    yield Bad("POST", "/tasks", "name", json={**job, "name": "a\x00b"})
    yield Bad("POST", "/tasks", "reason", json={**job, "reason": "a\x00b"})
    yield Bad("POST", "/tasks", "task", json={**job, "task": "a\x00b"})
    yield Bad("POST", "/tasks", "params", json={**job, "params": {"a\x00b": 1}})
    yield Bad("POST", "/tasks", "params", json={**job, "params": {"key": ["a\x00b"]}})
    yield Bad("PATCH", "/tasks/{job}", "name", json={"name": "a\x00b"})
    yield Bad(
        "POST",
        "/tasks/preview",
        "timezone",
        json={"trigger": {"type": "interval", "hours": 1}, "timezone": "a\x00b"},
    )
    bot = {"name": "watcher", "subreddits": ["python"]}
    yield Bad("POST", "/bot-configs", "name", json={**bot, "name": "a\x00b"})
    yield Bad("POST", "/bot-configs", "description", json={**bot, "description": "a\x00b"})
    yield Bad("POST", "/bot-configs", "subreddits", json={**bot, "subreddits": ["py\x00thon"]})
    yield Bad("POST", "/bot-configs", "keywords", json={**bot, "keywords": ["a\x00b"]})
    yield Bad("PATCH", "/bot-configs/{bot}", "name", json={"name": "a\x00b"})
    yield Bad("GET", "/reddit/posts", "q", params={"q": "a\x00b"})
    yield Bad("PATCH", "/users/me", "full_name", json={"full_name": "a\x00b"})
    yield Bad(
        "POST",
        "/users",
        "full_name",
        json={"email": "n@example.com", "password": PASSWORD, "full_name": "a\x00b"},
    )


async def test_nul_in_any_text_is_a_422(world: World, database: Database) -> None:
    await assert_all_refused(world, database, list(nul_cases()))


def non_finite_cases() -> Iterator[Bad]:
    job = (
        '{"id": "nan_job", "task": "cleanup_expired_tokens", '
        '"trigger": {"type": "interval", "hours": 1}'
    )
    for constant in ("NaN", "Infinity", "-Infinity"):
        yield Bad("POST", "/tasks", content=job + f', "timeout_seconds": {constant}}}')
        yield Bad("POST", "/tasks", content=job + f', "params": {{"x": {constant}}}}}')
        yield Bad("PATCH", "/tasks/{job}", content=f'{{"timeout_seconds": {constant}}}')
        yield Bad(
            "PATCH",
            "/tasks/{job}",
            content=f'{{"trigger": {{"type": "interval", "seconds": {constant}}}}}',
        )
        yield Bad(
            "POST",
            "/tasks/preview",
            content=f'{{"trigger": {{"type": "interval", "seconds": {constant}}}}}',
        )
        yield Bad(
            "POST",
            "/tasks/preview",
            content=f'{{"trigger": {{"type": "interval", "hours": 1, "jitter": {constant}}}}}',
        )
        yield Bad(
            "POST",
            "/bot-configs",
            content=f'{{"name": "n", "subreddits": ["python"], "posts_limit": {constant}}}',
        )
        yield Bad("PATCH", "/bot-configs/{bot}", content=f'{{"scrape_interval_hours": {constant}}}')


async def test_nan_and_infinity_are_a_422(world: World, database: Database) -> None:
    """JSON has no such numbers; Python's parser takes them, the API does not."""
    await assert_all_refused(world, database, list(non_finite_cases()))


LIST_ENDPOINTS = [
    "/tasks",
    "/tasks/{job}/executions",
    "/tasks/{job}/audit",
    "/bot-configs",
    "/scrape-sessions",
    "/reddit/posts",
    "/reddit/posts/{post}/comments",
    "/users",
]


async def test_offset_and_limit_are_bounded_on_every_list(world: World, database: Database) -> None:
    cases = [Bad("GET", path, "offset", params={"offset": TOO_BIG}) for path in LIST_ENDPOINTS]
    cases += [Bad("GET", path, "offset", params={"offset": "-1"}) for path in LIST_ENDPOINTS]
    cases += [Bad("GET", path, "limit", params={"limit": TOO_BIG}) for path in LIST_ENDPOINTS]
    await assert_all_refused(world, database, cases)
    # The largest offset allowed is an empty page, not an error.
    for path in ("/tasks", "/bot-configs", "/users"):
        response = await send(world, Bad("GET", path, params={"offset": str(2**31 - 1)}))
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []


def number_cases() -> Iterator[Bad]:
    job = {
        "id": "num_job",
        "task": "cleanup_expired_tokens",
        "trigger": {"type": "interval", "hours": 1},
    }
    yield Bad("POST", "/tasks", "max_instances", json={**job, "max_instances": 10**20})
    yield Bad("POST", "/tasks", "max_instances", json={**job, "max_instances": True})
    yield Bad("POST", "/tasks", "timeout_seconds", json={**job, "timeout_seconds": 1e300})
    yield Bad("POST", "/tasks", "coalesce", json={**job, "coalesce": 0})
    yield Bad("POST", "/tasks", "paused", json={**job, "paused": "yes"})
    yield Bad("PATCH", "/tasks/{job}", "max_instances", json={"max_instances": 1.5})
    yield Bad(
        "POST",
        "/tasks/preview",
        "count",
        json={"trigger": {"type": "interval", "hours": 1}, "count": 10**20},
    )
    yield Bad(
        "POST",
        "/bot-configs",
        "posts_limit",
        json={"name": "n", "subreddits": ["python"], "posts_limit": 10**20},
    )
    yield Bad(
        "POST",
        "/bot-configs",
        "is_active",
        json={"name": "n", "subreddits": ["python"], "is_active": 1},
    )
    yield Bad(
        "PATCH", "/bot-configs/{bot}", "scrape_interval_hours", json={"scrape_interval_hours": True}
    )
    yield Bad(
        "PATCH", "/bot-configs/{bot}", "auto_scrape_enabled", json={"auto_scrape_enabled": "true"}
    )
    yield Bad("GET", "/scrape-sessions", "bot_config_id", params={"bot_config_id": TOO_BIG})


async def test_numbers_and_flags_are_bounded_and_strict(world: World, database: Database) -> None:
    await assert_all_refused(world, database, list(number_cases()))


SECRETS = {
    "password": "Secr3t!",
    "new_password": "Secr3t!",
    "token": "T" * 600,
    "refresh_token": "R" * 600,
    "client_secret": "C" * 600,
}


async def test_secrets_are_never_echoed(world: World, database: Database) -> None:
    """A refused password or token does not come back in the 422 body (nor does any
    other refused value: `input` is left out of every error)."""
    cases = [
        Bad(
            "POST",
            "/users",
            "password",
            json={"email": "n@example.com", "password": SECRETS["password"]},
        ),
        Bad("PATCH", "/users/me", "password", json={"password": SECRETS["password"]}),
        Bad(
            "POST",
            "/auth/password-reset/confirm",
            "token",
            json={"token": SECRETS["token"], "new_password": "long-enough-1"},
            anonymous=True,
        ),
        Bad(
            "POST",
            "/auth/password-reset/confirm",
            "new_password",
            json={"token": "t", "new_password": SECRETS["new_password"]},
            anonymous=True,
        ),
        Bad(
            "POST",
            "/auth/refresh",
            "refresh_token",
            json={"refresh_token": SECRETS["refresh_token"]},
            anonymous=True,
        ),
        Bad(
            "POST",
            "/auth/login",
            "password",
            data={"username": "admin@example.com", "password": "P" * 600},
            anonymous=True,
        ),
        Bad(
            "POST",
            "/auth/login",
            "client_secret",
            data={
                "username": "admin@example.com",
                "password": PASSWORD,
                "client_secret": SECRETS["client_secret"],
            },
            anonymous=True,
        ),
    ]
    await assert_all_refused(world, database, cases)
    for bad in cases:
        text = (await send(world, bad)).text
        for secret in [*SECRETS.values(), "P" * 600]:
            assert secret not in text, f"{bad} echoed a secret"
        assert all("input" not in error for error in json.loads(text)["detail"])


async def test_a_422_body_stays_small_whatever_the_input(world: World, database: Database) -> None:
    """Just under the body limit, with one bad value per key: the answer names the
    problem in a few kilobytes, not a megabyte."""
    params = {f"k{i}": "v" * 8 for i in range(45_000)}
    body = {
        "id": "big_job",
        "task": "cleanup_expired_tokens",
        "trigger": {"type": "interval", "hours": 1},
        "params": params,
    }
    assert len(json.dumps(body)) < MIB
    before = await stored_state(database)
    response = await world.client.post("/api/v1/tasks", headers=world.admin, json=body)
    assert response.status_code == 422, response.text[:300]
    assert len(response.content) < 20_000
    assert 1 <= len(response.json()["detail"]) <= 50
    long_name = await world.client.post(
        "/api/v1/bot-configs",
        headers=world.admin,
        json={"name": "n" * 900_000, "subreddits": ["python"]},
    )
    assert long_name.status_code == 422
    assert len(long_name.content) < 2_000
    assert await stored_state(database) == before


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A JSON body sent in pieces, with no Content-Length."""
    yield b'{"name": "'
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size
    yield b'", "subreddits": ["python"]}'


async def test_bodies_over_the_limit_are_a_413(world: World, database: Database) -> None:
    before = await stored_state(database)
    five_mb = {"name": "x" * (5 * MIB), "subreddits": ["python"]}
    response = await world.client.post("/api/v1/bot-configs", headers=world.admin, json=five_mb)
    assert response.status_code == 413, response.text[:300]
    assert len(response.content) < 200
    chunked = await world.client.post(
        "/api/v1/bot-configs",
        headers={**world.admin, "Content-Type": "application/json"},
        content=chunks(2 * MIB),
    )
    assert "content-length" not in chunked.request.headers
    assert chunked.status_code == 413, chunked.text[:300]
    login = await world.client.post(
        "/api/v1/auth/login", data={"username": "admin@example.com", "password": "x" * (2 * MIB)}
    )
    assert login.status_code == 413
    assert await stored_state(database) == before


async def test_the_body_limit_is_a_setting(
    settings_factory: Callable[..., Settings], database: Database
) -> None:
    async with running_app(
        settings_factory(SCHEDULER_ENABLED=False, MAX_REQUEST_BODY_BYTES=4096)
    ) as (_, client):
        headers = {
            "Authorization": f"Bearer {(await login(client, 'admin@example.com'))['access_token']}"
        }
        before = await stored_state(database)
        over = await client.patch(
            "/api/v1/users/me", headers=headers, json={"full_name": "x" * 5000}
        )
        assert over.status_code == 413
        assert await stored_state(database) == before
        under = await client.patch(
            "/api/v1/users/me", headers=headers, json={"full_name": "x" * 200}
        )
        assert under.status_code == 200, under.text


async def test_delete_users_me_is_405(world: World, database: Database) -> None:
    before = await stored_state(database)
    response = await world.client.delete("/api/v1/users/me", headers=world.admin)
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "PATCH"}
    for path, methods in (
        ("/tasks", {"GET", "POST"}),
        ("/tasks/{job}", {"GET", "PATCH", "DELETE"}),
        ("/bot-configs/{bot}", {"GET", "PATCH", "DELETE"}),
        ("/tasks/preview", {"POST"}),
        ("/tasks/registry", {"GET"}),
    ):
        answer = await send(world, Bad("OPTIONS", path))
        assert answer.status_code == 405
        assert set(answer.headers["allow"].replace(" ", "").split(",")) == methods, path
    assert await stored_state(database) == before
    me = await world.client.get("/api/v1/users/me", headers=world.admin)
    assert me.status_code == 200


async def test_undecodable_bodies_are_a_4xx(world: World, database: Database) -> None:
    """Bytes that are not UTF-8, or not JSON at all: the refusal is still a readable
    answer (the refused bytes are not in it)."""
    before = await stored_state(database)
    for content_type, body in (
        ("application/json", b'{"name": "\xff\xfe", "subreddits": ["python"]}'),
        ("text/plain", b"\xff\xfe\x00binary"),
        ("application/json", b"\xff\xfe\x00binary"),
        ("application/json", b'{"name": '),
    ):
        response = await world.client.post(
            "/api/v1/bot-configs",
            headers={**world.admin, "Content-Type": content_type},
            content=body,
        )
        assert response.status_code in (400, 422), (body, response.text)
        assert isinstance(response.json()["detail"], str | list)
    form = await world.client.post(
        "/api/v1/auth/login",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        content=b"username=%FF%FE&password=%00",
    )
    assert form.status_code == 422, form.text
    assert await stored_state(database) == before
