"""The contender processes: `python -m bench.entry {ours,ours-scheduler,design,limit} PORT`.

`ours` is `reddit-bot serve` (the API with its scheduler candidate thread, the same
function the CLI runs), with the bench's no-op task registered and its start timed. In
the split layout (`bench.contenders.ours_layout`) it runs with SCHEDULER_ENABLED=false
beside an `ours-scheduler` process, `reddit-bot scheduler` (PORT is only a name there:
it serves no HTTP).
`ours-worker` is `reddit-bot worker` for the worker pool benchmarks (`bench/pool.py`).
`design` and `limit` are the baselines in `bench/design.py` and `bench/limit.py`, served
by uvicorn with the same options and logging.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    if kind == "ours-scheduler":
        # `reddit-bot scheduler`: the scheduler alone, for API processes started with
        # SCHEDULER_ENABLED=false.
        import bench.tasks
        from app.cli import scheduler
        from bench.probe import install_ours

        install_ours()
        scheduler()
        return
    if kind == "ours-worker":
        # `reddit-bot worker` (EXECUTOR=broker), its id named after PORT.
        import bench.tasks
        from app.cli import worker

        worker(worker_id=f"bench-worker-{port}", queues="io,cpu", metrics_port=0)
        return
    if kind == "ours":
        import bench.tasks  # noqa: F401
        from app.cli import serve
        from bench.probe import install_ours

        install_ours()
        serve(host="127.0.0.1", port=port, workers=1, no_migrate=True)
        return

    import uvicorn

    from app.cli import configure_logging

    configure_logging()
    module = {"design": "bench.design", "limit": "bench.limit"}[kind]
    uvicorn.run(
        f"{module}:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="info",
        timeout_graceful_shutdown=15,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
