"""HTTP load from a separate process, in one of two modes, recording each latency.

- open loop (`rate`): requests sent at a fixed rate, a slow answer not delaying the next
  (the API load during `fire_lateness` and `create_jobs`). A request is
  `[kind, path]`, a GET, or `[kind, path, body]`, a POST of that JSON.
- closed loop (`concurrency`): that many connections, each sending `path` again as soon
  as its answer is in, for `duration_s` after `warmup_s` (`api_throughput`). The output
  then also says how long the measured part took.

`python -m bench.loadgen CONFIG.json`; the config names the output file. The client is
httpx (async, one event loop): the same client for every contender, so its own cost
weighs on each the same."""

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


def _client(config: dict[str, Any], connections: int) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {config['token']}"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        base_url=config["base_url"], headers=headers, timeout=60, limits=limits
    )


async def run(config: dict[str, Any]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    async with _client(config, 100) as client:
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


async def run_closed(config: dict[str, Any]) -> dict[str, Any]:
    concurrency = int(config["concurrency"])
    path = config["path"]
    results: list[dict[str, Any]] = []
    async with _client(config, concurrency) as client:
        measuring = False
        stop = False

        async def connection() -> None:
            while not stop:
                out = results if measuring else []
                await _one(client, "get", path, None, out)

        workers = [asyncio.create_task(connection()) for _ in range(concurrency)]
        await asyncio.sleep(float(config["warmup_s"]))
        measuring = True
        started = time.perf_counter()
        await asyncio.sleep(float(config["duration_s"]))
        measuring = False
        seconds = time.perf_counter() - started
        stop = True
        await asyncio.gather(*workers)
    return {"seconds": seconds, "samples": results}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        config = json.load(f)
    results: Any
    if "concurrency" in config:
        results = asyncio.run(run_closed(config))
    else:
        results = asyncio.run(run(config))
    with open(config["out"], "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
