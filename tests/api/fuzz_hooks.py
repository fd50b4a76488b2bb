"""Schemathesis hooks for the fuzz run (loaded through SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

import os
from typing import Any

import schemathesis

# The fuzzing account's own user id: changing or deleting it would end the run's login,
# and every later case would test only the 401. Such a case goes to an id nobody has.
PROTECTED_USER_IDS = {
    value for value in os.environ.get("FUZZ_PROTECTED_USER_IDS", "").split(",") if value
}
NOBODY = 2**31 - 1


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    parameters = case.path_parameters
    if parameters and str(parameters.get("user_id")) in PROTECTED_USER_IDS:
        parameters["user_id"] = NOBODY
