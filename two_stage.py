"""The two-stage baseline (paper Table 2): ``python two_stage.py [two_stage.models=[DARTS_V2,ENAS]]``.

Trains each known network stand-alone on the configured data, enumerates every accelerator of
the space with the simulator, and writes ``two_stage.csv``/``.md``/``.yaml`` (best accelerator by
energy, latency and reward) to the run directory; ``python -m yoso.app.report`` compares it with
search runs. Rerunning with ``hydra.run.dir=<that run directory>`` reuses the trained accuracies.
"""

import os
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

os.environ.setdefault("YOSO_ROOT", str(Path(__file__).resolve().parent))

from yoso.app.cli import check_group_choices, task_wrapper  # noqa: E402


@task_wrapper
def two_stage(cfg: DictConfig) -> list[dict[str, Any]]:
    """The whole two-stage flow; returns its rows (as written to two_stage.csv)."""
    from yoso.app.two_stage import run_two_stage

    return run_two_stage(cfg)


@hydra.main(version_base="1.3", config_path="conf", config_name="two_stage")
def main(cfg: DictConfig) -> None:
    two_stage(cfg)


if __name__ == "__main__":
    check_group_choices()
    main()
