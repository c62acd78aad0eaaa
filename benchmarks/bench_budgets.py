"""Does the short stand-alone budget rank architectures as the long one does? (issue 29, item 5)

    .venv/bin/python benchmarks/bench_budgets.py [--short bench/fashion_mnist_short] [--long bench/fashion_mnist_long]

Reads two accuracy-table builds (``python bench.py``; the long one with ``experiment=final``) and, for the
architectures both trained, prints each one's short and long validation accuracy with its split size and Wilson
95 % interval, then Kendall tau and Spearman rho (percentile-bootstrap 95 % intervals) of short vs long, and of each
budget's accuracy against depth and against width: if the long budget ranks depth differently, the short budget
measures how fast a network trains rather than how accurate it gets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def records(rows: Path) -> dict:
    """The records (pooled over seeds) of the most common config hash of a build's rows folder."""
    from yoso.app.bench import read_rows_table

    table = read_rows_table(rows)
    return {} if table is None else table.records()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", type=Path, default=ROOT / "bench" / "fashion_mnist_short")
    parser.add_argument("--long", type=Path, default=ROOT / "bench" / "fashion_mnist_long")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument(
        "--predictors",
        action="store_true",
        help="also predict each long-budget architecture's long accuracy left out (short GP vs two-budget GP)",
    )
    args = parser.parse_args()

    import warnings

    from scipy.stats import ConstantInputWarning

    from yoso.stats import format_accuracy, rank_correlations

    warnings.simplefilter("ignore", ConstantInputWarning)  # bootstrap resamples of few points with one depth only

    short, long = records(args.short), records(args.long)
    both = [arch for arch in long if arch in short]
    if len(both) < 3:
        print(f"{len(both)} architectures in both {args.short} and {args.long}: need 3 or more", file=sys.stderr)
        return 2
    both.sort(key=lambda a: short[a].val_accuracy)
    print(f"{len(both)} architectures trained at both budgets (by short-budget accuracy):")
    for arch in both:
        g, s, lg = short[arch].genotype, short[arch], long[arch]
        print(
            f"  {arch}  width {g.width:g} depth {g.depth:.2f}  short {format_accuracy(s.val_accuracy, s.val_n)}  "
            f"long {format_accuracy(lg.val_accuracy, lg.val_n)}"
        )
    s_acc = np.array([short[a].val_accuracy for a in both])
    l_acc = np.array([long[a].val_accuracy for a in both])
    depth = np.array([short[a].genotype.depth for a in both])
    width = np.array([short[a].genotype.width for a in both])

    def line(name: str, x: np.ndarray, y: np.ndarray) -> str:
        r = rank_correlations(x, y, samples=args.bootstrap)
        return (
            f"  {name:28s} Kendall tau {r['kendall_tau']:+.3f} [{r['kendall_tau_ci95_low']:+.3f}, "
            f"{r['kendall_tau_ci95_high']:+.3f}]  Spearman rho {r['spearman']:+.3f} [{r['spearman_ci95_low']:+.3f}, "
            f"{r['spearman_ci95_high']:+.3f}]"
        )

    print("rank agreement (bootstrap 95 % intervals):")
    print(line("short vs long accuracy", s_acc, l_acc))
    for budget, acc in (("short", s_acc), ("long", l_acc)):
        print(line(f"{budget} accuracy vs depth", depth, acc))
        print(line(f"{budget} accuracy vs width", width, acc))
    if args.predictors:
        leave_one_out(short, long, both, l_acc, line)
    return 0


def paired_tau_difference(
    a: np.ndarray, b: np.ndarray, truth: np.ndarray, samples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap 95 % interval of tau(a, truth) - tau(b, truth), resampling the architectures jointly."""
    from scipy.stats import kendalltau

    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(samples):
        i = rng.integers(0, len(truth), len(truth))
        d = kendalltau(a[i], truth[i]).statistic - kendalltau(b[i], truth[i]).statistic
        if np.isfinite(d):
            diffs.append(d)
    return float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def leave_one_out(short: dict, long: dict, both: list, truth: np.ndarray, line) -> None:
    """Each long-budget architecture's long accuracy predicted with it left out of both budgets' training sets:
    by the short-budget GP (``accuracy_model=predictor``) and by one GP on both budgets with the budget as an input
    (``accuracy_model.long_table``), each calibrated as shipped; tau, MAE and the coverage of the 95 % intervals, and
    a paired bootstrap of the two taus' difference. The rule, fixed before the run: the two-budget GP becomes the
    default if that interval lies above 0 (the search uses the ranking; the short GP's MAE against long accuracy
    is in other units); else the short target stays."""
    from yoso.predictor.accuracy import AccuracyFeatures, AccuracyPredictor, two_budget_predictor

    features = AccuracyFeatures(topology=True)
    short_mean, short_std, two_mean, two_std = (np.empty(len(both)) for _ in range(4))
    for i, arch in enumerate(both):
        s_train = [r for a, r in short.items() if a != arch]
        l_train = [r for a, r in long.items() if a != arch]
        one = AccuracyPredictor(features, calibration_folds=5).fit(
            [r.genotype for r in s_train], [r.val_accuracy for r in s_train]
        )
        (short_mean[i],), (short_std[i],) = one.predict([short[arch].genotype])
        two = two_budget_predictor(features, s_train, l_train)
        (two_mean[i],), (two_std[i],) = two.predict([short[arch].genotype])
        print(f"  left out {i + 1}/{len(both)}: {arch}", file=sys.stderr)
    print(f"long-budget accuracy of each architecture left out ({len(both)} fits of each model):")
    low, high = paired_tau_difference(two_mean, short_mean, truth)
    print(
        f"  two-budget minus short-budget GP, Kendall tau vs long: paired bootstrap 95 % interval [{low:+.3f}, {high:+.3f}]"
    )
    for name, mean, std in (("short-budget GP", short_mean, short_std), ("two-budget GP", two_mean, two_std)):
        covered = np.mean(np.abs(truth - mean) <= 1.96 * std)
        print(line(f"{name} vs long", mean, truth))
        print(
            f"  {'':28s} MAE {100 * np.mean(np.abs(truth - mean)):.2f} pp  coverage of its 95 % intervals "
            f"{covered:.2f}  (bias {100 * np.mean(mean - truth):+.2f} pp)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
