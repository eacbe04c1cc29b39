# patchbay: the documented entry points. `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash
UV ?= uv
PYTEST_ARGS ?=

.PHONY: setup setup-long demo run test lint format bench stress lock

setup:  ## install uv, the workspace, and the real components the tests use (idempotent)
	@./scripts/setup.sh

setup-long:  ## setup, plus what only bench and stress use (wrk, buildah, podman, debootstrap)
	@PATCHBAY_SETUP_LONG=1 ./scripts/setup.sh

demo: setup  ## run a real MCP client against the zero-configuration servers and print what it did
	@$(UV) run --frozen python scripts/demo.py

run: setup  ## run one server over stdio: make run SERVER=filesystem ARGS="--help"
	@$(UV) run --frozen patchbay-$(SERVER) $(ARGS)

test: setup  ## lint and type checks, then every test against real components
	@$(MAKE) --no-print-directory lint
	@$(UV) run --frozen pytest -n 2 -m "not image and not slow" $(PYTEST_ARGS)

lint:  ## ruff (lint + format check) and mypy (strict on shared/, clean on every server)
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy shared/src $(wildcard servers/*/src)

format:
	@$(UV) run --frozen ruff format .
	@$(UV) run --frozen ruff check --fix .

bench: setup-long  ## every side-by-side benchmark against the official servers; writes bench/REPORT.md (long)
	@UV=$(UV) ./bench/install_official.sh
	@$(UV) run --frozen python bench/report.py $(BENCH_ARGS)

stress: setup-long  ## load (minutes), two replicas behind nginx, faults, the slow tests, the image built and run; not part of `make test` (long)
	@for s in bench/stress_load.py bench/stress_replicas.py bench/stress_faults.py; do echo "== $$s"; $(UV) run --frozen python $$s $(STRESS_ARGS) || exit 1; done
	@echo "== the slow tests (packages and fresh venvs, the template, fuzzing, pathological and heavy inputs)"; $(UV) run --frozen pytest -n 2 -m slow -q
	@echo "== tests/test_image.py (buildah build, podman run)"; $(UV) run --frozen pytest -m image tests/test_image.py -q -s

lock:
	@$(UV) lock

.PHONY: new-server
NEW_SERVER_DEST ?= .
new-server:  ## scaffold servers/$(NAME) from templates/server (copier): make new-server NAME=weather
	@test -n "$(NAME)" || { echo "usage: make new-server NAME=<name>  (lower case, e.g. weather)" >&2; exit 2; }
	@echo "$(NAME)" | grep -Eq '^[a-z][a-z0-9-]{0,38}$$' || { echo "make new-server: NAME must be lower case letters, digits and dashes, starting with a letter (got '$(NAME)')" >&2; exit 2; }
	@test ! -e "$(NEW_SERVER_DEST)/servers/$(NAME)" || { echo "servers/$(NAME) exists already" >&2; exit 2; }
	@$(UV) run --frozen copier copy --quiet --defaults --data name=$(NAME) templates/server "$(NEW_SERVER_DEST)"
	@if [ "$(NEW_SERVER_DEST)" = . ]; then \
	  $(UV) lock && $(UV) sync --all-packages && \
	  $(UV) run --frozen python scripts/readme_tables.py $(NAME) && \
	  $(UV) run --frozen python scripts/gen_server_json.py $(NAME) && \
	  echo "servers/$(NAME) created: uv run pytest servers/$(NAME); then record its tools snapshot with" \
	       "PATCHBAY_UPDATE_SNAPSHOTS=1 uv run pytest tests/test_every_server.py -k $(NAME)"; \
	fi
