# yoso: `make search` runs the single-stage search, `make test` the fast test suite.
# `make install` builds .venv once (CPU-only torch first, then yoso with its dev extras);
# the stamp file makes a second call a no-op until pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install.stamp
TORCH := torch==2.13.0
ARGS ?=

.PHONY: install data test test-all search two-stage train bench ext clean

# Fashion-MNIST, the default data: Debian's dataset-fashion-mnist package (four idx files, no network beyond
# Debian's mirror). Installed when missing and this is root with apt; otherwise one line says how to get it.
# Skipped when ARGS names the data (data=digits, data.root=..., data.download=true).
FMNIST_ROOT := /usr/share/datasets/fashion-mnist
FMNIST_FILES := $(addprefix $(FMNIST_ROOT)/,train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU wheel first: a bare `torch` requirement would pull several GB of CUDA packages.
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

data:
	@case "$(ARGS)" in *data*) exit 0;; esac; \
	if ls $(FMNIST_FILES) >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Fashion-MNIST: apt-get install dataset-fashion-mnist"; \
		apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
		|| { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; } \
		|| { echo "could not install dataset-fashion-mnist with apt-get; see 'apt-get install dataset-fashion-mnist'"; exit 1; }; \
	else \
		echo "Fashion-MNIST is missing from $(FMNIST_ROOT): run 'sudo apt-get install dataset-fashion-mnist', or pass ARGS='data.root=<folder with the four idx .gz files>' or ARGS='data.download=true'"; \
		exit 1; \
	fi

# The loader tests need no real data (those that do skip with a reason), so a failed data step does not stop them.
test: install
	-@$(MAKE) --no-print-directory data
	$(BIN)/python -m pytest $(ARGS)

test-all: install
	-@$(MAKE) --no-print-directory data
	$(BIN)/python -m pytest -m "slow or not slow" $(ARGS)

# The README's main command: the accuracy-energy search of the paper's Fig. 4(b); ARGS overrides (last wins).
search: install data
	$(BIN)/python search.py reward=energy $(ARGS)

# The paper's two-stage baseline (Table 2): known networks on their best enumerated accelerators.
two-stage: install data
	$(BIN)/python two_stage.py $(ARGS)

train: install data
	$(BIN)/python train.py $(ARGS)

bench: install
	@set -e; for script in benchmarks/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script; \
	done

# External reference simulators (SCALE-Sim, nn-dataflow, ZigZag) in their own venv: nn-dataflow
# needs sympy==1.5.1, which torch cannot share. Only needed to regenerate src/yoso/reference/external_reference.json.
ext:
	bash benchmarks/external/setup_venv.sh

clean:
	rm -rf $(VENV) .venv-ext .pytest_cache build dist src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
