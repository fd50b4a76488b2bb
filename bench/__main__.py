"""`python -m bench [--quick] [--database postgresql|sqlite] [--output PATH] [--report]`

Runs every benchmark on PostgreSQL (`BENCH_DATABASE_URL`, or scratch databases on the
local server) and SQLite (temporary files), writes the results as JSON (by default
`bench/results.json`, and `bench/RESULTS.md` for a full run) and prints a table.
`--quick` runs the same code at small sizes, several sessions at once, each session on
one of the two databases in turn; it checks nothing about time. The exit status is 1
when a benchmark could not run for a contender, or ran on no database.

`ours` runs on PostgreSQL in the production layout (an API process and a scheduler
process) and on SQLite as one `reddit-bot serve` process; `BENCH_OURS_LAYOUT=split` or
`single` runs it that way on both. The layouts are recorded in the results
(`ours_layout`, and in every entry's params). On PostgreSQL the worker pool's
benchmarks (`bench/pool.py`) follow, the broker executor beside the local one.
`reddit_budget` (`bench/reddit_budget.py`) runs on both: many bot configs on a few
Reddit apps scraping against the fake Reddit, which enforces each app's budget.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine, peers, reddit_budget, report
from bench import pool as pool_bench
from bench.contenders import LAYOUT_ENV, ours_layout
from bench.db import Backend, SQLiteFiles, log, postgres_backend
from bench.sizes import FULL, QUICK, Sizes
from bench.suite import ORDER, Suite

HERE = Path(__file__).resolve().parent


def _write_reports(document: dict[str, Any]) -> None:
    """`bench/RESULTS.md` and the README's Performance table, from `document`."""
    (HERE / "RESULTS.md").write_text(report.markdown(document))
    readme = HERE.parent / "README.md"
    readme.write_text(report.readme(document, readme.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument(
        "--database", choices=("postgresql", "sqlite"), action="append", help="only these"
    )
    parser.add_argument("--output", type=Path, help="results file (default bench/results.json)")
    parser.add_argument(
        "--report",
        action="store_true",
        help="only rewrite bench/RESULTS.md and print the table from bench/results.json",
    )
    args = parser.parse_args(argv)
    if args.report:
        document = json.loads((HERE / "results.json").read_text())
        for entry in document["benchmarks"]:
            report.annotate(entry)
        _write_reports(document)
        sys.stdout.write(report.text_table(document["benchmarks"]) + "\n")
        sys.stdout.write(_layout_line(report.layouts(document)) + "\n")
        return 0
    sizes = QUICK if args.quick else FULL
    databases = args.database or ["postgresql", "sqlite"]
    try:
        for database in databases:
            ours_layout(database)
    except ValueError as exc:
        parser.error(str(exc))
    output = args.output or (
        HERE / "results.json"
        if not args.quick
        else Path(tempfile.gettempdir()) / "bench-quick.json"
    )

    started = time.monotonic()
    backends: list[Backend] = []
    if "postgresql" in databases:
        postgres = postgres_backend()
        if postgres is not None:
            backends.append(postgres)
    if "sqlite" in databases:
        backends.append(SQLiteFiles())
    postgres_version = next((b.version() for b in backends if b.name == "postgresql"), None)
    document = {
        "machine": machine.facts(postgres_version),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "sizes": sizes.as_params(),
        "ours_layout": {b.name: ours_layout(b.name) for b in backends},
        "benchmarks": [],
    }
    workdir = Path(tempfile.mkdtemp(prefix="reddit-bot-bench-logs-"))
    log(f"{'quick' if args.quick else 'full'} run; process logs in {workdir}")
    log(_layout_line(document["ours_layout"]))
    warnings: list[str] = []

    def run_on(backend: Backend) -> list[dict[str, Any]]:
        try:
            server_started = backend.server_started()
            found = Suite(backend, sizes, workdir).run().entries()
            found.append(reddit_budget.run(backend, sizes))
            if backend.name == "postgresql":
                # The worker pool needs PostgreSQL.
                found += pool_bench.run(backend, sizes, workdir / backend.name)
            if backend.server_started() != server_started:
                warnings.append(f"the {backend.name} server restarted during its benchmarks")
            return found
        finally:
            backend.close()

    if any(b.name == "postgresql" for b in backends):
        peers.prebuild()
    entries: list[dict[str, Any]] = []
    if args.quick:
        entries = _side_by_side(backends, sizes, workdir, warnings)
    else:
        for backend in backends:
            entries += run_on(backend)
    order = {name: i for i, name in enumerate(report.FIGURES)}
    entries.sort(key=lambda e: (order[e["name"]], e["database"] != "postgresql"))
    for entry in entries:
        report.annotate(entry)
    document["benchmarks"] = entries
    document["machine"]["load_average_at_end"] = machine.load_average()
    if warnings:
        document["warnings"] = warnings
        for warning in warnings:
            log(f"warning: {warning}")
    document["seconds"] = round(time.monotonic() - started, 1)
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    if not args.quick and args.output is None:
        _write_reports(document)
    sys.stdout.write(report.text_table(entries) + "\n")
    sys.stdout.write(_layout_line(document["ours_layout"]) + "\n")
    sys.stdout.write(f"\n{document['seconds']} s; results in {output}\n")
    failed = _failures(entries)
    # A session split away from one database must have run on the other.
    failed += [f"{name}/no database" for name in _not_run(entries)]
    if failed:
        # A benchmark that could not run at all is a broken benchmark (or app), not a
        # slow one: the smoke run in CI must say so.
        sys.stdout.write("failed: " + ", ".join(failed) + "\n")
        return 1
    return 0


# Sessions a smoke run runs at once: most of a session is waiting (for fire times, for
# runs to come in), so their waits overlap until the two cores are busy. Measured here:
# 5 at once took 91 to 93 s with the cores 84% busy; 3 took 148 s (before the pool's
# sessions shared processes and `Proc.wait_ready` stopped burning CPU), 4 took 107 to
# 122 s, 6 no less than 5; more only makes each process start more slowly.
SIDE_BY_SIDE = 5

Step = Callable[[], None]


def _side_by_side(
    backends: list[Backend], sizes: Sizes, workdir: Path, warnings: list[str]
) -> list[dict[str, Any]]:
    """Every session once, several at once (timings mean nothing in a smoke run): the
    longest chains first, the worker pool's on one pool per executor. A backend that
    cannot hold two sessions at once (one given database) runs its own one after
    another."""
    first: list[list[Step]] = []  # the longest: the worker pool's, the peers'
    rest: list[list[list[Step]]] = []  # each database's, taken in turn
    collect: list[Callable[[], list[dict[str, Any]]]] = []
    server_started = {b.name: b.server_started() for b in backends}
    for index, backend in enumerate(backends):
        suite = Suite(backend, sizes, workdir)
        # With both databases, each session of ours, design and limit runs on one of
        # them, in turn (PostgreSQL takes the first of each pair, ours, in the production
        # layout): the run is bound by the cores that start its processes, and every
        # session on both took 229 s here. `--database` runs them all on one.
        steps = suite.steps()[index :: len(backends)]
        budget: list[dict[str, Any]] = []

        def measure_budget(backend: Backend = backend, into: list[Any] = budget) -> None:
            into.append(reddit_budget.run(backend, sizes))

        pool_chains: list[list[Step]] = []
        if backend.name == "postgresql":
            pool_run = pool_bench.PoolRun(backend, sizes, workdir / backend.name)
            pool_chains = pool_run.quick_chains()
            collect.append(pool_run.entries)
        collect += [suite.results.entries, functools.partial(list, budget)]
        longest = pool_chains + [[step] for step in suite.peer_steps()]
        # The budget's session beside the smaller share (it needs no PostgreSQL).
        budgeted = index == len(backends) - 1
        others = [[step] for step in [*steps, *([measure_budget] if budgeted else [])]]
        if backend.concurrent:
            first += longest
            rest.append(others)
        else:
            first.append([step for chain in longest + others for step in chain])
    with ThreadPoolExecutor(max_workers=SIDE_BY_SIDE) as pool:
        in_turn = [chain for turn in itertools.zip_longest(*rest) for chain in turn if chain]
        list(pool.map(_chain, [*first, *in_turn]))
    for backend in backends:
        if backend.server_started() != server_started[backend.name]:
            warnings.append(f"the {backend.name} server restarted during its benchmarks")
        backend.close()
    return [entry for found in collect for entry in found() if entry["results"]]


def _chain(steps: list[Step]) -> None:
    for step in steps:
        try:
            step()
        except Exception as exc:
            # Each step records its own failure; this one broke the benchmark itself.
            log(f"a benchmark step failed: {type(exc).__name__}: {exc}")


def _failures(entries: list[dict[str, Any]]) -> list[str]:
    return sorted(
        f"{entry['name']}/{entry['database']}/{contender}"
        for entry in entries
        for contender, result in entry.get("results", {}).items()
        if isinstance(result, dict) and "error" in result
    )


def _not_run(entries: list[dict[str, Any]]) -> list[str]:
    ran = {entry["name"] for entry in entries if entry["results"]}
    return [name for name in ORDER if name not in ran]


def _layout_line(layouts: dict[str, str]) -> str:
    shown = ", ".join(f"{db} {layout}" for db, layout in layouts.items())
    return f"ours layout ({LAYOUT_ENV}): {shown}"


if __name__ == "__main__":
    raise SystemExit(main())
