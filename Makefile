# The two commands of the README: `make run` starts the whole stack, `make test` runs every test.
# Both set everything up on a fresh Debian machine: virtual environment, Python packages and,
# for the tests, the system packages (apt as root; otherwise a message naming them).
# `make test-quick` is for iterating: no Docker, no browser, no system packages installed.
# `make lint` (ruff, mypy) runs first in `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Errors only: the build backend's notices (setuptools' editable-install banner) are for whoever edits
# pyproject.toml, who sees them with a plain `pip install -e .`.
PIP := $(PY) -m pip -qq --disable-pip-version-check
# The packages are installed again only when pyproject.toml is newer than the stamp of the last install.
INSTALLED := $(VENV)/.installed
INSTALLED_TEST := $(VENV)/.installed-test
QUICK := not docker and not browser

.PHONY: run test test-quick lint fuzz install install-test system-deps node-deps

run: install
	@$(PY) -m jitsi_py

test: lint system-deps node-deps
	$(PY) -m pytest $(PYTEST_ARGS)

test-quick: install-test node-deps
	$(PY) -m pytest -m "$(QUICK)" $(PYTEST_ARGS)

# The fuzz tests alone, long: HYPOTHESIS_PROFILE=fuzz (tests/conftest.py) runs many examples per
# parser; failures are kept in .hypothesis/ and replayed first on the next run.
FUZZ_PROFILE ?= fuzz
fuzz: install-test
	HYPOTHESIS_PROFILE=$(FUZZ_PROFILE) $(PY) -m pytest -m fuzz -o timeout=0 $(PYTEST_ARGS)

# Settings in pyproject.toml; mypy keeps its cache in .mypy_cache, so a second run checks only what changed.
lint: install-test
	$(PY) -m ruff check --quiet
	$(PY) -m mypy

$(PY):
	@echo "Creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip

install: $(INSTALLED)

install-test: $(INSTALLED_TEST)

$(INSTALLED): pyproject.toml | $(PY)
	@echo "Installing jitsi-py and its dependencies into $(VENV)"
	@$(PIP) install -e .
	@touch $@

# The test extras include the package itself, so this install stands for both.
$(INSTALLED_TEST): pyproject.toml | $(PY)
	@echo "Installing jitsi-py with its test dependencies into $(VENV)"
	@$(PIP) install -e '.[test]'
	@touch $@ $(INSTALLED)

system-deps:
	bash scripts/install-system-deps.sh

# From the npm registry: Strophe.js (the XMPP library of the Jitsi web client) for transport tests, and
# Etherpad (ep_etherpad-lite, in a directory of its own) for the shared document test. Etherpad 1.8's
# optional sqlite3 is a GitHub tarball, out of reach where only the registry is: no retries for it
# (npm's back-off would cost a minute on every run).
node-deps:
	@if [ -f tests/node/package.json ]; then cd tests/node && npm install --silent --no-audit --no-fund; fi
	@cd tests/etherpad && npm install --silent --no-audit --no-fund --fetch-retries=0
