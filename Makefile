# SGOrch developer entry points. Everything installs into .venv from nothing.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test slurm-maybe lint schemas slurm-up slurm-down clean unit

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make run: the quickstart on the embedded local executor
run: $(STAMP)
	$(BIN)/python examples/quickstart/run.py

## make test: lint, type checks and the whole suite against a local single-node Slurm
test: $(STAMP) slurm-maybe lint
	$(BIN)/pytest

# Bring up the local Slurm when this machine allows it (root or password-less sudo on
# Debian); otherwise tests marked `slurm` skip (and fail under CI=true).
slurm-maybe:
	@if [ "$$(id -u)" = 0 ]; then deploy/local-slurm/up.sh || echo "make test: local Slurm did not come up"; \
	elif sudo -n true 2>/dev/null; then sudo deploy/local-slurm/up.sh || echo "make test: local Slurm did not come up"; \
	else echo "make test: not root and no password-less sudo; Slurm tests will skip"; fi

lint: $(STAMP)
	$(BIN)/ruff check operator tests examples $(wildcard bench)
	$(BIN)/ruff format --check operator tests examples $(wildcard bench)
	$(BIN)/lint-imports
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/property -q

schemas: $(STAMP)
	$(BIN)/sgorch schema -o crds-like-schemas

slurm-up:
	sudo_cmd=; [ "$$(id -u)" = 0 ] || sudo_cmd=sudo; $$sudo_cmd deploy/local-slurm/up.sh

slurm-down:
	sudo_cmd=; [ "$$(id -u)" = 0 ] || sudo_cmd=sudo; $$sudo_cmd deploy/local-slurm/down.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info operator/*.egg-info
