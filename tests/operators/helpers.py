"""API helpers shared by the operator tests (over the ASGI client)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import wait_for


async def create_job(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post("/api/v1/tasks", headers=headers, json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def run_and_wait(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str
) -> dict[str, Any]:
    """Run a job now and return its finished execution."""
    response = await client.post(f"/api/v1/tasks/{job_id}/run", headers=headers)
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]

    async def finished() -> dict[str, Any] | None:
        row = await client.get(f"/api/v1/tasks/executions/{execution_id}", headers=headers)
        body: dict[str, Any] = row.json()
        return body if body["status"] != "running" else None

    result: dict[str, Any] = await wait_for(finished, timeout=20)
    return result
