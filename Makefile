# The two commands of the set-up contract: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: run examples test lint typecheck pytest clean bench

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/underwriting serve --dev-key

examples: $(STAMP)
	$(BIN)/python -m underwriting.examples examples/*.json

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

# The long reliability runs (docs/reliability.md): kill -9 cycles and minutes of load, on SQLite
# and PostgreSQL; -rP prints each run's figures.
.PHONY: soak
soak: $(STAMP)
	$(BIN)/python -m pytest -q -m soak -rP

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis

bench: $(STAMP)
	$(BIN)/python benchmarks/quote_latency.py

.PHONY: bench-engine bench-kernel bench-memory
# Peak memory and time of the largest runs, against the main branch in the same run.
bench-memory: $(STAMP)
	$(BIN)/python benchmarks/memory.py --runs 3 --baseline main

bench-engine: $(STAMP)
	$(BIN)/python benchmarks/engine.py --runs 5

# Where the compiled kernel's time goes (docs/performance.md), one thread.
bench-kernel: $(STAMP)
	UW_THREADS=1 $(BIN)/python benchmarks/kernel_split.py

# Peer and HTTP benchmarks need the [bench] extra (gemact, lossmodels, aggregate, locust).
BENCH_STAMP := $(VENV)/.bench-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@rm -f $(VENV)/.bench-*
	@touch $(BENCH_STAMP)

.PHONY: bench-peers bench-http

bench-peers: $(BENCH_STAMP)
	$(BIN)/python benchmarks/peers.py --years 1000000 --runs 5

bench-http: $(BENCH_STAMP)
	$(BIN)/python benchmarks/http_load.py --duration 60 --clients 8 --workers 2
	$(BIN)/python benchmarks/http_load.py --duration 60 --clients 8 --workers 2 --target-relative-error 0.05
