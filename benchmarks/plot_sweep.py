"""The designs a reward sweep returns, on one accuracy-energy and accuracy-latency plot (issue 29, item 4).

    .venv/bin/python benchmarks/plot_sweep.py SWEEP_DIR [--out docs/img/reward_sweep.png]

``SWEEP_DIR`` is a Hydra multirun of ``search.py`` (``hydra.sweep.dir``), e.g. over the energy coefficient::

    python search.py -m experiment=paper_scale reward.alpha1=0 'reward.alpha2=0.003,0.01,0.015,0.03' \\
        hydra.sweep.dir=logs/sweeps/alpha2

Each job's samples are drawn faintly (their search-time accuracy, labelled by the run's accuracy model) and its
chosen design (``best.yaml``) at its stand-alone accuracy with the Wilson 95 % interval, the reference cost's
energy and latency, and the job's reward coefficients. It prints one line per job and says how many distinct
designs the sweep returned.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def load_job(job: Path) -> dict[str, Any]:
    """A job's chosen design (best.yaml) and its samples (history.csv)."""
    best = yaml.safe_load((job / "best.yaml").read_text())
    with open(job / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    samples = np.array([[float(r[k]) for k in ("accuracy", "energy_mj", "latency_ms")] for r in rows])
    return {"job": job.name, "best": best, "samples": samples}


def label(best: dict[str, Any]) -> str:
    r = best["reward_config"]
    return f"a1={r['alpha1']:g}, w1={r['omega1']:g}, a2={r['alpha2']:g}, w2={r['omega2']:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/img/reward_sweep.png"))
    args = parser.parse_args()
    jobs = [load_job(p) for p in sorted(args.sweep.iterdir(), key=lambda p: p.name) if (p / "best.yaml").is_file()]
    if not jobs:
        raise SystemExit(f"no job with a best.yaml in {args.sweep}")
    predicted = any("predicted_accuracy" in j["best"] for j in jobs)
    fig = Figure(figsize=(11, 4.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    colors = [f"C{i}" for i in range(len(jobs))]
    for ax, column, key, name in ((axes[0], 1, "energy_mj", "energy (mJ)"), (axes[1], 2, "latency_ms", "latency (ms)")):
        for job, color in zip(jobs, colors):
            s = job["samples"]
            ax.scatter(s[:, column], s[:, 0], s=3, color=color, alpha=0.08, linewidths=0)
            b = job["best"]
            low, high = b.get("accuracy_ci95_low"), b.get("accuracy_ci95_high")
            yerr = None if low is None else [[b["accuracy"] - low], [high - b["accuracy"]]]
            ax.errorbar(
                [b[key]], [b["accuracy"]], yerr=yerr, fmt="*", ms=14, color=color, mec="black", capsize=4,
                label=f"{label(b)}: {b['accelerator_str']}",
            )  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("accuracy")
        ax.grid(True, alpha=0.3)
    n = jobs[0]["best"].get("accuracy_n")
    axes[0].legend(loc="lower right", fontsize="x-small")
    samples = "predicted stand-alone accuracy" if predicted else "HyperNet accuracy"
    fig.suptitle(
        f"{len(jobs)} reward settings. Stars: the chosen designs, stand-alone accuracy (95 % CI, n={n}), reference cost.\n"
        f"Faint: each run's samples ({samples}, search-time cost model)",
        fontsize="medium",
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    for job in jobs:
        b = job["best"]
        print(
            f"job {job['job']}: {label(b)} -> w{b['genotype'].get('width', 1)} d{b['genotype'].get('depth', 1):.2g} "
            f"{b['accelerator_str']}, accuracy {b['accuracy']:.4f} [{b.get('accuracy_ci95_low')}, "
            f"{b.get('accuracy_ci95_high')}] n={n}, energy {b['energy_mj']:.4g} mJ, latency {b['latency_ms']:.4g} ms"
        )
    distinct = {(yaml.safe_dump(j["best"]["genotype"]), j["best"]["accelerator_str"]) for j in jobs}
    print(f"{len(distinct)} distinct designs from {len(jobs)} settings -> {args.out}")


if __name__ == "__main__":
    main()
