# Needs only Python 3.11+ with pip: a private venv gets uv, uv installs the locked
# dependencies into .venv.
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
HOST ?= 127.0.0.1
PORT ?= 8000
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on the CI
# machine), every process would otherwise compile each module it imports from source.
# Measured there: `import app.main` took 4.3 s of CPU without, 1.8 s with; the suite
# and the benchmarks start hundreds of processes.
export UV_COMPILE_BYTECODE := 1

.PHONY: install install-dev run migrate scheduler test test-fast test-sqlite test-postgres fuzz lint format bench bench-quick clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==0.13.8"

install: $(UV)
	$(UV) sync --frozen --no-dev
	$(VENV)/bin/python -m compileall -q app

install-dev: $(UV)
	$(UV) sync --frozen
	$(VENV)/bin/python -m compileall -q app bench tests

run: install
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/reddit-bot serve

migrate: install
	$(VENV)/bin/reddit-bot migrate

scheduler: install
	$(VENV)/bin/reddit-bot scheduler

# SQLite always; PostgreSQL as well when TEST_DATABASE_URL is set. Fails if either fails.
# Each run on two pytest-xdist workers, each on a database of its own: the whole
# `.ci/run` took 28 minutes that way here, against 67 one test at a time (most tests wait
# on timers and processes). TEST_WORKERS=0 runs one test at a time. The two databases'
# runs stay one after the other: side by side, tests of a leader's election and of a
# shutdown's grace were seen to fail.
TEST_WORKERS ?= 2
PYTEST := $(VENV)/bin/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal
test: install-dev
	$(PYTEST)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "--- again on PostgreSQL ($$TEST_DATABASE_URL)"; \
		TEST_BACKEND=postgresql $(PYTEST); \
	else \
		echo "--- TEST_DATABASE_URL is not set: PostgreSQL run skipped"; \
	fi

# The inner loop: SQLite, without the tests that start several processes.
test-fast: install-dev
	$(VENV)/bin/pytest -q -p no:cacheprovider -m "not multiprocess"

test-sqlite: install-dev
	$(VENV)/bin/pytest -q

test-postgres: install-dev
	TEST_BACKEND=postgresql $(VENV)/bin/pytest -q

# Only the schemathesis run over the OpenAPI schema (also part of `make test`).
fuzz: install-dev
	$(VENV)/bin/pytest -q -p no:cacheprovider -m fuzz tests/api/test_fuzz.py
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "--- again on PostgreSQL ($$TEST_DATABASE_URL)"; \
		TEST_BACKEND=postgresql $(VENV)/bin/pytest -q -p no:cacheprovider -m fuzz tests/api/test_fuzz.py; \
	fi

# Biome, pinned in package-lock.json, checks and formats the dashboard's JS and CSS.
node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

lint: install-dev node_modules
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	npx --no-install biome ci app/static

format: install-dev node_modules
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	npx --no-install biome check --write app/static

bench: install-dev
	$(VENV)/bin/python -m bench

bench-quick: install-dev
	$(VENV)/bin/python -m bench --quick

clean:
	rm -rf $(VENV) $(TOOLS) node_modules .mypy_cache .ruff_cache .pytest_cache
