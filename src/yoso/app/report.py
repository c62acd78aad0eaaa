"""The paper's comparison (Table 2, §III.B): two-stage baseline vs single-stage search designs.

``python -m yoso.app.report TWO_STAGE_RUN_DIR SEARCH_RUN_DIR [SEARCH_RUN_DIR ...] [--out DIR] [--tolerance PP]``
joins ``two_stage.csv`` (``python two_stage.py``) with each search run's ``best.yaml``
(``python search.py reward=energy`` / ``reward=latency``) and prints the reduction ratios at
matched accuracy, beside the paper's Table 2 and claims; writes ``report.md`` and ``report.png``.
Every accuracy is shown with its test-split size n and its Wilson 95 % interval (:mod:`yoso.stats`).

Matched accuracy: a two-stage network is matched with a searched design when its test accuracy
is at most the upper bound of the design's Wilson 95 % interval (plus ``tolerance`` percentage
points, an optional extra margin, 0 by default): the network's accuracy is a plausible value
of the design's, so the data do not show the design to be less accurate. A design whose split
size is unknown (an older ``best.yaml``) has no interval and is matched only against networks
at most as accurate (plus the margin). For each matched network the energy reduction ratio is
the network's energy on its best-by-energy accelerator divided by the design's energy, and the
latency ratio is its latency on its best-by-latency accelerator divided by the design's
latency; the report gives the min-max range over matched networks (the paper: "1.42x~2.29x").
Applied to the paper's own Table 2 (CIFAR-10, n = 10000 test images), this reproduces its
claimed ranges.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from yoso.app.table2 import paper_accelerator, paper_table2
from yoso.app.two_stage import CSV_COLUMNS, INTERVAL_COLUMNS, OPTIONAL_COLUMNS, accuracy_text
from yoso.reference import paper_results
from yoso.search.report import save_figure
from yoso.stats import wilson_interval
from yoso.tables import format_table

#: Per metric: the two-stage criterion whose accelerator is compared, the figure's key and unit.
METRICS = {"energy": ("energy", "energy_mj", "mJ"), "latency": ("latency", "latency_ms", "ms")}
_NUMERIC = {"val_accuracy", "test_accuracy", "error_pct", "energy_mj", "latency_ms", "reward", "enumeration_s"}
#: Test images behind the paper's Table 2 accuracies (the CIFAR-10 test set).
PAPER_TEST_IMAGES = 10000


# ---- the ratio arithmetic (pure) -------------------------------------------------------------


def upper_bound(accuracy: float, total: int | None) -> float:
    """Upper end of the Wilson 95 % interval of ``accuracy`` on ``total`` images; ``accuracy`` itself if no size."""
    high = float(wilson_interval(accuracy, total if total else 0)[1])
    return high if math.isfinite(high) else float(accuracy)


def matched_mask(baseline_accuracy: Any, accuracy: float, total: int | None, tolerance_pp: float = 0.0) -> np.ndarray:
    """Which baselines (accuracy fractions) are matched: at most the upper 95 % bound of ``accuracy`` on ``total``
    images, plus ``tolerance_pp``/100; NaN never."""
    a = np.asarray(baseline_accuracy, dtype=np.float64)
    return np.isfinite(a) & (a <= upper_bound(accuracy, total) + float(tolerance_pp) / 100.0)


def reduction_ratios(baseline: Any, searched: float) -> np.ndarray:
    """Reduction ratio of each baseline figure (energy or latency) over the searched design's figure."""
    if not searched > 0:
        raise ValueError(f"the searched design's figure must be positive, got {searched!r}")
    return np.asarray(baseline, dtype=np.float64) / float(searched)


def ratio_range(ratios: Any, mask: Any) -> tuple[float, float] | None:
    """``(min, max)`` of the matched ratios, or None when no baseline is matched."""
    r = np.asarray(ratios, dtype=np.float64)[np.asarray(mask, dtype=bool)]
    return (float(r.min()), float(r.max())) if r.size else None


def format_range(rng: tuple[float, float] | None, tolerance_pp: float = 0.0) -> str:
    """``"1.42x~2.29x"`` (one figure when min == max to 2 decimals), or why there is none."""
    if rng is None:
        margin = f" + {tolerance_pp:g} pp" if tolerance_pp else ""
        return f"no two-stage network at matched accuracy (none at or below the design's upper 95 % bound{margin})"
    lo, hi = (f"{v:.2f}x" for v in rng)
    return lo if lo == hi else f"{lo}~{hi}"


def compare(two_stage: Sequence[Mapping[str, Any]], design: Mapping[str, Any], tolerance_pp: float = 0.0) -> dict:
    """Energy and latency reduction ratios of one searched design against the two-stage rows.

    ``design`` holds ``test_accuracy`` (fraction), its split size ``test_accuracy_n`` (None or
    absent: unknown), ``energy_mj`` and ``latency_ms``; two-stage rows hold ``model``,
    ``criterion``, ``test_accuracy`` and the same figures.
    """
    total = design.get("test_accuracy_n")
    out: dict[str, Any] = {}
    for metric, (criterion, key, _) in METRICS.items():
        rows = [r for r in two_stage if r["criterion"] == criterion]
        if not rows:
            raise ValueError(f"the two-stage rows have no criterion={criterion!r} rows")
        mask = matched_mask([r["test_accuracy"] for r in rows], design["test_accuracy"], total, tolerance_pp)
        ratios = reduction_ratios([r[key] for r in rows], design[key])
        rng = ratio_range(ratios, mask)
        out[metric] = {
            "range": rng,
            "text": format_range(rng, tolerance_pp),
            "matched": [r["model"] for r, m in zip(rows, mask) if m],
            "ratios": {r["model"]: float(x) for r, x in zip(rows, ratios)},
            "upper95": upper_bound(design["test_accuracy"], total),
        }
    return out


# ---- inputs ----------------------------------------------------------------------------------


def load_two_stage(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a two-stage run's ``two_stage.csv`` with numeric columns as numbers."""
    path = Path(run_dir) / "two_stage.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a `python two_stage.py` run directory")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = set(CSV_COLUMNS) - set(OPTIONAL_COLUMNS) - set(rows[0] if rows else CSV_COLUMNS)
    if not rows or missing:
        raise ValueError(f"{path}: no rows or missing columns {sorted(missing)}")
    for r in rows:  # interval columns: blank or absent (an older run) -> None
        r.update({k: float(r[k]) for k in _NUMERIC})
        r.update(
            {k: (int(float(r[k])) if k.endswith("_n") else float(r[k])) if r.get(k) else None for k in INTERVAL_COLUMNS}
        )
        r["feasible"] = r["feasible"] == "True"
    return rows


def reward_label(reward_config: Mapping[str, Any]) -> str:
    """The paper's reward preset (balanced/energy/latency) whose coefficients these are, else "custom"."""
    presets = paper_results()["reward_presets"]
    for name, coeffs in presets.items():
        if all(math.isclose(float(reward_config.get(k, math.nan)), float(v)) for k, v in coeffs.items()):
            return name
    return "custom"


def load_design(run_dir: str | Path) -> dict[str, Any]:
    """A search run's ``best.yaml`` with its run name and reward preset; test accuracy (and its n) falls back to val."""
    path = Path(run_dir) / "best.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a finished `python search.py` run directory")
    best = yaml.safe_load(path.read_text())
    missing = [k for k in ("accuracy", "energy_mj", "latency_ms", "accelerator_str", "reward_config") if k not in best]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    test = best.get("test_accuracy")
    source = "test" if test is not None and math.isfinite(float(test)) else "val"
    return {
        **best,
        "run": Path(run_dir).resolve().name,
        "reward_preset": reward_label(best["reward_config"]),
        "test_accuracy": float(test) if source == "test" else float(best["accuracy"]),
        "test_accuracy_n": best.get("test_accuracy_n" if source == "test" else "accuracy_n"),
        "accuracy_source": source,
    }


def scale_text(design: Mapping[str, Any]) -> str:
    """A design's network scale from its ``best.yaml`` genotype (fractions of the macro; 1, 1: the full macro), and its
    stages' bits in a precision space."""
    genotype = design.get("genotype")
    genotype = genotype if isinstance(genotype, Mapping) else {}  # a design without a genotype mapping: full macro
    scale = f"{float(genotype.get('width', 1.0)):g}, {float(genotype.get('depth', 1.0)):.2g}"
    bits = genotype.get("precision")  # a precision space's: the first/last layers' bits, then each stage's
    return f"{scale}, bits {'/'.join(map(str, bits[1:]))}" if bits else scale


def paper_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The paper's Table 2 as two-stage rows (one accelerator per network, both criteria) and YOSO designs."""
    baselines, designs = [], []
    for name, p in paper_table2().items():
        row = {
            "model": name,
            "test_accuracy": 1.0 - p["test_error"] / 100.0,
            "test_accuracy_n": PAPER_TEST_IMAGES,
            "energy_mj": p["energy_mj"],
            "latency_ms": p["latency_ms"],
            "accelerator": str(paper_accelerator(p)),
            "error_pct": p["test_error"],
        }
        if name.startswith("YOSO"):
            designs.append({**row, "run": name})
        else:
            baselines += [{**row, "criterion": c} for c in ("energy", "latency")]
    return baselines, designs


# ---- outputs ---------------------------------------------------------------------------------


def _ratio_rows(designs: Sequence[Mapping[str, Any]], comparisons: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One row per design: its ratio ranges and the matched networks."""
    return [
        {
            "run": d["run"],
            "reward": d.get("reward_preset", ""),
            "energy": c["energy"]["text"],
            "energy_matched": ", ".join(c["energy"]["matched"]) or "-",
            "latency": c["latency"]["text"],
            "latency_matched": ", ".join(c["latency"]["matched"]) or "-",
        }
        for d, c in zip(designs, comparisons)
    ]


_RATIO_COLS = (
    ("run", "design"),
    ("reward", "reward"),
    ("energy", "energy reduction"),
    ("energy_matched", "matched (energy)"),
    ("latency", "latency reduction"),
    ("latency_matched", "matched (latency)"),
)


def report_markdown(
    two_stage: Sequence[Mapping[str, Any]],
    designs: Sequence[Mapping[str, Any]],
    comparisons: Sequence[Mapping[str, Any]],
    tolerance_pp: float,
) -> str:
    """The whole report as markdown: definition, both tables, ratios, the paper side by side."""
    by = {c: {r["model"]: r for r in two_stage if r["criterion"] == c} for c in ("energy", "latency")}
    baseline = [
        {
            "model": m,
            "error_pct": r["error_pct"],
            "test": accuracy_text(r, "test_accuracy"),
            "e": r["energy_mj"],
            "ea": r["accelerator"],
            "l": by["latency"][m]["latency_ms"],
            "la": by["latency"][m]["accelerator"],
        }
        for m, r in by["energy"].items()
    ]
    searched = [
        {
            **d,
            "error_pct": 100.0 * (1.0 - d["test_accuracy"]),
            "test": accuracy_text(d, "test_accuracy"),
            "acc": d["accelerator_str"],
            "scale": scale_text(d),
        }
        for d in designs
    ]
    p_base, p_designs = paper_rows()
    p_table = [
        {**r, "test": accuracy_text(r, "test_accuracy")}
        for r in [r for r in p_base if r["criterion"] == "energy"] + p_designs
    ]
    margin = f" + {tolerance_pp:g} percentage points" if tolerance_pp else ""
    p_cmp = [compare(p_base, d, tolerance_pp) for d in p_designs]
    claims = paper_results()["claims"]
    return "\n".join(
        [
            "# yoso vs the two-stage baseline (paper Table 2)\n",
            "Accuracies are shown as `accuracy [95 % interval] n=images`: the Wilson score interval of a proportion "
            "measured on n test images (the design's validation images when it has no test accuracy).\n",
            f"Matched accuracy: a two-stage network counts when its test accuracy is at most the upper bound of the "
            f"searched design's 95 % interval{margin}, i.e. the data do not show the design to be less accurate "
            "(a design without a known n is matched only against networks at most as accurate). Energy ratio = the "
            "network's energy on its best-by-energy accelerator / the design's energy; latency ratio = its latency on "
            "its best-by-latency accelerator / the design's latency; ranges are min~max over matched networks.\n",
            "## Two-stage baseline (this run)\n",
            format_table(
                baseline,
                (
                    ("model", "model"),
                    ("error_pct", "error % (test)"),
                    ("test", "test acc [95 % CI] n"),
                    ("e", "energy (mJ)"),
                    ("ea", "best-by-energy accelerator"),
                    ("l", "latency (ms)"),
                    ("la", "best-by-latency accelerator"),
                ),
                markdown=True,
            ),
            "## Single-stage designs (best.yaml of each search run)\n",
            format_table(
                searched,
                (
                    ("run", "run"),
                    ("reward_preset", "reward"),
                    ("scale", "width, depth"),
                    ("error_pct", "error %"),
                    ("test", "acc [95 % CI] n"),
                    ("accuracy_source", "accuracy split"),
                    ("energy_mj", "energy (mJ)"),
                    ("latency_ms", "latency (ms)"),
                    ("acc", "accelerator"),
                    ("feasible", "feasible"),
                ),
                markdown=True,
            ),
            "## Reduction ratios at matched accuracy (this run)\n",
            format_table(_ratio_rows(designs, comparisons), _RATIO_COLS, markdown=True),
            "## The paper's Table 2 (CIFAR-10, for reference)\n",
            format_table(
                p_table,
                (
                    ("model", "model"),
                    ("error_pct", "error %"),
                    ("test", "test acc [95 % CI] n"),
                    ("energy_mj", "energy (mJ)"),
                    ("latency_ms", "latency (ms)"),
                    ("accelerator", "accelerator"),
                ),
                markdown=True,
            ),
            f"The paper claims energy reduction {claims['energy_reduction']} and latency reduction "
            f"{claims['latency_reduction']} at {claims['at']}. The same arithmetic on the paper's own figures:\n",
            format_table(_ratio_rows(p_designs, p_cmp), _RATIO_COLS, markdown=True),
        ]
    )


_DESIGN_COLORS = ["tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown"]


def plot_report(path: str | Path, two_stage: Sequence[Mapping[str, Any]], designs: Sequence[Mapping[str, Any]]) -> Path:
    """Test accuracy vs energy and vs latency: two-stage networks (best accelerator per metric) and designs."""
    fig = Figure(figsize=(11, 4.5))
    FigureCanvasAgg(fig)
    for ax, (metric, (criterion, key, unit)) in zip(fig.subplots(1, 2), METRICS.items()):
        rows = [r for r in two_stage if r["criterion"] == criterion]
        x = np.array([r[key] for r in rows])
        y = 100.0 * np.array([r["test_accuracy"] for r in rows])
        ax.scatter(x, y, color="tab:blue", label=f"two-stage (best-by-{criterion} accelerator)")
        for r, xi, yi in zip(rows, x, y):
            ax.annotate(r["model"], (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize="small")
        for d, color in zip(designs, _DESIGN_COLORS * len(designs)):
            ax.scatter(
                [d[key]],
                [100.0 * d["test_accuracy"]],
                marker="*",
                s=220,
                zorder=5,
                color=color,
                label=f"yoso {d['reward_preset']} ({d['run']})",
            )
        ax.set_xlabel(f"{metric} ({unit})")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    return save_figure(fig, path, "single-stage (yoso) vs two-stage")


def build_report(
    two_stage_dir: str | Path,
    search_dirs: Sequence[str | Path],
    out: str | Path | None = None,
    tolerance_pp: float = 0.0,
) -> tuple[str, Path]:
    """Read the runs, write ``report.md`` and ``report.png`` to ``out``; returns the markdown and ``out``."""
    if not search_dirs:
        raise ValueError("at least one search run directory is needed")
    if not tolerance_pp >= 0:
        raise ValueError(f"--tolerance must be >= 0 percentage points, got {tolerance_pp!r}")
    rows = load_two_stage(two_stage_dir)
    designs = [load_design(d) for d in search_dirs]
    comparisons = [compare(rows, d, tolerance_pp) for d in designs]
    out = Path(out) if out is not None else Path(search_dirs[0]).resolve().parent / "report"
    out.mkdir(parents=True, exist_ok=True)
    text = report_markdown(rows, designs, comparisons, tolerance_pp)
    (out / "report.md").write_text(text)
    plot_report(out / "report.png", rows, designs)
    return text, out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m yoso.app.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("two_stage_dir", help="run directory of python two_stage.py (holds two_stage.csv)")
    parser.add_argument("search_dirs", nargs="+", help="run directories of python search.py (each holds best.yaml)")
    parser.add_argument("--out", default=None, help="output folder (default: <first search dir>/../report)")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="extra matched-accuracy margin above the design's upper 95 %% bound, percentage points",
    )
    args = parser.parse_args(argv)
    try:
        text, out = build_report(args.two_stage_dir, args.search_dirs, args.out, args.tolerance)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    print(text)
    print(f"wrote {out / 'report.md'} and {out / 'report.png'}")


if __name__ == "__main__":
    main()
