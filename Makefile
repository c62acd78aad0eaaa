# yoso: `make search` runs the single-stage search, `make test` the fast test suite.
# `make install` builds .venv once from the lock (requirements.lock: every package at the exact version CI
# measured; CPU-only torch first, then yoso with its dev extras); the stamp file makes a second call a no-op
# until pyproject.toml or the lock changes. `make lock` regenerates the lock from pyproject.toml's ranges,
# `make test-latest` runs the suite on the newest releases those ranges allow (an early warning).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install.stamp
LOCK := requirements.lock
# The torch that `make lock` and `make test-latest` install first: the CPU wheel (a bare `torch` pulls GBs of CUDA).
TORCH ?= torch==2.13.0
ARGS ?=

.PHONY: install install-zigzag lock test-latest lint data test test-all search two-stage train bench ext clean

# Fashion-MNIST, the default data: Debian's dataset-fashion-mnist package (four idx files, no network beyond
# Debian's mirror). Installed when missing and this is root with apt; otherwise one line says how to get it.
# Skipped when ARGS names the data (data=digits, data.root=..., data.download=true).
FMNIST_ROOT := /usr/share/datasets/fashion-mnist
FMNIST_FILES := $(addprefix $(FMNIST_ROOT)/,train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

install: $(STAMP)

# Every install takes the lock as pip constraints: each package at its locked version, whatever is newer upstream.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(LOCK) pip
	# The CPU wheel first: a bare `torch` requirement would pull several GB of CUDA packages.
	$(BIN)/python -m pip install --quiet -c $(LOCK) torch
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e ".[dev]"
	touch $(STAMP)

# The optional ZigZag reference cost (reference_cost=zigzag): zigzag-dse and the packages it adds, at the versions of
# requirements-zigzag.lock, into .venv beside the main lock. Not part of install, test or CI.
install-zigzag: install
	$(BIN)/python -m pip install --quiet -c $(LOCK) -c requirements-zigzag.lock -e ".[dev,zigzag]"

# A fresh venv resolves pyproject.toml's ranges today (torch held at $(TORCH)); its `pip freeze` becomes the lock.
# Build tools (setuptools, wheel) stay out: they build yoso, they are not what it runs on. The local version
# label of the CPU wheel (+cpu) is dropped, so the pin also matches the same release from another index.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet "$(TORCH)"
	.venv-lock/bin/python -m pip install --quiet -e ".[dev]"
	{ echo "# The lock: every package \`make install\` installs, at the version CI measured (regenerate: make lock)."; \
	  echo "# Python $$(.venv-lock/bin/python -c 'import platform; print(platform.python_version())'),"\
	       "resolved $$(date -u +%Y-%m-%d) from pyproject.toml's ranges; yoso itself is installed editable beside it."; \
	  .venv-lock/bin/python -m pip freeze --all --exclude-editable | grep -v -e '^setuptools==' -e '^wheel==' \
	  | sed 's/+cpu$$//'; } > $(LOCK)
	rm -rf .venv-lock
	@echo "wrote $(LOCK) ($$(grep -c '==' $(LOCK)) packages); git diff $(LOCK) shows what moved"

# The newest releases pyproject.toml's ranges allow, in a venv of their own (.venv-latest), then the default suite:
# what the next `make lock` would break shows here first. torch stays at $(TORCH) (the newest is a CUDA build of
# several GB); `make test-latest TORCH=torch==X` tries another. The packages that differ from the lock are listed.
test-latest:
	rm -rf .venv-latest && $(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --quiet "$(TORCH)"
	echo "$(TORCH)" > .venv-latest/torch.txt
	.venv-latest/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -c .venv-latest/torch.txt -e ".[dev]"
	@newer=$$(.venv-latest/bin/python -m pip freeze --exclude-editable | sed 's/+cpu$$//' | grep -v -x -F -f $(LOCK)); \
	if [ -n "$$newer" ]; then echo "newer than the lock:"; echo "$$newer" | sed 's/^/  /'; \
	else echo "newer than the lock: nothing (the lock is the newest the ranges allow)"; fi
	-@$(MAKE) --no-print-directory data
	.venv-latest/bin/python -m pytest $(ARGS)

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

# Style: the formatter's layout and the linter's rules ([tool.ruff] in pyproject.toml), on every Python file we own;
# then the type checker, mypy, on src ([tool.mypy]: strict on yoso.space and yoso.hw, its defaults elsewhere).
LINTED := src tests benchmarks docs/figures search.py train.py two_stage.py
lint: install
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy

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
	rm -rf $(VENV) .venv-ext .venv-lock .venv-latest .pytest_cache .mypy_cache build dist src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
