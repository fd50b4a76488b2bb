"""The API load during `fire_lateness` (and `create_under_load`): a separate process
that sends requests at a fixed rate (open loop: a slow answer does not delay the next
request) and records each latency. A request is `[kind, path]`, a GET, or `[kind, path,
body]`, a POST of that JSON. `python -m bench.loadgen CONFIG.json`; the config names the
output file."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import httpx


async def _one(
    client: httpx.AsyncClient, kind: str, path: str, body: Any, out: list[dict[str, Any]]
) -> None:
    started = time.perf_counter()
    try:
        if body is None:
            response = await client.get(path)
        else:
            response = await client.post(path, json=body)
        status = response.status_code
    except httpx.HTTPError as exc:
        status = -1
        kind = f"{kind}:{type(exc).__name__}"
    out.append({"kind": kind, "ms": (time.perf_counter() - started) * 1000, "status": status})


async def run(config: dict[str, Any]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {config['token']}"}
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(
        base_url=config["base_url"], headers=headers, timeout=60, limits=limits
    ) as client:
        await client.get("/health")
        requests: list[list[Any]] = config["requests"]
        interval = 1.0 / config["rate"]
        start = float(config["start"])
        tasks = []
        for k, (kind, path, *body) in enumerate(requests):
            delay = start + k * interval - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            payload = body[0] if body else None
            tasks.append(asyncio.create_task(_one(client, kind, path, payload, results)))
        await asyncio.gather(*tasks)
    return results


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        config = json.load(f)
    results = asyncio.run(run(config))
    with open(config["out"], "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
