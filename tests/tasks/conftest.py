from collections.abc import Iterator

import pytest

from tests.tasks import sample_tasks  # noqa: F401  (registers the test tasks)
from tests.tasks.http_target import HttpTarget


@pytest.fixture
def http_target() -> Iterator[HttpTarget]:
    """A local server the `http_request` task may call (the tests list its host)."""
    target = HttpTarget().start()
    yield target
    target.stop()


@pytest.fixture
def other_target() -> Iterator[HttpTarget]:
    """A second local server, on a port the tests do not list."""
    target = HttpTarget().start()
    yield target
    target.stop()
