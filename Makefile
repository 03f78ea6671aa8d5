# auth-service developer commands. `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint fmt migrate clean bench load fuzz bench-timing

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: create .venv, install, migrate the embedded SQLite database, serve on 127.0.0.1:3000
run: $(STAMP)
	$(BIN)/auth-service migrate
	$(BIN)/auth-service serve

migrate: $(STAMP)
	$(BIN)/auth-service migrate

## test: the whole suite (PostgreSQL/Redis parts run when TEST_DATABASE_URL/TEST_REDIS_URL are set)
test: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/pytest -q -x tests/unit

## fuzz: the property and schemathesis tests with the `fuzz` hypothesis profile (many more examples; ~30 min)
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -p no:cacheprovider tests/property tests/fuzz

## bench-timing: login latency of an unknown e-mail vs a wrong password (about a minute); exit 1 if they differ
bench-timing: $(STAMP)
	$(BIN)/python bench/login_timing.py $(TIMING_ARGS)

## lint: ruff, mypy (strict on src/) and the layer contracts
lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

## bench: throughput and latency against floors measured in the same run (needs wrk); under 10 min on 2 cores.
## PostgreSQL + Redis with BENCH_DATABASE_URL / BENCH_REDIS_URL, else SQLite. BENCH_ARGS="--json results.json"
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## load: 2 minutes at 64 connections mixing login, refresh, me and validate-token; fails on a 5xx,
## a lost session or a broken audit chain. Same BENCH_* variables as bench.
load: $(STAMP)
	$(BIN)/python bench/load.py $(LOAD_ARGS)

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
