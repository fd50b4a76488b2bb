"""Runs the benchmarks on one database, grouped into sessions so each contender process
serves several benchmarks that do not disturb one another:

1. startup: first start with the bot configs, restart (`startup_10k`), then `throughput`
   on the restarted process;
2. list: a process started on the big job store (`list_jobs_100k`, `memory` with jobs);
3. main: a process on the big history: idle RSS (`memory`), `fire_lateness` with
   `api_under_load`, `history_1m`, then `retention_1m` (last: it deletes half of it);
4. real: on an empty store, `fire_lateness_real` (with the API's figures beside it),
   and in the same window (ours only) `create_jobs`;
5. create: `import_10k` on an empty store (ours only);
6. big: `history_10m` on its own history, `jobs_1m` on its own store (ours only);
7. api: `api_throughput`, ours and limit's bare endpoints on one small history;
8. limit: one process through all of them, its jobs replaced between benchmarks;
9. peers (PostgreSQL only): each peer (`bench/peers`) through `throughput`,
   `fire_lateness` and `fire_lateness_real` (the API load meets no task API there:
   their figures are not recorded).

In a full run contenders run one after another, never side by side (a smoke run,
`--quick`, runs several sessions at once: `Suite.steps`). `ours` runs in the layout
`contenders.ours_layout` picks for the database (split on PostgreSQL by default: an API
process and a scheduler process); every entry's params name it (`ours_layout`). A
figure is recorded only while every process of the contender still runs.
"""

from __future__ import annotations

import functools
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    api_throughput,
    create_jobs,
    fire_lateness,
    history,
    history_10m,
    jobs_1m,
    jobstore,
    list_jobs,
    memory,
    report,
    retention,
    startup,
    throughput,
)
from bench.contenders import DESIGN, LIMIT, OURS, Contender, ours_layout
from bench.db import EMPTY, Backend, bot_configs_recipe, history_recipe, log
from bench.peers import PEERS, Peer
from bench.procs import Proc
from bench.sizes import Sizes

ORDER = (
    "fire_lateness",
    "api_under_load",
    "fire_lateness_real",
    "list_jobs_100k",
    "history_1m",
    "retention_1m",
    "history_10m",
    "jobs_1m",
    "startup_10k",
    "throughput",
    "memory",
    "import_10k",
    "create_jobs",
    "api_throughput",
)

PEER_BENCHMARKS = ("throughput", "fire_lateness", "fire_lateness_real")


class Results:
    def __init__(self, database: str, sizes: Sizes) -> None:
        self.database = database
        self.ours_layout = ours_layout(database)
        self.params: dict[str, dict[str, Any]] = {
            "fire_lateness": fire_lateness.params(sizes),
            "api_under_load": fire_lateness.api_params(sizes),
            "fire_lateness_real": fire_lateness.real_params(sizes),
            "list_jobs_100k": list_jobs.params(sizes),
            "history_1m": history.params(sizes),
            "retention_1m": retention.params(sizes),
            "history_10m": history_10m.params(sizes, database),
            "jobs_1m": jobs_1m.params(sizes),
            "startup_10k": startup.params(sizes),
            "throughput": throughput.params(sizes),
            "memory": memory.params(sizes),
            "import_10k": create_jobs.import_params(sizes),
            "create_jobs": create_jobs.create_params(sizes),
            "api_throughput": api_throughput.params(sizes),
        }
        self.values: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ORDER}
        # Sessions of a smoke run record side by side.
        self._lock = threading.Lock()

    def put(self, benchmark: str, contender: str, figures: dict[str, Any]) -> None:
        with self._lock:
            self.values[benchmark].setdefault(contender, {}).update(figures)

    def fail(self, benchmarks: tuple[str, ...], contender: str, error: str) -> None:
        with self._lock:
            for name in benchmarks:
                if not self.values[name].get(contender):
                    self.values[name][contender] = {"error": error}

    def entries(self) -> list[dict[str, Any]]:
        out = []
        for name in ORDER:
            results = {c: self.values[name][c] for c in report.CONTENDERS if c in self.values[name]}
            out.append(
                {
                    "name": name,
                    "database": self.database,
                    "params": {**self.params[name], "ours_layout": self.ours_layout},
                    "results": results,
                }
            )
        return out


class Suite:
    def __init__(self, backend: Backend, sizes: Sizes, workdir: Path) -> None:
        self.backend = backend
        self.sizes = sizes
        self.workdir = workdir / backend.name
        self.results = Results(backend.name, sizes)

    def _guarded(
        self, contender: Contender, benchmarks: tuple[str, ...], body: Callable[[], None]
    ) -> None:
        try:
            body()
        except Exception as exc:
            log(f"{self.backend.name} {contender.name} {'/'.join(benchmarks)} failed: {exc}")
            log(traceback.format_exc())
            self.results.fail(benchmarks, contender.name, f"{type(exc).__name__}: {exc}"[:500])

    def run(self) -> Results:
        for step in self.steps() + self.peer_steps():
            step()
        return self.results

    def steps(self) -> list[Callable[[], None]]:
        """The sessions of ours, design and limit in their order, each recording its
        figures or its error; they share nothing but the backend, so a smoke run may
        run them side by side."""
        steps: list[Callable[[], None]] = []

        def step(
            contender: Contender, benchmarks: tuple[str, ...], body: Callable[[], None]
        ) -> None:
            steps.append(functools.partial(self._guarded, contender, benchmarks, body))

        for contender in (OURS, DESIGN):
            step(
                contender, ("startup_10k", "throughput"), functools.partial(self.startup, contender)
            )
        for contender in (OURS, DESIGN):
            step(contender, ("list_jobs_100k",), functools.partial(self.listing, contender))
        for contender in (OURS, DESIGN):
            step(
                contender,
                ("memory", "fire_lateness", "api_under_load", "history_1m", "retention_1m"),
                functools.partial(self.main, contender),
            )
        for contender in (OURS, DESIGN):
            real: tuple[str, ...] = ("fire_lateness_real",)
            if contender is OURS:
                real += ("create_jobs",)
            step(contender, real, functools.partial(self.real, contender))
        step(OURS, ("import_10k",), functools.partial(self.creating, OURS))
        step(OURS, ("history_10m",), functools.partial(self.big_history, OURS))
        step(OURS, ("jobs_1m",), functools.partial(self.big_store, OURS))
        step(OURS, ("api_throughput",), self.api)
        ours_only = (
            "history_1m",
            "retention_1m",
            "create_jobs",
            "api_throughput",
            "history_10m",
            "jobs_1m",
        )
        limit_benchmarks = tuple(n for n in ORDER if n not in ours_only)
        step(LIMIT, limit_benchmarks, self.limit)
        return steps

    def peer_steps(self) -> list[Callable[[], None]]:
        """The peers' sessions (PostgreSQL only), after `steps` in a full run."""
        if self.backend.name != "postgresql":
            return []
        return [
            functools.partial(
                self._guarded, peer, PEER_BENCHMARKS, functools.partial(self.peer, peer)
            )
            for peer in PEERS
        ]

    def _put(
        self, proc: Proc, benchmark: str, contender: Contender, figures: dict[str, Any]
    ) -> None:
        """Record figures measured on `proc`, if all its processes still run (raises
        otherwise, with their logs, so the benchmark is reported as an error)."""
        proc.check()
        self.results.put(benchmark, contender.name, figures)

    def _session(self, recipe_url: str, contender: Contender, body: Callable[[Proc], None]) -> None:
        proc = contender.spawn(recipe_url, self.workdir)
        try:
            proc.wait_ready(self.sizes.wait_budget_s)
            body(proc)
        finally:
            proc.stop()

    def startup(self, contender: Contender) -> None:
        sizes = self.sizes
        log(f"{self.backend.name} {contender.name}: startup_10k, throughput")
        url = self.backend.prepare(bot_configs_recipe(sizes.bot_configs))
        try:
            first = startup.first_start(contender, url, self.workdir, sizes)
            proc, figures = startup.restart(contender, url, self.workdir, sizes, first)
            try:
                self._put(proc, "startup_10k", contender, figures)
                self._put(proc, "throughput", contender, throughput.run(contender, proc, sizes))
            finally:
                proc.stop()
        finally:
            self.backend.release(url)

    def listing(self, contender: Contender) -> None:
        sizes = self.sizes
        log(f"{self.backend.name} {contender.name}: list_jobs_100k")
        shape = jobstore.OURS if contender is OURS else jobstore.DESIGN
        recipe = list_jobs.recipe(shape, contender.name, sizes)
        url = self.backend.prepare(recipe)

        def body(proc: Proc) -> None:
            self._put(proc, "list_jobs_100k", contender, list_jobs.run(contender, proc, sizes))
            self._put(proc, "memory", contender, memory.with_jobs(proc))

        try:
            self._session(url, contender, body)
        finally:
            self.backend.release(url)

    def main(self, contender: Contender) -> None:
        sizes = self.sizes
        log(f"{self.backend.name} {contender.name}: memory, fire_lateness, history, retention")
        url = self.backend.prepare(history_recipe(sizes.history_jobs, sizes.history_runs_per_job))

        def body(proc: Proc) -> None:
            self._put(proc, "memory", contender, memory.idle(proc, sizes))
            fire, api, _ = fire_lateness.run(contender, proc, sizes, self.workdir)
            self._put(proc, "fire_lateness", contender, fire)
            self._put(proc, "api_under_load", contender, api)
            self._put(proc, "history_1m", contender, history.run(proc, sizes))
            self._put(proc, "retention_1m", contender, retention.run(contender, proc, sizes))

        try:
            self._session(url, contender, body)
        finally:
            self.backend.release(url)

    def real(self, contender: Contender) -> None:
        sizes = self.sizes
        extra = ", create_jobs" if contender is OURS else ""
        log(f"{self.backend.name} {contender.name}: fire_lateness_real{extra}")
        url = self.backend.prepare(EMPTY)

        def body(proc: Proc) -> None:
            beside = create_jobs.start_creates if contender is OURS else None
            real, creates = fire_lateness.run_real(
                contender, proc, sizes, self.workdir, beside=beside
            )
            self._put(proc, "fire_lateness_real", contender, real)
            if creates is not None:
                self._put(proc, "create_jobs", contender, creates)

        try:
            self._session(url, contender, body)
        finally:
            self.backend.release(url)

    def creating(self, contender: Contender) -> None:
        sizes = self.sizes
        log(f"{self.backend.name} {contender.name}: import_10k")
        url = self.backend.prepare(EMPTY)

        def body(proc: Proc) -> None:
            self._put(proc, "import_10k", contender, create_jobs.run_import(contender, proc, sizes))

        try:
            self._session(url, contender, body)
        finally:
            self.backend.release(url)

    def big_history(self, contender: Contender) -> None:
        sizes = self.sizes
        log(f"{self.backend.name} {contender.name}: history_10m")
        url = self.backend.prepare(history_10m.recipe(sizes, self.backend.name))

        def body(proc: Proc) -> None:
            self._put(proc, "history_10m", contender, history_10m.run(contender, proc, sizes))

        try:
            self._session(url, contender, body)
        finally:
            self.backend.release(url)
            # Ten million rows: the template goes as soon as its session ends.
            self.backend.forget(history_10m.recipe(sizes, self.backend.name))

    def big_store(self, contender: Contender) -> None:
        sizes = self.sizes
        log(f"{self.backend.name} {contender.name}: jobs_1m")
        recipe = jobs_1m.recipe(jobstore.OURS, contender.name, sizes)
        url = self.backend.prepare(recipe)
        try:
            proc, figures = jobs_1m.run(contender, url, self.workdir, sizes)
            try:
                self._put(proc, "jobs_1m", contender, figures)
            finally:
                proc.stop()
        finally:
            self.backend.release(url)
            self.backend.forget(recipe)

    def peer(self, peer: Peer) -> None:
        sizes = self.sizes
        log(f"{self.backend.name} {peer.name}: {', '.join(PEER_BENCHMARKS)}")
        url = self.backend.prepare(EMPTY)

        def body(proc: Proc) -> None:
            self._put(proc, "throughput", peer, throughput.run(peer, proc, sizes))
            fire, _, _ = fire_lateness.run(peer, proc, sizes, self.workdir)
            self._put(proc, "fire_lateness", peer, fire)
            real, _ = fire_lateness.run_real(peer, proc, sizes, self.workdir)
            lateness = {k: v for k, v in real.items() if not k.startswith("api_")}
            self._put(proc, "fire_lateness_real", peer, lateness)

        try:
            self._session(url, peer, body)
        finally:
            self.backend.release(url)

    def api(self) -> None:
        """`api_throughput`: ours, and limit's bare endpoints beside it on the same
        database (both idle while the other is measured)."""
        sizes = self.sizes
        log(f"{self.backend.name} ours, limit: api_throughput")
        url = self.backend.prepare(history_recipe(sizes.api_jobs, sizes.api_runs_per_job))

        def body(proc: Proc) -> None:
            api_throughput.install_jobs(proc, sizes)
            bare = LIMIT.spawn(url, self.workdir)
            try:
                bare.wait_ready(sizes.wait_budget_s)
                ours, limit = api_throughput.run(proc, bare, sizes, self.workdir / "api")
                bare.check()
                self.results.put("api_throughput", LIMIT.name, limit)
            finally:
                bare.stop()
            self._put(proc, "api_throughput", OURS, ours)

        try:
            self._session(url, OURS, body)
        except Exception as exc:
            self.results.fail(("api_throughput",), LIMIT.name, f"{type(exc).__name__}: {exc}"[:500])
            raise
        finally:
            self.backend.release(url)

    def limit(self) -> None:
        sizes = self.sizes
        log(f"{self.backend.name} limit: all benchmarks")
        url = self.backend.prepare(EMPTY)

        def body(proc: Proc) -> None:
            def put(benchmark: str, figures: dict[str, Any]) -> None:
                self._put(proc, benchmark, LIMIT, figures)

            put("memory", memory.idle(proc, sizes))
            put("import_10k", create_jobs.run_import(LIMIT, proc, sizes))
            put("startup_10k", startup.limit_start(LIMIT, proc, sizes))
            LIMIT.install(proc, list_jobs.batch(sizes))
            put("list_jobs_100k", list_jobs.run(LIMIT, proc, sizes))
            put("memory", memory.with_jobs(proc))
            put("throughput", throughput.run(LIMIT, proc, sizes))
            fire, api, _ = fire_lateness.run(LIMIT, proc, sizes, self.workdir)
            put("fire_lateness", fire)
            put("api_under_load", api)
            put("fire_lateness_real", fire_lateness.run_real(LIMIT, proc, sizes, self.workdir)[0])

        try:
            self._session(url, LIMIT, body)
        finally:
            self.backend.release(url)
