# `make run` and `make test` do all the set-up: a .venv with the package and its dev tools.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DB ?= data/sales.db
DATA_DIR ?= data/csv

.PHONY: install run run-csv test lint budget bench docker-test clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "vegsales needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: install
	$(BIN)/python app_sql.py --host $(HOST) --port $(PORT) --db $(DB)

run-csv: install
	$(BIN)/python app_csv.py --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

# Instructions per request of the hot request types under callgrind, against bench/budget.toml (needs valgrind).
budget: install
	$(BIN)/python -m bench.cost --check

# Benchmarks (about an hour; needs valgrind, nginx and the tests' PostgreSQL server): figures go to
# bench/results/*.md, each version beside the state before the speed work (BEFORE) and the no-work floor app in
# the same run; the micro-benchmarks are pytest-benchmark tests, never collected by `make test`. One-off
# comparisons end as records in docs/decisions/, not as scripts here.
BEFORE ?= b3a5b62
bench: install
	$(BIN)/python -m bench.side_by_side --backends sqlite csv --rates 1000 1500 2000 --seconds 20 --rounds 3 \
		--before $(BEFORE) --out bench/results/side-by-side.md
	$(BIN)/python -m bench.replicas
	VEGSALES_BENCH_BEFORE=$(BEFORE) $(BIN)/python -m pytest -p pytest_benchmark.plugin bench/test_micro.py \
		--benchmark-json bench/results/micro.json
	$(BIN)/python -m bench.cost --out bench/results/cost.md
	$(BIN)/python -m bench.filtered_reads --before 50ce982 --out bench/results/filtered-reads.md
	$(BIN)/python -m bench.history --before 9d6ed68 --out bench/results/history.md

# The image, built and run (Docker, else podman), and the PostgreSQL + two replicas + nginx topology: tests/deploy,
# after .ci/provision-containers (nginx, podman and a local Python base image, once). No pytest plugins: faster start.
docker-test: install
	bash .ci/provision-containers
	PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(BIN)/python -m pytest -m deploy tests/deploy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
