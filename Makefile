# yoso: `make search` runs the single-stage search, `make test` the fast test suite.
# `make install` builds .venv once (CPU-only torch first, then yoso with its dev extras);
# the stamp file makes a second call a no-op until pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install.stamp
TORCH := torch==2.13.0
ARGS ?=

.PHONY: install test test-all search two-stage train bench ext clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU wheel first: a bare `torch` requirement would pull several GB of CUDA packages.
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest $(ARGS)

test-all: install
	$(BIN)/python -m pytest -m "slow or not slow" $(ARGS)

# The README's main command: the accuracy-energy search of the paper's Fig. 4(b); ARGS overrides (last wins).
search: install
	$(BIN)/python search.py reward=energy $(ARGS)

# The paper's two-stage baseline (Table 2): known networks on their best enumerated accelerators.
two-stage: install
	$(BIN)/python two_stage.py $(ARGS)

train: install
	$(BIN)/python train.py $(ARGS)

bench: install
	@set -e; for script in benchmarks/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script; \
	done

# External reference simulators (SCALE-Sim, nn-dataflow, ZigZag) in their own venv: nn-dataflow
# needs sympy==1.5.1, which torch cannot share. Only needed to regenerate tests/data/external_reference.json.
ext:
	bash benchmarks/external/setup_venv.sh

clean:
	rm -rf $(VENV) .venv-ext .pytest_cache build dist src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
