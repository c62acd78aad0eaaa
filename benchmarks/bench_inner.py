"""Single-stage search against NAAS's nested split (``search.inner_accelerator``) at equal wall time (issue 30).

    .venv/bin/python benchmarks/bench_inner.py [--nested 300] [--single 3000] [--seeds 0 1 2] [hydra overrides ...]

Both run the config's strategy (REINFORCE by default) with the predicted stand-alone accuracy
(``accuracy_model=predictor``) and the simulator for the hardware, so their rewards are the same function:

* nested: ``--nested`` samples per seed; each sampled network runs on its best accelerator of the space (an
  exhaustive sweep), the strategy's own accelerator decisions replaced;
* single-stage: the strategy samples network and accelerator together, ``--single`` samples per seed (enough to
  outlast the nested run).

Each single-stage run is read at the nested run's wall time (its history's ``wall_time_s``): the best reward and
the hypervolume (thresholds' reference) it had reached by then, and the samples it had evaluated. Run it alone on
the machine: the comparison is one of wall time.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf, open_dict

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOSO_ROOT", str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nested", type=int, default=300, help="samples of each nested run")
    parser.add_argument("--single", type=int, default=3000, help="samples of each single-stage run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench" / "inner")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the search config, e.g. reward=energy")
    args = parser.parse_args()

    from yoso.app.cli import compose, set_num_threads
    from yoso.app.pipeline import build_evaluator
    from yoso.app.run import validate_config
    from yoso.search.engine import Experiment
    from yoso.search.report import hypervolume, search_objectives
    from yoso.search.strategy import build_strategy
    from yoso.tables import format_table

    common = ["logger=none", "accuracy_model=predictor", "cost_model=simulator", *args.overrides]
    modes = {"nested": ["search.inner_accelerator=true"], "single-stage": []}
    runs, evaluators = {}, {}
    for mode, extra in modes.items():
        cfg = compose([*common, *extra])
        with open_dict(cfg):
            cfg.paths.output_dir = str(args.out)
        set_num_threads(cfg.get("num_threads"))
        runs[mode] = validate_config(cfg)
        evaluators[mode] = build_evaluator(runs[mode])
    setup = runs["nested"]
    reward = setup.reward
    assert reward is not None and setup.space is not None and setup.strategy is not None
    reference = (0.0, reward.t_eer_mj, reward.t_lat_ms)
    print(f"strategy {setup.strategy.name}; {reward}; nested {args.nested} samples, single-stage {args.single}")

    rows = []
    for seed in args.seeds:
        histories = {}
        for mode, samples in (("nested", args.nested), ("single-stage", args.single)):
            strategy_cfg = OmegaConf.to_container(compose([*common]).strategy, resolve=True)
            strategy = build_strategy(strategy_cfg, setup.space, seed)
            start = time.perf_counter()
            histories[mode] = Experiment(
                strategy,
                evaluators[mode],
                samples,
                args.out / f"{mode}-seed{seed}",
                {"bench": mode, "seed": seed},
                progress=False,
                checkpoint_every_s=60.0,
            ).run()
            print(f"{mode} seed {seed}: {samples} samples in {time.perf_counter() - start:.1f} s", flush=True)
        nested, single = histories["nested"], histories["single-stage"]
        wall = float(nested.wall_time_s[-1])
        by_then = np.flatnonzero(single.wall_time_s <= wall)
        row = {"seed": seed, "wall (s)": wall, "single-stage samples by then": len(by_then)}
        for mode, h, keep in (("nested", nested, np.arange(len(nested))), ("single-stage", single, by_then)):
            points, maximize = search_objectives(h.accuracy[keep], h.energy_mj[keep], h.latency_ms[keep])
            row[f"{mode} best R"] = float(h.reward[keep].max())
            row[f"{mode} HV"] = hypervolume(points, reference, maximize)
        row["single-stage best R at its end"] = float(single.reward.max())
        rows.append(row)
    print(format_table(rows, title=f"equal wall time; HV reference (accuracy, energy, latency) = {reference}"))
    for key in ("best R", "HV"):
        wins = sum(r[f"nested {key}"] > r[f"single-stage {key}"] for r in rows)
        print(f"nested higher on {key} in {wins}/{len(rows)} seeds")


if __name__ == "__main__":
    main()
