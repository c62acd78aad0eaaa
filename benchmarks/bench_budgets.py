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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
