# The two commands of the README: `make run` starts the whole stack, `make test` runs every test.
# Both set everything up on a fresh Debian machine: virtual environment, Python packages and,
# for the tests, the system packages (apt as root; otherwise a message naming them).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test fuzz install install-test system-deps node-deps

run: install
	$(PY) -m jitsi_py

test: install-test system-deps node-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# The fuzz tests alone, long: HYPOTHESIS_PROFILE=fuzz (tests/conftest.py) runs many examples per
# parser; failures are kept in .hypothesis/ and replayed first on the next run.
FUZZ_PROFILE ?= fuzz
fuzz: install-test
	HYPOTHESIS_PROFILE=$(FUZZ_PROFILE) $(PY) -m pytest -m fuzz -o timeout=0 $(PYTEST_ARGS)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e .

install-test: $(PY)
	$(PY) -m pip install -q -e '.[test]'

system-deps:
	bash scripts/install-system-deps.sh

# Strophe.js (the XMPP library of the Jitsi web client) from the npm registry, for transport tests.
node-deps:
	@if [ -f tests/node/package.json ]; then cd tests/node && npm install --silent --no-audit --no-fund; fi
