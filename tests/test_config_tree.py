"""Every option of the config tree composes, validates and builds: each conf/strategy/*.yaml and each
conf/experiment/*.yaml with each entry point's config (search, train, two_stage)."""

from __future__ import annotations

import pytest
from helpers import ALL_STRATEGIES, ENTRY_CONFIGS, EXPERIMENT_ENTRIES, EXPERIMENTS, STRATEGY_CLASSES, compose_config
from omegaconf import open_dict

from yoso.app.run import validate_config


def test_the_tree_has_its_entry_points_experiments_and_strategies() -> None:
    assert {"search", "train", "two_stage"} <= set(ENTRY_CONFIGS)
    assert {"paper", "smoke"} <= set(EXPERIMENTS)
    assert {"random", "reinforce", "differentiable"} <= set(ALL_STRATEGIES)


@pytest.mark.parametrize("kind", ALL_STRATEGIES)
def test_every_strategy_composes_validates_and_builds(kind: str) -> None:
    """On the paper's space (space=yoso), which every strategy searches (the one-shot one only that space)."""
    setup = validate_config(compose_config("search", ["space=yoso", f"strategy={kind}"]))
    assert type(setup.strategy) is STRATEGY_CLASSES[kind] and setup.strategy.name == kind


@pytest.mark.parametrize(
    ("entry", "experiment"),
    [(e, x) for x in EXPERIMENTS for e in ENTRY_CONFIGS if e in EXPERIMENT_ENTRIES.get(x, ENTRY_CONFIGS)],
)
def test_every_experiment_composes_and_validates(entry: str, experiment: str) -> None:
    """Every value is checked but whether the data files are on disk: ``data.download=true`` (where the data set
    has that key) stands in for them, since validation only builds the DataModule and nothing is downloaded."""
    cfg = compose_config(entry, [f"experiment={experiment}"])
    assert experiment in cfg.tags  # the experiment, not only the smoke one compose_config starts from
    if "download" in cfg.data:
        with open_dict(cfg):
            cfg.data.download = True
    setup = validate_config(cfg)
    assert setup.seed == cfg.seed and setup.cells is not None
    assert (setup.strategy is not None) == ("strategy" in cfg)
