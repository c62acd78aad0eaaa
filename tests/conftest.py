"""Fixtures of the tests (shared functions and constants: tests/helpers.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import compose_config, smoke_key, space_of, synthetic_table, use_scratch
from omegaconf import DictConfig

#: W&B's own folders (its cache holds the debug logs of every run, ~/.cache/wandb/logs by default).
WANDB_FOLDERS = ("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR")


@pytest.fixture(scope="session", autouse=True)
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One temporary folder for what tests would otherwise write into the repository or the home folder: the
    caches and logs of composed configs (helpers.compose_config) and W&B's folders (also of child processes)."""
    folder = tmp_path_factory.mktemp("scratch")
    use_scratch(folder)
    with pytest.MonkeyPatch.context() as patch:
        for name in WANDB_FOLDERS:
            patch.setenv(name, str(folder / name.lower()))
        yield folder


@pytest.fixture(scope="session")
def shared_cache(scratch: Path) -> Path:
    """The session's one artefact cache (HyperNets, sample sets, GPs, each keyed by a hash of its config): the folder
    compose_config points ``paths.cache_dir`` at, for the runs of tests that do not test the cache itself, so each
    artefact is built once per session (a file lock serialises parallel builders)."""
    return scratch / "cache"


@pytest.fixture(autouse=True)
def no_open_wandb_run() -> Iterator[None]:
    """Close a W&B run a test left open (the entry points close theirs in task_wrapper; tests that call a flow
    in-process bypass it), so a later test's WandbLogger starts its own run instead of reusing that one."""
    yield
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


@pytest.fixture
def cfg_search() -> DictConfig:
    return compose_config("search")


@pytest.fixture
def cfg_train() -> DictConfig:
    return compose_config("train")


@pytest.fixture(scope="session")
def space():
    """The default joint space (the elastic one), built from the composed search config."""

    return space_of(compose_config("search"))


@pytest.fixture(scope="session")
def paper_space():
    """The paper's 44-decision space (space=yoso)."""

    return space_of(compose_config("search", ["space=yoso"]))


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread_per_worker() -> Iterator[None]:
    """Under pytest-xdist with several workers, one torch thread per worker: the workers already fill the cores, and
    torch's default intra-op threads in each would spin against each other (an in-process qNEHVI loop took 36 s
    beside another worker, 3 s alone)."""
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        import torch

        torch.set_num_threads(1)
    yield


@pytest.fixture(scope="module")
def single_thread():
    """One torch thread for tests of tiny models: intra-op threads only add spin-waiting on a busy 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def smoke_table(scratch: Path, space) -> Path:
    """A synthetic accuracy table of the smoke search's stand-alone config (helpers.synthetic_table): what
    ``accuracy_model=predictor`` needs in a smoke run."""
    return synthetic_table(scratch / "smoke_table.json.gz", space, smoke_key())
