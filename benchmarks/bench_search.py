"""REINFORCE vs random search at an equal budget on one evaluator (paper Fig. 4(a), issue 7).

    .venv/bin/python benchmarks/bench_search.py [--iterations 500] [--seeds 0 1 2] [hydra overrides ...]

Both strategies run ``--iterations`` samples per seed through the same :class:`CandidateEvaluator`
(the config's HyperNet and GP predictor, built or reused as ``search.py`` does; accuracies are
cached by genotype and shared). Prints, per seed and on average: the best reward, the samples
REINFORCE needs to reach random search's final best, and the hypervolume of (accuracy, energy,
latency) against two reference points: the whole space's (accuracy 0, 1.1 x the largest energy and
latency of all runs) and the thresholds' (accuracy 0, t_eer, t_lat: the front of designs that pass
the paper's screen). Each run's history (and checkpoint) is kept in ``--out/<strategy>-seed<k>``,
so a rerun only recomputes the figures (``--fresh`` starts over); the running-best-reward plot
(Fig. 4(a)-like) is saved to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf, open_dict

from yoso.app.cli import compose, set_num_threads  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOSO_ROOT", str(ROOT))

STRATEGIES = ("reinforce", "random")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=None, help="samples per run (default: search.iterations)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench" / "search")
    parser.add_argument("--fresh", action="store_true", help="delete the runs kept in --out and search again")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the search config, e.g. reward=energy")
    args = parser.parse_args()

    from yoso.app.pipeline import build_evaluator
    from yoso.app.run import validate_config
    from yoso.search.engine import Experiment
    from yoso.search.report import hypervolume, plot_best_reward, running_best, search_objectives
    from yoso.search.strategy import build_strategy
    from yoso.tables import format_table

    configs = {}
    for name in STRATEGIES:
        configs[name] = compose([*args.overrides, f"strategy={name}", "logger=none"])
        with open_dict(configs[name]):
            configs[name].paths.output_dir = str(args.out)
    cfg = configs[STRATEGIES[0]]
    set_num_threads(cfg.get("num_threads"))  # the config's torch threads (conf/runtime), as search.py
    setup = validate_config(cfg)
    iterations = args.iterations or int(cfg.search.iterations)
    evaluator = build_evaluator(setup)
    print(f"{iterations} samples x {len(args.seeds)} seeds per strategy; reward {cfg.reward}")

    histories: dict[str, list] = {name: [] for name in STRATEGIES}
    for name in STRATEGIES:
        for seed in args.seeds:
            strategy = build_strategy(OmegaConf.to_container(configs[name].strategy, resolve=True), setup.space, seed)
            start = time.perf_counter()
            run_dir = args.out / f"{name}-seed{seed}"
            if args.fresh:
                shutil.rmtree(run_dir, ignore_errors=True)
            history = Experiment(
                strategy,
                evaluator,
                iterations,
                run_dir,
                {"bench": name, "seed": seed},
                progress=True,
                checkpoint_every_s=setup.search.checkpoint_every_s,
            ).run()
            print(
                f"{name} seed {seed}: best reward {history.reward.max():.4f} in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
            histories[name].append(history)

    pooled = [h for runs in histories.values() for h in runs]
    references = {
        "space": (
            0.0,
            round(1.1 * max(h.energy_mj.max() for h in pooled), 3),
            round(1.1 * max(h.latency_ms.max() for h in pooled), 3),
        ),
        "thresholds": (0.0, setup.reward.t_eer_mj, setup.reward.t_lat_ms),
    }
    rows = []
    for i, seed in enumerate(args.seeds):
        rl, rand = histories["reinforce"][i], histories["random"][i]
        target = rand.reward.max()
        reached = np.flatnonzero(running_best(rl.reward) >= target)
        row = {"seed": seed, "samples to random's best": int(reached[0]) + 1 if len(reached) else "not reached"}
        for name, h in (("reinforce", rl), ("random", rand)):
            points, maximize = search_objectives(h.accuracy, h.energy_mj, h.latency_ms)
            row[f"{name} best R"] = float(h.reward.max())
            for ref_name, reference in references.items():
                row[f"{name} HV {ref_name}"] = hypervolume(points, reference, maximize)
        rows.append(row)
    mean = {"seed": "mean", "samples to random's best": ""}
    figures = ["best R", *(f"HV {ref}" for ref in references)]
    mean.update({f"{n} {k}": float(np.mean([r[f"{n} {k}"] for r in rows])) for k in figures for n in STRATEGIES})
    print(
        format_table(
            [*rows, mean], title=f"REINFORCE vs random, {iterations} samples; HV references (A, e, l): {references}"
        )
    )
    for k in figures:
        wins = sum(r[f"reinforce {k}"] > r[f"random {k}"] for r in rows)
        print(f"REINFORCE higher on {k} in {wins}/{len(rows)} seeds")
    plot = plot_best_reward(
        args.out / "best_reward.png",
        {k: [h.reward for h in v] for k, v in histories.items()},
        title="running best reward: mean and min-max over seeds",
    )
    print(f"plot: {plot}")


if __name__ == "__main__":
    main()
