# SGOrch developer entry points. Everything installs into .venv from nothing.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test slurm-maybe browser lint schemas slurm-up slurm-down clean unit chaos

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make run: the quickstart on the embedded local executor
run: $(STAMP)
	$(BIN)/python examples/quickstart/run.py

## make test: lint, type checks and the whole suite against a local single-node Slurm
test: $(STAMP) slurm-maybe browser lint
	$(BIN)/pytest

# Bring up the local Slurm when this machine allows it (root or password-less sudo on
# Debian); otherwise tests marked `slurm` skip (and fail under CI=true).
slurm-maybe:
	@if [ "$$(id -u)" = 0 ]; then deploy/local-slurm/up.sh || echo "make test: local Slurm did not come up"; \
	elif sudo -n true 2>/dev/null; then sudo deploy/local-slurm/up.sh || echo "make test: local Slurm did not come up"; \
	else echo "make test: not root and no password-less sudo; Slurm tests will skip"; fi

# Debian's chromium for the status board's browser test (Playwright drives it and
# downloads no browser of its own); without it that test skips (and fails under CI=true).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "make test: chromium did not install"; \
	elif sudo -n true 2>/dev/null; then { sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "make test: chromium did not install"; \
	else echo "make test: not root and no password-less sudo; the status board browser test will skip"; fi

lint: $(STAMP)
	$(BIN)/ruff check operator tests examples docs $(wildcard bench)
	$(BIN)/ruff format --check operator tests examples docs $(wildcard bench)
	$(BIN)/lint-imports
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/property -q

## make chaos: the long form of the fault suites (also part of make test, bounded)
chaos: $(STAMP) slurm-maybe
	SGORCH_LONG=1 $(BIN)/pytest tests/property/test_operator_state_machine.py tests/e2e/test_operator_slurm.py tests/e2e/test_operator_faults.py -q

schemas: $(STAMP)
	$(BIN)/sgorch schema -o crds-like-schemas

slurm-up:
	sudo_cmd=; [ "$$(id -u)" = 0 ] || sudo_cmd=sudo; $$sudo_cmd deploy/local-slurm/up.sh

slurm-down:
	sudo_cmd=; [ "$$(id -u)" = 0 ] || sudo_cmd=sudo; $$sudo_cmd deploy/local-slurm/down.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info operator/*.egg-info
