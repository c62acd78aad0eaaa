"""Single-stage DNN/accelerator co-search: ``python search.py reward=energy`` (DESIGN §1, §6)."""

import logging
import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("YOSO_ROOT", str(Path(__file__).resolve().parent))

from yoso.cli import SEARCH_GROUPS, task_wrapper, validate_config  # noqa: E402

log = logging.getLogger("yoso.search")

#: Exit status while the search loop is not implemented (nothing is pretended to run).
NOT_IMPLEMENTED_EXIT = 3


@task_wrapper
def search(cfg: DictConfig) -> None:
    """Validate the config and build the joint space; the search loop itself is not written yet."""
    setup = validate_config(cfg, require=SEARCH_GROUPS)
    log.info("config valid; seed %d; %s; %s", setup.seed, setup.space, setup.reward)
    log.error(
        "the search loop (controller, evaluator, history, final step) is not implemented yet: "
        "it arrives with the single-stage search issue; nothing was searched"
    )
    raise SystemExit(NOT_IMPLEMENTED_EXIT)


@hydra.main(version_base="1.3", config_path="conf", config_name="search")
def main(cfg: DictConfig) -> None:
    search(cfg)


if __name__ == "__main__":
    main()
