"""Differentiable co-search: HDX hard constraints vs the soft penalty, and against REINFORCE (issue 11).

    .venv/bin/python benchmarks/bench_differentiable.py [--targets 0.4 0.6 1.0 2.0 4.0] [--seeds 0 1 2]
        [--epochs 6] [--batches 5] [--reinforce-iterations 150] [--jobs 2] [--json] [overrides ...]

(a) Constraint satisfaction: for every latency target and seed, ``search.py strategy=differentiable``
with ``constraints=hard`` (HDX gradient rule) and with ``constraints=soft`` (penalty), a reward that
weights accuracy (``reward.alpha1 = reward.alpha2 = --hw-alpha``, so the accuracy pulls towards costly
designs and the target has to push back) and an energy bound loose enough never to bind. Per variant
and target: the fraction of runs whose *exported* design (the last epoch's, straight from the
gradient search) meets the target under the simulator, the same for the design the shared final
step returns (``best.yaml``; under hard constraints it only returns simulator-feasible designs, so
a run without one counts as a miss), the HyperNet accuracy of the designs that meet it, and the
fraction of all exported candidates (one per epoch) within the target under the simulator.

(b) Against REINFORCE: ``strategy=differentiable`` and ``strategy=reinforce`` (``--reinforce-iterations``
samples) on the same HyperNet, data, reward (default preset) and seeds, ``constraints=none``: reward,
accuracy, simulated energy and latency of the final design, and the run's wall time. The search-time
HyperNet accuracies are not alike (the differentiable search trains the HyperNet's weights further,
REINFORCE reads the cached ones): ``--standalone`` trains the final top-N stand-alone so both are judged
by the same stand-alone training.

Every run is a ``search.py`` process (``--jobs`` at a time, one torch thread each) kept in
``--out/<part>/<run>``; a rerun reuses finished runs (``--fresh`` starts over). Figures go to
``--out/bench_differentiable.json`` (``--json`` prints it) and ``--out/latency_vs_target.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOSO_ROOT", str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

VARIANTS = ("hard", "soft")


def _run(run_dir: Path, overrides: list[str], fresh: bool) -> dict[str, Any]:
    """One search.py run (reused if it finished before); its wall time and exit status."""
    done = run_dir / "bench_run.json"
    if done.is_file() and not fresh:
        return json.loads(done.read_text())
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1"}
    command = [
        sys.executable,
        str(ROOT / "search.py"),
        f"hydra.run.dir={run_dir}",
        "logger=none",
        "search.progress=false",
        "trainer.enable_progress_bar=false",
        *overrides,
    ]
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    record = {"returncode": proc.returncode, "wall_s": time.perf_counter() - start, "overrides": overrides}
    if proc.returncode != 0:
        (run_dir / "bench_error.log").write_text(proc.stdout + proc.stderr)
        print(f"run {run_dir} failed (exit {proc.returncode}); see bench_error.log", file=sys.stderr)
    done.write_text(json.dumps(record))
    return record


def _read(run_dir: Path) -> dict[str, Any]:
    """The exported (last) candidate of history.csv and the final design of best.yaml (None if not written)."""
    import csv

    with (run_dir / "history.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    best_path = run_dir / "best.yaml"
    best = yaml.safe_load(best_path.read_text()) if best_path.is_file() else None
    last = rows[-1]
    exported = {
        "accuracy": float(last["accuracy"]),
        "reward": float(last["reward"]),
        "energy_mj": float(last.get("simulated_energy_mj", "nan")),
        "latency_ms": float(last.get("simulated_latency_ms", "nan")),
        "predicted_latency_ms": float(last["latency_ms"]),
    }
    simulated = [float(r.get("simulated_latency_ms", "nan")) for r in rows]
    return {"exported": exported, "best": best, "rows": len(rows), "simulated_latency_ms": simulated}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--targets", type=float, nargs="+", default=[0.4, 0.6, 1.0, 2.0, 4.0], help="latency targets (ms)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=6, help="strategy.epochs of every differentiable run")
    parser.add_argument("--batches", type=int, default=5, help="strategy.batches_per_epoch (training steps per epoch)")
    parser.add_argument("--hw-alpha", type=float, default=0.05, help="reward.alpha1/alpha2 of part (a)")
    parser.add_argument("--energy-bound", type=float, default=1000.0, help="constraints.t_eer_mj of part (a) (mJ)")
    parser.add_argument("--reinforce-iterations", type=int, default=150)
    parser.add_argument("--top-n", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="search.py processes at a time")
    parser.add_argument("--skip-reinforce", action="store_true", help="part (a) only")
    parser.add_argument("--skip-constraints", action="store_true", help="part (b) only")
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="the final step trains the top-N stand-alone (search.standalone=true): comparable accuracies",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench" / "differentiable")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of tables")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of every run")
    args = parser.parse_args()

    common = [*args.overrides, f"search.top_n={args.top_n}", f"search.standalone={str(args.standalone).lower()}"]
    diff = ["strategy=differentiable", f"strategy.epochs={args.epochs}", f"strategy.batches_per_epoch={args.batches}"]
    jobs: list[tuple[tuple, Path, list[str]]] = []
    targets = [] if args.skip_constraints else args.targets
    for target in targets:
        for seed in args.seeds:
            for variant in VARIANTS:
                run_dir = args.out / "constraints" / f"{variant}-t{target:g}-seed{seed}"
                overrides = [
                    *common,
                    *diff,
                    f"seed={seed}",
                    f"constraints={variant}",
                    f"constraints.t_lat_ms={target}",
                    f"constraints.t_eer_mj={args.energy_bound}",
                    f"reward.alpha1={args.hw_alpha}",
                    f"reward.alpha2={args.hw_alpha}",
                ]
                jobs.append((("a", variant, target, seed), run_dir, overrides))
    if not args.skip_reinforce:
        for seed in args.seeds:
            jobs.append(
                (
                    ("b", "differentiable", None, seed),
                    args.out / "vs_reinforce" / f"differentiable-seed{seed}",
                    [*common, *diff, f"seed={seed}"],
                )
            )
            jobs.append(
                (
                    ("b", "reinforce", None, seed),
                    args.out / "vs_reinforce" / f"reinforce-seed{seed}",
                    [*common, "strategy=reinforce", f"search.iterations={args.reinforce_iterations}", f"seed={seed}"],
                )
            )
    print(f"{len(jobs)} runs, {args.jobs} at a time, kept in {args.out}", file=sys.stderr)
    with ThreadPoolExecutor(args.jobs) as pool:
        records = list(pool.map(lambda job: _run(job[1], job[2], args.fresh), jobs))

    from yoso.tables import format_table

    results: dict[str, Any] = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "constraints": [],
        "vs_reinforce": [],
    }
    for (key, run_dir, _), record in zip(jobs, records):
        part, variant, target, seed = key
        if record["returncode"] != 0:
            entry = {"variant": variant, "target_ms": target, "seed": seed, "failed": True}
        else:
            entry = {
                "variant": variant,
                "target_ms": target,
                "seed": seed,
                "wall_s": record["wall_s"],
                **_read(run_dir),
            }
        results["constraints" if part == "a" else "vs_reinforce"].append(entry)

    # (a) satisfaction per variant and target
    table_a = []
    for target in targets:
        for variant in VARIANTS:
            runs = [r for r in results["constraints"] if r["variant"] == variant and r["target_ms"] == target]
            ok = [r for r in runs if not r.get("failed")]
            met = [r for r in ok if r["exported"]["latency_ms"] <= target]
            final_met = [r for r in ok if r["best"] is not None and r["best"]["latency_ms"] <= target]
            epochs_met = [np.mean(np.asarray(r["simulated_latency_ms"]) <= target) for r in ok]
            table_a.append(
                {
                    "target_ms": target,
                    "variant": variant,
                    "runs": len(runs),
                    "failed": len(runs) - len(ok),
                    "exported_meets": f"{len(met)}/{len(runs)}",
                    "exported_latency_ms": " / ".join(f"{r['exported']['latency_ms']:.3f}" for r in ok),
                    "exported_accuracy_when_met": _mean([r["exported"]["accuracy"] for r in met]),
                    "final_meets": f"{len(final_met)}/{len(runs)}",
                    "final_latency_ms": " / ".join(f"{r['best']['latency_ms']:.3f}" if r["best"] else "-" for r in ok),
                    "final_accuracy_when_met": _mean([r["best"]["hypernet_accuracy"] for r in final_met]),
                    "epochs_within_target": _mean(epochs_met),
                }
            )
    totals = {}
    for variant in VARIANTS:
        runs = [r for r in results["constraints"] if r["variant"] == variant]
        ok = [r for r in runs if not r.get("failed")]
        totals[variant] = {
            "runs": len(runs),
            "exported_meets": sum(r["exported"]["latency_ms"] <= r["target_ms"] for r in ok),
            "final_meets": sum(r["best"] is not None and r["best"]["latency_ms"] <= r["target_ms"] for r in ok),
        }
    results["satisfaction"] = table_a
    results["satisfaction_totals"] = totals

    # (b) against REINFORCE
    table_b = []
    for r in results["vs_reinforce"]:
        best = r.get("best") or {}
        table_b.append(
            {
                "strategy": r["variant"],
                "seed": r["seed"],
                "reward": best.get("reward"),
                "hypernet_accuracy": best.get("hypernet_accuracy"),
                "accuracy": best.get("accuracy"),
                "test_accuracy": best.get("test_accuracy"),
                "energy_mj": best.get("energy_mj"),
                "latency_ms": best.get("latency_ms"),
                "samples": r.get("rows"),
                "wall_s": r.get("wall_s"),
            }
        )
    results["reinforce_table"] = table_b

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_differentiable.json").write_text(json.dumps(results, indent=1, default=float))
    if results["constraints"]:
        _plot(args.out / "latency_vs_target.png", results["constraints"], targets)
    if args.json:
        print(json.dumps(results, indent=1, default=float))
        return
    if table_a:
        print(
            format_table(
                table_a,
                list(table_a[0]),
                title="(a) latency target met under the simulator (hard = HDX, soft = penalty)",
            )
        )
    for variant, t in totals.items() if table_a else ():
        print(
            f"{variant}: exported design meets its target in {t['exported_meets']}/{t['runs']} runs, "
            f"final design in {t['final_meets']}/{t['runs']}"
        )
    if table_b:
        print(
            format_table(
                table_b,
                list(table_b[0]),
                title="(b) differentiable vs REINFORCE (final design; accuracy: "
                "stand-alone validation with --standalone, else the search-time HyperNet accuracy)",
            )
        )
    print(f"figures: {args.out / 'bench_differentiable.json'}, plot: {args.out / 'latency_vs_target.png'}")


def _plot(path: Path, runs: list[dict[str, Any]], targets: list[float]) -> None:
    """Achieved (simulated) latency of the exported design against its target, per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for variant, marker, shift in (("hard", "o", 0.97), ("soft", "s", 1.03)):
        ok = [r for r in runs if r["variant"] == variant and not r.get("failed")]
        ax.scatter(
            [r["target_ms"] * shift for r in ok],
            [r["exported"]["latency_ms"] for r in ok],
            marker=marker,
            label=f"constraints={variant}",
            alpha=0.8,
        )
    line = np.array([min(targets) * 0.8, max(targets) * 1.2])
    ax.plot(line, line, "k--", lw=1, label="latency = target")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="latency target (ms)",
        ylabel="simulated latency of the exported design (ms)",
        title="differentiable co-search: HDX vs soft penalty",
    )
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    ax.set_xticks(targets)
    ax.set_yticks(targets)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
