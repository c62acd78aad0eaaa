"""Single-stage DNN/accelerator co-search: ``python search.py reward=energy`` (docs/architecture.md §3).

Builds or reuses the HyperNet and the GP predictor, runs the configured strategy, re-evaluates
the top-N with the simulator and stand-alone training, and writes ``history.csv``,
``best.yaml`` and ``pareto.png`` to the run directory. Running it again with
``hydra.run.dir=<that run directory>`` resumes an interrupted search.
"""

import logging
import os
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

os.environ.setdefault("YOSO_ROOT", str(Path(__file__).resolve().parent))

from yoso.app.cli import check_group_choices, task_wrapper  # noqa: E402

log = logging.getLogger("yoso.search")


@task_wrapper
def search(cfg: DictConfig) -> dict[str, Any]:
    """The whole flow; returns the chosen design (as written to best.yaml)."""
    from yoso.app.pipeline import run_search

    best = run_search(cfg)
    run_dir = Path(cfg.paths.output_dir)
    log.info("run directory %s: %s", run_dir, ", ".join(sorted(p.name for p in run_dir.iterdir() if p.is_file())))
    return best


@hydra.main(version_base="1.3", config_path="conf", config_name="search")
def main(cfg: DictConfig) -> float:
    """Returns the chosen design's reward, so Hydra sweepers can optimise it (NaN: no feasible design)."""
    return float(search(cfg).get("reward", float("nan")))


if __name__ == "__main__":
    check_group_choices()
    main()
