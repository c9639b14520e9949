# audiofaith — `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test lint test-salmonn test-slurm demo bench validate-retrain clean help

help:
	@echo "make demo   set up .venv, run the pipeline on the two shipped known-answer checkpoints, report"
	@echo "make test   set up .venv, lint (ruff check) and run the test suite"
	@echo "make lint   only ruff check (rules in pyproject.toml)"
	@echo "make bench  throughput ratios on the CPU with a tiny checkpoint, then the report's throughput on"
	@echo "           REPORT_LINES (320000) synthetic result lines (each run's last line: JSON)"
	@echo "make validate-retrain  retrain both known-answer checkpoints from scratch (several minutes) and check"
	@echo "           every planted band (ATEN_CPU_CAPABILITY=avx2 make validate-retrain: other CPU kernels)"
	@echo "make setup  only create .venv with requirements/test.txt (torch pinned, CPU-usable)"
	@echo "make test-salmonn  create .venv-salmonn-cpu and test the SALMONN backend against SALMONN's real code"
	@echo "           (tiny random weights; SALMONN_REPO=../shared/salmonn-code; skipped when absent, failed under AUDIOFAITH_CI=1)"
	@echo "make test-slurm  install slurm-wlm and munge if missing (apt-get, root), start a one-node SLURM"
	@echo "           (scripts/slurm_local.sh), run tests/slurm (audiofaith submit end to end), stop the daemons"

$(STAMP): requirements/core.txt requirements/hf.txt requirements/test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements/test.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .

# Test files are spread over TEST_WORKERS processes (pytest-xdist), each file whole on one worker:
# a file's session fixtures (tiny models) are built once per worker that runs it.
TEST_WORKERS ?= 2

test: lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# SALMONN's real code (branch salmonn) needs transformers 4.28: its own CPU environment, Python 3.11
# (the CPU torch wheel on this machine's disk). torchaudio goes in without its dependencies (its
# pins would pull another torch); its compiled extension links CUDA libraries that the CPU torch
# lacks, so it is removed: SALMONN uses only torchaudio's pure-torch kaldi fbank, which imports
# without it.
SALMONN_PYTHON ?= python3.11
SALMONN_VENV   ?= .venv-salmonn-cpu
SALMONN_REPO   ?= ../shared/salmonn-code
SALMONN_PY     := $(SALMONN_VENV)/bin/python
SALMONN_STAMP  := $(SALMONN_VENV)/.installed

$(SALMONN_STAMP): requirements/salmonn-cpu.txt pyproject.toml
	$(SALMONN_PYTHON) -m venv $(SALMONN_VENV)
	$(SALMONN_PY) -m pip install --quiet -r requirements/salmonn-cpu.txt
	$(SALMONN_PY) -m pip install --quiet --no-deps torchaudio==2.11.1
	rm -f $(SALMONN_VENV)/lib/python3*/site-packages/torchaudio/lib/*.so
	$(SALMONN_PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(SALMONN_STAMP)

test-salmonn: $(SALMONN_STAMP)
	SALMONN_REPO=$(SALMONN_REPO) $(SALMONN_PY) -m pytest -q tests/salmonn_real

# A one-node SLURM on this machine (scripts/slurm_local.sh: munged, slurmctld, slurmd started by hand,
# state under /tmp/audiofaith-slurm); the daemons this target started are stopped when it ends.
# tests/slurm are skipped by `make test` unless a cluster answers.
test-slurm: $(STAMP)
	bash scripts/slurm_local.sh install
	AUDIOFAITH_REQUIRE_SLURM=1 bash scripts/slurm_local.sh run $(PY) -m pytest -q -p no:cacheprovider tests/slurm

demo: $(STAMP)
	$(PY) -m audiofaith demo

# The report's throughput on REPORT_LINES synthetic result lines (no model): lines/s, ratio to json.loads, peak memory.
REPORT_LINES ?= 320000

bench: $(STAMP)
	$(PY) scripts/bench.py
	$(PY) scripts/bench.py --report_lines $(REPORT_LINES)

# Not part of `make test`: trains both known-answer checkpoints from an empty cache (one CPU thread
# each, several minutes), then checks the dev acceptance and every planted band on the held-out set.
validate-retrain: $(STAMP)
	$(PY) scripts/retrain_known_answer.py --workdir $(or $(KA_WORKDIR),/tmp/audiofaith-retrain-$(or $(ATEN_CPU_CAPABILITY),native))

clean:
	rm -rf demo_run .pytest_cache
