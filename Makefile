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

# Benchmarks (about an hour; bench/instructions.py needs valgrind): figures go to bench/results/*.md.
bench: install
	$(BIN)/python bench/growth.py --backend csv --rows 3000 30000 --out bench/results/growth-csv.md
	$(BIN)/python bench/growth.py --backend sqlite --rows 3000 30000 300000 --out bench/results/growth-sqlite.md
	$(BIN)/python bench/load.py --backends sqlite csv postgres --out bench/results/latest.md
	$(BIN)/python bench/side_by_side.py --backends sqlite csv --out bench/results/side-by-side.md
	$(BIN)/python bench/side_by_side.py --backends sqlite csv --rates 1000 --seconds 20 --rounds 3 --operations \
		--before 89c839b a87388a dee2497 --out bench/results/side-by-side-versions.md
	$(BIN)/python bench/instructions.py --backends sqlite csv --cpu-rounds 7 --cpu-requests 3000 \
		--before 89c839b a87388a dee2497 --out bench/results/instructions.md
	$(BIN)/python bench/compression.py --out bench/results/compression.md
	$(BIN)/python bench/batches.py --before 89c839b a87388a 91b731d --rounds 7 --out bench/results/batches.md
	$(BIN)/python bench/validation.py --out bench/results/validation.md
	$(BIN)/python bench/quarantine.py --out bench/results/quarantine.md
	$(BIN)/python bench/forecast.py --candidates --out bench/results/forecast.md
	$(BIN)/python bench/wal.py --out bench/results/wal.md

# The image, built and run (Docker, else podman), and the PostgreSQL + two replicas + nginx topology: tests/deploy,
# after .ci/provision-containers (nginx, podman and a local Python base image, once). No pytest plugins: faster start.
docker-test: install
	bash .ci/provision-containers
	PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(BIN)/python -m pytest -m deploy tests/deploy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
