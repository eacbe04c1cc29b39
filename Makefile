# patchbay: the documented entry points. `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash
UV ?= uv
PYTEST_ARGS ?=

.PHONY: setup demo run test lint format bench stress lock

setup:  ## install uv, the workspace, and the real components the tests use (idempotent)
	@./scripts/setup.sh

demo: setup  ## run a real MCP client against the zero-configuration servers and print what it did
	@$(UV) run --frozen python scripts/demo.py

run: setup  ## run one server over stdio: make run SERVER=filesystem ARGS="--help"
	@$(UV) run --frozen patchbay-$(SERVER) $(ARGS)

test: setup  ## every test, against real components
	@$(UV) run --frozen pytest $(PYTEST_ARGS)

lint:  ## ruff (lint + format check) and mypy (strict on shared/)
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy shared/src

format:
	@$(UV) run --frozen ruff format .
	@$(UV) run --frozen ruff check --fix .

bench: setup  ## side-by-side benchmarks against the official servers (not part of `make test`)
	@for b in bench/*.py; do [ "$$(basename $$b)" = "_harness.py" ] && continue; echo "== $$b"; $(UV) run --frozen python $$b || exit 1; done

lock:
	@$(UV) lock
