"""Every search strategy at an equal evaluation budget on one evaluator (issue 10).

    .venv/bin/python benchmarks/bench_strategies.py [--iterations 150] [--seeds 0 1 2]
        [--rewards balanced energy latency] [--strategies ...] [--constraints hard|none] [--tabular] [--json] [overrides ...]

Each strategy runs ``--iterations`` evaluations per seed and reward preset through the same
evaluator (the config's HyperNet accuracy on the default data and its GP hardware predictor,
built or reused as ``search.py`` does; accuracies are cached by genotype and shared by all runs).
With ``--constraints hard`` (the default) every strategy treats the preset's thresholds as hard
constraints. Per preset and strategy it prints: the best feasible reward (samples meeting both
thresholds at search time), the hypervolume of the feasible (accuracy, energy, latency) front
against the fixed reference (accuracy 0, t_eer, t_lat), the evaluations needed to reach random
search's final best feasible reward (same seed), the fraction of feasible samples, whether the
design the final step returns (top-3 re-costed with the simulator, HyperNet accuracy) meets both
thresholds under the simulator, and the strategy's own wall time per evaluation (ask + tell, the
evaluator excluded). Runs are kept in ``--out/<preset>/<strategy>-seed<k>`` (a rerun only
recomputes the figures; ``--fresh`` starts over); figures go to ``--out/bench_strategies.json``
(``--json`` prints that document instead of the tables) and one best-so-far plot per preset.
``--tabular``: tabular mode, as NAS-Bench users expect: accuracy from the accuracy table (``accuracy_model=table``:
measured where tabulated, predicted elsewhere), hardware from the reference cost; no HyperNet, no GP to build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from yoso.app.cli import compose, set_num_threads  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOSO_ROOT", str(ROOT))

STRATEGIES = ("reinforce", "random", "evolution", "tpe", "nsga2", "cmaes", "qnehvi")
PRESETS = ("balanced", "energy", "latency")


def _first_reaching(best: np.ndarray, target: float) -> int | None:
    """1-based evaluations until the finite running best reaches ``target`` (None if never)."""
    hits = np.flatnonzero(np.isfinite(best) & (best >= target - 1e-12))
    return int(hits[0]) + 1 if len(hits) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=150, help="evaluations per run (equal for every strategy)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rewards", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--constraints", default="hard", choices=("hard", "none"))
    parser.add_argument("--top-n", type=int, default=3, help="candidates the final step re-costs with the simulator")
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench" / "strategies")
    parser.add_argument("--fresh", action="store_true", help="delete the runs kept in --out and search again")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of tables")
    parser.add_argument(
        "--tabular",
        action="store_true",
        help="tabular mode: accuracy from the accuracy table (accuracy_model=table: measured where tabulated, "
        "predicted elsewhere), hardware from the reference cost (cost_model=simulator); no HyperNet, no GP",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the search config")
    args = parser.parse_args()
    if args.tabular:
        args.overrides = ["accuracy_model=table", "cost_model=simulator", *args.overrides]
    if "random" not in args.strategies:
        parser.error("--strategies must include random (the reference for 'evaluations to reach random's best')")

    from yoso.app.pipeline import build_evaluator
    from yoso.app.run import validate_config
    from yoso.search.engine import Experiment
    from yoso.search.evaluator import CandidateEvaluator
    from yoso.search.final import final_step
    from yoso.search.report import hypervolume, plot_best_reward, running_best, search_objectives
    from yoso.search.strategy import build_strategy
    from yoso.tables import format_table

    base_overrides = [*args.overrides, "logger=none", f"constraints={args.constraints}", f"paths.output_dir={args.out}"]
    base_cfg = compose(base_overrides)
    set_num_threads(base_cfg.get("num_threads"))  # the config's torch threads (conf/runtime), as search.py
    base_setup = validate_config(base_cfg)
    base = build_evaluator(base_setup)  # one HyperNet + GP, shared by every run
    simulator = base_setup.reference_cost()
    log = (lambda *a, **k: None) if args.json else print
    log(
        f"{args.iterations} evaluations x seeds {args.seeds} x presets {args.rewards}; constraints={args.constraints}"
        + ("; tabular mode (accuracy table + reference cost)" if args.tabular else "")
    )
    bench_start = time.perf_counter()

    records: list[dict[str, Any]] = []
    curves: dict[str, dict[str, list[np.ndarray]]] = {}
    for preset in args.rewards:
        curves[preset] = {}
        for name in args.strategies:
            cfg = compose([*base_overrides, f"reward={preset}", f"strategy={name}"])
            setup = validate_config(cfg)
            evaluator = CandidateEvaluator(base.accuracy, base.hardware, setup.reward, constraints=setup.constraints)
            for seed in args.seeds:
                run_dir = args.out / preset / f"{name}-seed{seed}"
                if args.fresh:
                    shutil.rmtree(run_dir, ignore_errors=True)
                strategy = build_strategy(
                    OmegaConf.to_container(cfg.strategy, resolve=True), setup.space, seed, setup.constraints
                )
                fingerprint = {"bench": name, "seed": seed, "reward": preset, "constraints": args.constraints}
                loop = Experiment(
                    strategy,
                    evaluator,
                    args.iterations,
                    run_dir,
                    fingerprint,
                    progress=not args.json,
                    checkpoint_every_s=setup.search.checkpoint_every_s,
                )
                start = time.perf_counter()
                history = loop.run()
                feasible = history.feasible.astype(bool)
                best = running_best(np.where(feasible, history.reward, np.nan))
                rows, chosen = final_step(
                    history, setup.reward, args.top_n, simulator, None, constraints=setup.constraints
                )
                points, maximize = search_objectives(history.accuracy, history.energy_mj, history.latency_ms)
                reference = (0.0, setup.constraints.t_eer_mj, setup.constraints.t_lat_ms)
                record = {
                    "reward": preset,
                    "strategy": name,
                    "seed": seed,
                    "evaluations": len(history),
                    "best_feasible_reward": float(best[-1]) if np.isfinite(best[-1]) else None,
                    "best_reward": float(history.reward.max()),
                    "hypervolume": hypervolume(points[feasible], reference, maximize) if feasible.any() else 0.0,
                    "feasible_fraction": float(feasible.mean()),
                    "returned": None
                    if chosen is None
                    else {
                        k: rows[chosen][k]
                        for k in ("iteration", "accuracy", "energy_mj", "latency_ms", "reward", "feasible")
                    },
                    "returned_feasible_under_simulator": None if chosen is None else bool(rows[chosen]["feasible"]),
                    "strategy_ms_per_eval": loop.strategy_ms_per_candidate,
                    "_best_curve": best,
                }
                if record["returned"] is not None:
                    record["returned"]["accelerator"] = str(rows[chosen]["accelerator"])
                records.append(record)
                curves[preset].setdefault(name, []).append(np.where(np.isfinite(best), best, np.nan))
                log(
                    f"{preset} {name} seed {seed}: best feasible R {record['best_feasible_reward']}, "
                    f"{100 * record['feasible_fraction']:.0f}% feasible, {record['strategy_ms_per_eval']:.1f} ms/eval "
                    f"strategy overhead ({time.perf_counter() - start:.0f} s this call)",
                    flush=True,
                )

    # evaluations to reach random's final best feasible reward (same preset and seed); where random found no
    # feasible sample, the evaluations to the first feasible one (marked *)
    random_best = {(r["reward"], r["seed"]): r["best_feasible_reward"] for r in records if r["strategy"] == "random"}
    for r in records:
        target = random_best[(r["reward"], r["seed"])]
        r["random_found_feasible"] = target is not None
        r["evals_to_random_best"] = _first_reaching(r.pop("_best_curve"), -np.inf if target is None else target)

    summary = []
    for preset in args.rewards:
        for name in args.strategies:
            runs = [r for r in records if r["reward"] == preset and r["strategy"] == name]
            best = [r["best_feasible_reward"] for r in runs]
            reached = [
                ("-" if r["evals_to_random_best"] is None else str(r["evals_to_random_best"]))
                + ("" if r["random_found_feasible"] else "*")
                for r in runs
            ]
            returned = [r["returned_feasible_under_simulator"] for r in runs]
            summary.append(
                {
                    "reward": preset,
                    "strategy": name,
                    "seeds feasible": f"{sum(b is not None for b in best)}/{len(best)}",
                    "best feasible R (mean)": float(np.mean([b for b in best if b is not None]))
                    if any(b is not None for b in best)
                    else float("nan"),
                    "per seed": " / ".join("-" if b is None else f"{b:.4f}" for b in best),
                    "HV feasible (mean)": float(np.mean([r["hypervolume"] for r in runs])),
                    "evals to random's best": " / ".join(reached),
                    "feasible samples": float(np.mean([r["feasible_fraction"] for r in runs])),
                    "returned feasible (sim)": f"{sum(x is True for x in returned)} of {sum(x is not None for x in returned)}"
                    f" ({sum(x is None for x in returned)} found none)",
                    "strategy ms/eval": float(np.mean([r["strategy_ms_per_eval"] for r in runs])),
                }
            )
    document = {
        "iterations": args.iterations,
        "seeds": args.seeds,
        "constraints": args.constraints,
        "hypervolume_reference": {
            "accuracy": 0.0,
            "energy_mj": base_setup.constraints.t_eer_mj,
            "latency_ms": base_setup.constraints.t_lat_ms,
        },
        "overrides": args.overrides,
        "summary": summary,
        "runs": records,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_strategies.json").write_text(json.dumps(document, indent=1))
    plots = [
        plot_best_reward(
            args.out / f"best_feasible_{preset}.png",
            curves[preset],
            title=f"reward={preset}, constraints={args.constraints}: best feasible reward so far",
        )
        for preset in args.rewards
    ]
    if args.json:
        print(json.dumps(document, indent=1))
        return
    for preset in args.rewards:
        rows = [{k: v for k, v in s.items() if k != "reward"} for s in summary if s["reward"] == preset]
        print(
            format_table(
                rows,
                title=f"reward={preset}, constraints={args.constraints}, {args.iterations} evaluations, "
                f"seeds {args.seeds}",
            )
        )
        ranking = sorted(
            rows,
            key=lambda s: (
                -int(s["seeds feasible"].split("/")[0]),
                -np.nan_to_num(s["best feasible R (mean)"], nan=-np.inf),
            ),
        )
        print(
            "ranking by seeds with a feasible sample, then mean best feasible reward over those seeds: "
            + " > ".join(f"{s['strategy']} ({s['seeds feasible']}, {s['best feasible R (mean)']:.4f})" for s in ranking)
        )
    print(
        "* random found no feasible sample at that seed: evaluations to the first feasible sample instead; "
        "- never reached"
    )
    infeasible = [r for r in records if r["returned_feasible_under_simulator"] is False]
    print(f"returned designs infeasible under the simulator: {len(infeasible)} of {len(records)} runs")
    if hasattr(base.accuracy, "looked_up"):  # tabular mode: how many accuracies were measured rather than predicted
        print(
            f"tabular mode: {base.accuracy.looked_up} accuracies looked up in the table, {base.accuracy.predicted} "
            "predicted (architectures it does not hold)"
        )
    print(f"wall time: {time.perf_counter() - bench_start:.1f} s for {len(records)} runs")
    print(f"figures: {args.out / 'bench_strategies.json'}; plots: {', '.join(map(str, plots))}")


if __name__ == "__main__":
    main()
