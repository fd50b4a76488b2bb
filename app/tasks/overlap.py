"""A job's overlap policy: what becomes of a slot that comes while the job's earlier run
still runs. Plain data, like the retry policy: the API checks it, the job store keeps it
in the job's kwargs and the leader's run path reads it back.

- `skip`: the slot is recorded `skipped`.
- `buffer_one`: the slot waits (a `waiting` row with no `not_before`) and starts once the
  running one has ended; while one waits, further slots are `skipped`.
- `buffer_all`: every slot waits, in order, at most `OVERLAP_BUFFER_MAX_RUNS` of them;
  beyond that they are `skipped`.
- `cancel_other`: the running run (and any slot waiting after it) is `cancelled`, and the
  new slot waits for it to end, which it does at once.
- `allow_all`: runs overlap, up to `max_instances` at once; beyond that `skipped`.

Every policy but `allow_all` runs one slot at a time, whatever `max_instances` says: the
policy is about "the running one"."""

from __future__ import annotations

from typing import Any, Literal, get_args

OverlapPolicy = Literal["skip", "buffer_one", "buffer_all", "cancel_other", "allow_all"]
OVERLAP_POLICIES: tuple[str, ...] = get_args(OverlapPolicy)
DEFAULT_OVERLAP: OverlapPolicy = "skip"
BUFFERING: frozenset[str] = frozenset({"buffer_one", "buffer_all"})


def stored_overlap(kwargs: dict[str, Any], max_instances: int | None) -> OverlapPolicy:
    """The policy kept in a job's kwargs. A job stored before jobs had one ran up to
    `max_instances` runs at once; it keeps doing so (`allow_all` when that is above 1)."""
    value = kwargs.get("overlap")
    if isinstance(value, str) and value in OVERLAP_POLICIES:
        return value  # type: ignore[return-value]
    return "allow_all" if (max_instances or 1) > 1 else DEFAULT_OVERLAP


def instance_limit(kwargs: dict[str, Any], max_instances: int) -> int:
    """How many runs of the job may run at once."""
    return max_instances if stored_overlap(kwargs, max_instances) == "allow_all" else 1
