"""Compose the real Hydra configs for tests (as lightning-hydra-template does) and shrink them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
os.environ.setdefault("YOSO_ROOT", str(ROOT))

import yoso.app.cli  # noqa: E402,F401  (registers the typed config schemas in Hydra's ConfigStore)


def compose_config(name: str, overrides: list[str] | None = None) -> DictConfig:
    """The config ``name`` (search/train) composed with the smoke experiment and ``overrides``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(config_name=name, overrides=["experiment=smoke", *(overrides or [])])


@pytest.fixture
def cfg_search() -> DictConfig:
    return compose_config("search")


@pytest.fixture
def cfg_train() -> DictConfig:
    return compose_config("train")


@pytest.fixture(scope="session")
def space():
    """The default joint space (the elastic one), built from the composed search config."""
    from yoso.space import JointSpace

    return JointSpace.from_config(compose_config("search"))


@pytest.fixture(scope="session")
def paper_space():
    """The paper's 44-decision space (space=yoso)."""
    from yoso.space import JointSpace

    return JointSpace.from_config(compose_config("search", ["space=yoso"]))


@pytest.fixture(scope="module")
def single_thread():
    """One torch thread for tests of tiny models: intra-op threads only add spin-waiting on a busy 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
