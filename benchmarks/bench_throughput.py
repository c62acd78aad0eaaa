"""Candidates per second of the search's evaluator: the accuracy model plus the cost model (issue 29, item 3).

    .venv/bin/python benchmarks/bench_throughput.py [--candidates 10000] [--batch 20] [hydra overrides ...]

Composes ``conf/search.yaml`` with ``experiment=paper_scale`` (the predictor and the GP) and the overrides, builds
both models as ``search.py`` does (the GP from the cache, or trained), draws ``--candidates`` candidates of the
space and evaluates them in batches of ``--batch`` (a strategy step of ``strategy.samples_per_step``) through the
run's ``CandidateEvaluator``. It prints candidates per second for the accuracy model, the cost model and the whole
evaluator (reward and feasibility included), and the same for one batch of all candidates. Run it alone: a second
process on a 2-core machine halves the figures.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOSO_ROOT", str(ROOT))


def rate(fn, batches: list[np.ndarray]) -> float:
    """Candidates per second of ``fn`` over ``batches`` (one call each)."""
    start = time.perf_counter()
    for batch in batches:
        fn(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=20, help="candidates per call (strategy.samples_per_step)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/search.yaml")
    args = parser.parse_args()

    from yoso.app.cli import compose, set_num_threads
    from yoso.app.pipeline import build_evaluator
    from yoso.app.run import validate_config

    out = ROOT / "logs" / "bench" / "throughput"
    cfg = compose(["experiment=paper_scale", "logger=none", f"paths.output_dir={out}", *args.overrides])
    set_num_threads(cfg.get("num_threads"))  # the config's torch threads (conf/runtime), as search.py
    run = validate_config(cfg)
    started = time.perf_counter()
    evaluator = build_evaluator(run)  # fits the accuracy model, loads or trains the GP
    print(f"models ready in {time.perf_counter() - started:.1f} s ({run.accuracy_model().name} accuracy, GP cost)")
    vectors = run.space.sample(args.candidates, 1)
    batches = np.array_split(vectors, max(1, args.candidates // args.batch))
    whole = [vectors]
    print(f"{args.candidates} candidates of {run.space}; batches of {args.batch} / one batch of {args.candidates}")
    for name, fn in (
        ("accuracy model", evaluator.accuracy),
        ("cost model", evaluator.hardware),
        ("evaluator (both, reward, feasibility)", evaluator),
    ):
        print(f"  {name:40s} {rate(fn, batches):9.0f} / {rate(fn, whole):9.0f} candidates/s")


if __name__ == "__main__":
    main()
