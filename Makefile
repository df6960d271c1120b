# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test lint install clean
.PHONY: bench drills mutants screenshots

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(INSTALLED)

## run: the whole service on the embedded stack (Temporal dev server, worker, API, demo data)
run: $(INSTALLED)
	$(VENV)/bin/crisisdesk dev

## test: the whole suite, on SQLite and PostgreSQL, time-skipping and dev Temporal servers
test: $(INSTALLED)
	scripts/ensure-postgres
	scripts/ensure-chromium
	$(PY) -m pytest

## bench: engine baseline and CrisisDesk's figures on a stack of its own (bench/run.py)
bench: $(INSTALLED)
	$(PY) -m bench.run

## drills: the fault drills at full scale (200 incidents; worker killed, Temporal restarted,
## PostgreSQL down 30 s, SMTP down a minute), printing the counts each one checked
drills: $(INSTALLED)
	scripts/ensure-postgres
	CRISISDESK_DRILLS=full $(PY) -m pytest tests/drills -s -q

## mutants: mutation testing of the domain rules and of sending at most once and Idempotency-Key
## binding against the fast tests (tests/domain, tests/fast); prints a
## score per module and the survivors, and fails below 90 % (settings in pyproject [tool.mutmut]);
## MUTANTS_ARGS=--keep keeps mutmut's work dir ./mutants/ to read a survivor: mutmut show NAME
mutants: $(INSTALLED)
	$(PY) scripts/mutants.py $(MUTANTS_ARGS)

## screenshots: the console's board, an incident page and the SOS page, on a stack of its own
## (the browser tests' harness), written to docs/screenshots/*.png
screenshots: $(INSTALLED)
	scripts/ensure-postgres
	scripts/ensure-chromium
	PYTHONPATH=. $(PY) scripts/screenshots.py

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
