"""The bounded input types every schema is built from.

Every number, string and date the API accepts has a bound here, so a value the
database, APScheduler or `datetime` cannot hold is a 422 on the request rather than a
500 (or a job that breaks at its first fire). Strings refuse NUL (U+0000): PostgreSQL
text cannot store it. Floats refuse NaN and Infinity: JSON has no such numbers, and a
response holding one could not be encoded. Body integers and booleans are strict:
`true` is not 1 and `0` is not `false`.

A string type here carries no length of its own; each use states one with
`Field(max_length=...)` (or picks one of the sized aliases below).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

# Ids are 32-bit integer columns on both databases.
MAX_ID = 2**31 - 1
# A page offset past every row is still an answer (an empty page); past this it is a
# number the databases cannot take.
MAX_OFFSET = MAX_ID
# Far enough for any schedule, near enough that APScheduler can add an interval or a
# jitter to it, or move it to any time zone, without leaving `datetime`'s range.
# A timestamp is from EARLIEST and before LATEST.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
NUL_FREE_PATTERN = "^[^\\u0000]*$"
# How deep a free-form JSON object (task params) may nest.
MAX_JSON_DEPTH = 16


@dataclass(frozen=True)
class NulFree:
    """Refuses a string containing U+0000, and says so in the JSON schema (as a pattern,
    unless the field has a pattern of its own that already decides)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_refuse_nul, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if json_schema.get("type") == "string":
            json_schema.setdefault("pattern", NUL_FREE_PATTERN)
        return json_schema


def _refuse_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


# Any text from a client: combine with `Field(max_length=...)`.
String = Annotated[str, NulFree()]
ShortString = Annotated[String, Field(max_length=255)]
LongString = Annotated[String, Field(max_length=10_000)]
# A password, a token: long enough for any real one, short enough to hash cheaply.
SecretString = Annotated[String, Field(max_length=512)]

# Strict: JSON `true`, `1.0` or `"1"` is not an id.
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
Flag = Annotated[bool, Strict()]
FiniteFloat = Annotated[float, Strict(), Field(allow_inf_nan=False)]


def _in_datetime_range(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset, e.g. 2027-01-01T00:00:00Z")
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        instant = LATEST
    if not EARLIEST <= instant < LATEST:
        raise ValueError(
            f"must be from {EARLIEST:%Y-%m-%dT%H:%M:%SZ} and before {LATEST:%Y-%m-%dT%H:%M:%SZ}"
        )
    return value


# An instant with its offset (`Z` or `+02:00`), within the range above.
Timestamp = Annotated[datetime, AfterValidator(_in_datetime_range)]

# Sorted so the schema is the same on every run.
TIME_ZONES = tuple(sorted(available_timezones()))


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


# An IANA time zone name ("UTC", "Europe/Paris").
TimeZone = Annotated[
    String,
    Field(max_length=64, json_schema_extra={"enum": list(TIME_ZONES)}),
    AfterValidator(_known_zone),
]


def _json_safe(value: Any, depth: int = 0) -> Any:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity are not JSON numbers")
    if isinstance(value, str):
        _refuse_nul(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key)
            _json_safe(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _json_safe(item, depth + 1)
    return value


# Free-form JSON (a task's params before its own model checks them): finite numbers,
# strings without NUL, bounded nesting.
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_safe)]


def union_member_schema(*, one_positive: tuple[str, ...] = ()) -> Callable[[dict[str, Any]], None]:
    """`json_schema_extra` for a member of a union discriminated by `type`: the schema
    requires the tag, as the server does, even where the Python model defaults it. With
    `one_positive`, at least one of those fields must be given, and above zero."""

    def extra(schema: dict[str, Any]) -> None:
        required: list[str] = schema.setdefault("required", [])
        if "type" not in required:
            required.insert(0, "type")
        if one_positive:
            schema["anyOf"] = [
                {"required": [name], "properties": {name: {"exclusiveMinimum": 0}}}
                for name in one_positive
            ]

    return extra
