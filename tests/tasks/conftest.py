from tests.tasks import sample_tasks  # noqa: F401  (registers the test tasks)
