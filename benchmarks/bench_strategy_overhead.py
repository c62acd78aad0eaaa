"""Each strategy's own wall time per evaluation (ask + tell), on a machine to itself (issue 10).

    .venv/bin/python benchmarks/bench_strategy_overhead.py [--iterations 100] [--strategies ...]

The evaluator is a cheap synthetic one (energy from the PE array, latency from the dataflow,
accuracy from the DNN decisions), so only the strategy's time is measured, in a temporary
run directory with the loop's per-step checkpoint (the Optuna strategies write optuna.journal),
with `constraints=hard` at the reward's thresholds. bench_strategies.py reports the same
figure inside the real search, where other work may share the cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from yoso.app.cli import compose  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOSO_ROOT", str(ROOT))
STRATEGIES = ("reinforce", "random", "evolution", "tpe", "nsga2", "cmaes", "qnehvi")


def synthetic_accuracy(v: np.ndarray) -> np.ndarray:
    return (v[:, :40] == 0).mean(1)


def synthetic_hardware(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return 5.0 + v[:, -4], 1.0 + 0.1 * v[:, -1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    args = parser.parse_args()

    from yoso.app.run import validate_config
    from yoso.search.engine import Experiment
    from yoso.search.evaluator import CandidateEvaluator

    for name in args.strategies:
        cfg = compose([f"strategy={name}", "constraints=hard", "logger=none"])
        setup = validate_config(cfg)
        evaluator = CandidateEvaluator(
            synthetic_accuracy, synthetic_hardware, setup.reward, constraints=setup.constraints
        )
        with tempfile.TemporaryDirectory() as run_dir:
            loop = Experiment(setup.strategy, evaluator, args.iterations, run_dir, progress=False)
            start = time.perf_counter()
            loop.run()
            wall = time.perf_counter() - start
        print(
            f"{name:10s} {loop.strategy_ms_per_candidate:8.1f} ms per evaluation (ask + tell); "
            f"{1e3 * wall / args.iterations:8.1f} ms per evaluation with the loop's checkpoint",
            flush=True,
        )


if __name__ == "__main__":
    main()
