"""yoso's tabular benchmark: ``python bench.py [bench.archs=200] [bench.seeds=[0,1]]`` (docs/bench.md).

``bench.mode=build`` trains architectures drawn from the space stand-alone and appends their accuracies to
``bench.out`` (resumable; slices under Hydra's launchers with ``-m bench.slices=N bench.slice=0,...``);
``bench.mode=merge`` writes the table (``yoso.bench``'s package data) that ``yoso.bench.lookup`` reads.
"""

import os
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

os.environ.setdefault("YOSO_ROOT", str(Path(__file__).resolve().parent))

from yoso.app.cli import check_group_choices, task_wrapper  # noqa: E402


@task_wrapper
def bench(cfg: DictConfig) -> Any:
    """Build this slice's rows, or merge every slice's rows into the table."""
    from yoso.app.bench import run_bench

    return run_bench(cfg)


@hydra.main(version_base="1.3", config_path="conf", config_name="bench")
def main(cfg: DictConfig) -> None:
    bench(cfg)


if __name__ == "__main__":
    check_group_choices()
    main()
