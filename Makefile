# audiofaith — `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test demo bench clean help

help:
	@echo "make demo   set up .venv, train (or reuse) the two known-answer checkpoints, run the pipeline, report"
	@echo "make test   set up .venv and run the test suite"
	@echo "make bench  throughput ratios on the CPU with a tiny checkpoint (last line: JSON)"
	@echo "make setup  only create .venv with requirements/test.txt (torch pinned, CPU-usable)"

$(STAMP): requirements/core.txt requirements/hf.txt requirements/test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements/test.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m audiofaith.demo

bench: $(STAMP)
	$(PY) scripts/bench.py

clean:
	rm -rf demo_run .pytest_cache
