"""Ids beyond what an id column holds never reach the database: an unknown id in a path
is a 404 as any other, and as a filter it is invalid input."""

from __future__ import annotations

import httpx
import pytest

TOO_BIG = 2**31


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/users/{TOO_BIG}",
        f"/api/v1/bot-configs/{TOO_BIG}",
        f"/api/v1/bot-configs/{2**63}",
        "/api/v1/bot-configs/0",
        "/api/v1/bot-configs/-5",
        f"/api/v1/scrape-sessions/{TOO_BIG}",
        f"/api/v1/reddit/posts/{TOO_BIG}/comments",
        f"/api/v1/tasks/executions/{2**63}",
    ],
)
async def test_out_of_range_path_ids_are_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str], path: str
) -> None:
    response = await client.get(path, headers=admin_headers)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/scrape-sessions?bot_config_id={TOO_BIG}",
        f"/api/v1/reddit/posts?bot_config_id={TOO_BIG}",
    ],
)
async def test_out_of_range_id_filters_are_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str], path: str
) -> None:
    response = await client.get(path, headers=admin_headers)
    assert response.status_code == 422, response.text
    assert "bot_config_id" in response.text
