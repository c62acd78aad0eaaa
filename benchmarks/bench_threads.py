"""Search speed per torch thread count, alone and with one competing CPU-bound process (num_threads).

    .venv/bin/python benchmarks/bench_threads.py [--samples 100] [--threads 1 2] [--competitor python|torch]
                                                 [hydra overrides of conf/search.yaml ...]

Composes the search config (``conf/search.yaml`` with the overrides given, logger off), reuses or
builds step 1 as ``search.py`` does (the cached HyperNet and GP predictor, ``pipeline.build_evaluator``)
and then times only step 2: ``--samples`` candidates of the configured strategy (ask, evaluate,
tell; no checkpoint or history file). For each ``--threads`` value it sets torch's thread count
(``torch.set_num_threads``: the intra-op threads that ``num_threads`` sets), times a fresh strategy
alone, then again while one other process keeps a core busy, and prints samples per second alone,
with the competitor and the slowdown. Every measurement starts from the same seed with the accuracy
caches emptied, so each does the same work. The competitor is a separate Python process: ``python``
spins a pure-Python busy loop; ``torch`` runs 256x256 matmuls with torch's default thread count (the
environment's OMP_NUM_THREADS and MKL_NUM_THREADS removed), as a test run or another training would.

A smoke-sized check: ``bench_threads.py --samples 8 --threads 1 2 experiment=smoke``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf, open_dict

from yoso.app.cli import compose  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOSO_ROOT", str(ROOT))

COMPETITORS = {
    "python": "while True:\n    pass\n",
    "torch": "import torch\na = torch.randn(256, 256)\nwhile True:\n    a @ a\n",
}
#: Seconds the competitor runs before a measurement starts (its imports and thread start-up done).
WARMUP_S = {"python": 0.5, "torch": 3.0}


def start_competitor(kind: str) -> subprocess.Popen:
    """One CPU-bound process of ``kind``; the thread-count variables are removed from its environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    proc = subprocess.Popen([sys.executable, "-c", COMPETITORS[kind]], env=env)
    time.sleep(WARMUP_S[kind])
    if proc.poll() is not None:
        raise RuntimeError(f"the {kind} competitor exited with status {proc.returncode}")
    return proc


def samples_per_second(cfg, setup, evaluator, samples: int) -> float:
    """Step 2 of the search for ``samples`` candidates from the run seed, the accuracy cache emptied first."""
    from yoso.search.engine import Experiment
    from yoso.search.strategy import build_strategy

    evaluator.accuracy.__self__.evaluator().clear()  # SupernetModule.accuracy's SubnetEvaluator: measure anew
    strategy = build_strategy(
        OmegaConf.to_container(cfg.strategy, resolve=True), setup.space, setup.seed, setup.constraints
    )
    loop = Experiment(strategy, evaluator, samples, run_dir=None, progress=False)
    start = time.perf_counter()
    loop.run()
    return samples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100, help="candidates per measurement")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to compare")
    parser.add_argument("--competitor", choices=sorted(COMPETITORS), default="torch")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the search config, e.g. experiment=smoke")
    args = parser.parse_args()
    if args.samples < 1 or min(args.threads) < 1:
        parser.error("--samples and --threads must be >= 1")

    import torch

    from yoso.app.cli import quiet_libraries, set_num_threads
    from yoso.app.pipeline import build_evaluator
    from yoso.app.run import validate_config

    quiet_libraries()
    default_threads = torch.get_num_threads()
    cfg = compose([*args.overrides, "logger=none"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(ROOT / "logs" / "bench" / "threads")  # not written: no run directory is used
    setup = validate_config(cfg)
    set_num_threads(cfg.get("num_threads"))
    evaluator = build_evaluator(setup)  # step 1: the cached HyperNet and GP (built on a first run)
    samples_per_second(cfg, setup, evaluator, min(args.samples, 5))  # warm-up: first-call costs out of the figures

    print(
        f"{args.samples} samples of strategy {setup.strategy.name} per measurement; competitor: one "
        f"{args.competitor} process; {os.cpu_count()} CPUs; torch default {default_threads} threads "
        f"(config num_threads={cfg.get('num_threads')})",
        flush=True,
    )
    print(f"{'threads':>7} {'alone (samples/s)':>18} {'with competitor':>16} {'slowdown':>9}", flush=True)
    for threads in args.threads:
        torch.set_num_threads(threads)
        alone = samples_per_second(cfg, setup, evaluator, args.samples)
        competitor = start_competitor(args.competitor)
        try:
            shared = samples_per_second(cfg, setup, evaluator, args.samples)
        finally:
            competitor.terminate()
            competitor.wait()
        print(f"{threads:>7} {alone:>18.2f} {shared:>16.2f} {alone / shared:>8.1f}x", flush=True)


if __name__ == "__main__":
    main()
