"""HyperNet or stand-alone training under Lightning: ``python train.py`` (DESIGN §6)."""

import logging
import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("YOSO_ROOT", str(Path(__file__).resolve().parent))

from yoso.cli import TRAIN_GROUPS, task_wrapper, validate_config  # noqa: E402

log = logging.getLogger("yoso.train")

#: Exit status while training is not implemented (nothing is pretended to run).
NOT_IMPLEMENTED_EXIT = 3


@task_wrapper
def train(cfg: DictConfig) -> None:
    """Validate the config; HyperNet and stand-alone training are not written yet."""
    setup = validate_config(cfg, require=TRAIN_GROUPS)
    log.info("config valid; seed %d; %s", setup.seed, setup.cells)
    log.error(
        "HyperNet and stand-alone training are not implemented yet: they arrive with the "
        "data and HyperNet issue; nothing was trained"
    )
    raise SystemExit(NOT_IMPLEMENTED_EXIT)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
