"""Benchmarks: this project (`ours`) side by side with the design document's
configuration (`design`) and bare APScheduler (`limit`), on PostgreSQL and SQLite.

`python -m bench` runs everything and writes `bench/results.json`; `--quick` runs the
same code at small sizes. See `bench/RESULTS.md` for the latest table.
"""
