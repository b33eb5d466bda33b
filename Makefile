# Every target installs what it needs: a fresh machine with Python >= 3.11 and
# Go >= 1.26 (and the package registries) is enough.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: all venv testenv test lint demo bench-client bench-workqueue bench-informer bench bench-quick clean

all: test

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

# Builds (or reuses from ~/.cache/kubeloop/testenv) the real control plane.
testenv: venv
	$(PY) -m kubeloop.testenv build

test: venv testenv
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

# The main job: the Network controller walkthrough on a local control plane.
demo: venv testenv
	$(PY) -m network_controller.walkthrough

# LIST throughput against the official kubernetes client (prints figures).
bench-client: venv testenv
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) bench/client/bench_list.py

# Informer initial sync of 10,000 and 50,000 objects from testenv (time, peak
# and steady RSS, RSS per object, with and without managedFields), then delta
# throughput from an in-memory source (prints figures; about 5 minutes).
bench-informer: venv testenv
	$(PY) bench/informer/bench_informer_sync.py
	$(PY) bench/informer/bench_delta_throughput.py

# add/get/done throughput of kubeloop.workqueue and of client-go's workqueue
# (bench/workqueue/go), side by side with the ratio (prints figures).
bench-workqueue: venv
	PYTHONPATH=src $(PY) bench/workqueue/bench_workqueue.py

# Side by side on one testenv: kubeloop's network-controller, client-go,
# kopf and the official Python client (initial sync, update storm, idle, and
# the micro benchmarks); regenerates docs/benchmarks.md and docs/img/bench-*.
bench: venv testenv
	$(PY) -m pip install -q -e '.[dev,bench]'
	PYTHONPATH=src $(PY) bench/run.py

# The same at N=2,000, one repetition, a 10 s idle window (under 3 minutes).
bench-quick: venv testenv
	$(PY) -m pip install -q -e '.[dev,bench]'
	PYTHONPATH=src $(PY) bench/run.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
