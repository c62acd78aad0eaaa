"""How well stand-alone accuracy is predicted from an architecture (started for issue 29).

``python benchmarks/bench_accuracy.py [--rows bench/fashion_mnist_short] [--held-out 50] [--json]``

Reads the accuracy table's rows (``python bench.py``; the rows of one config hash), holds out the last
``--held-out`` architectures of the table's draw (disjoint from the training ones), fits each model on the rest
and prints, on the held-out architectures: Kendall tau and Spearman rho with percentile-bootstrap 95 %
intervals, the mean absolute error in percentage points, and, for the models with an uncertainty, the coverage
of their 95 % intervals. The models: the GP of :mod:`yoso.predictor.accuracy` on the one GP stack, gradient
boosting and ridge regression on the same features, and the width-and-depth-only GP (what the scale alone
explains); ``--hypernet`` adds the raw HyperNet accuracy of the same held-out architectures (its MAE is its bias).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def held_out_figures(pred: np.ndarray, truth: np.ndarray, std: np.ndarray | None, bootstrap: int) -> dict[str, Any]:
    from yoso.stats import rank_correlations

    out: dict[str, Any] = rank_correlations(pred, truth, samples=bootstrap)
    out["mae_pp"] = float(np.mean(np.abs(pred - truth)) * 100)
    if std is not None:
        out["coverage95"] = float(np.mean(np.abs(pred - truth) <= 1.96 * std))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=Path, default=ROOT / "bench" / "fashion_mnist_short", help="a build's rows folder"
    )
    parser.add_argument("--held-out", type=int, default=50, help="architectures held out (the last of the draw)")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--hypernet",
        action="store_true",
        help="also score the held-out architectures by the HyperNet of the search config (cached or trained)",
    )
    parser.add_argument("overrides", nargs="*", help="with --hypernet: Hydra overrides of conf/search.yaml")
    args = parser.parse_args(argv)

    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from yoso.app.bench import read_lines
    from yoso.bench.table import merge_rows
    from yoso.predictor.accuracy import AccuracyFeatures, AccuracyPredictor
    from yoso.space.ops import OPS

    lines = list(read_lines(args.rows))
    if not lines:
        print(f"no rows in {args.rows}: run python bench.py first", file=sys.stderr)
        return 2
    key = Counter(line["key"] for line in lines).most_common(1)[0][0]
    records = list(merge_rows("rows", key, {}, lines).records().values())
    if len(records) < args.held_out + 10:
        print(
            f"{len(records)} architectures in {args.rows}: need more than --held-out {args.held_out} + 10",
            file=sys.stderr,
        )
        return 2
    train, test = records[: -args.held_out], records[-args.held_out :]
    y_train = np.array([r.val_accuracy for r in train])
    y_test = np.array([r.val_accuracy for r in test])
    ops = tuple(
        sorted({op for r in records for cell in ("normal", "reduce") for op, _ in r.genotype.edges(cell)} | set(OPS))
    )
    features = AccuracyFeatures(ops)
    g_train, g_test = [r.genotype for r in train], [r.genotype for r in test]
    x_train, x_test = features(g_train), features(g_test)

    results: dict[str, dict[str, Any]] = {}
    gp = AccuracyPredictor(features).fit(g_train, y_train)
    mean, std = gp.predict(g_test)
    results["gp"] = held_out_figures(mean, y_test, std, args.bootstrap)
    scale = [features.names.index("width"), features.names.index("depth")]
    mean, std = AccuracyPredictor(features).fit_features(x_train[:, scale], y_train).predict_features(x_test[:, scale])
    results["gp_width_depth"] = held_out_figures(mean, y_test, std, args.bootstrap)
    if args.hypernet:  # the raw HyperNet on the same held-out set (its accuracy's rank, and its bias in pp)
        from yoso.app.cli import compose
        from yoso.app.run import validate_config

        run = validate_config(
            compose(["logger=none", "paths.output_dir=" + str(ROOT / "logs" / "bench"), *args.overrides])
        )
        supernet = run.hypernet().to(run.device())
        hyper = np.asarray(supernet.accuracy(g_test, run.datamodule()))
        results["hypernet"] = held_out_figures(hyper, y_test, None, args.bootstrap)
    for name, regressor in (
        ("gradient_boosting", HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=0)),
        ("ridge", make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))),
    ):
        results[name] = held_out_figures(regressor.fit(x_train, y_train).predict(x_test), y_test, None, args.bootstrap)

    summary = {
        "rows": str(args.rows),
        "config": key,
        "architectures": len(records),
        "train": len(train),
        "held_out": len(test),
        "val_n": int(np.median([r.val_n for r in records])),
        "held_out_val_accuracy_range": [float(y_test.min()), float(y_test.max())],
        "models": results,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"{len(records)} architectures of config {key} ({len(train)} train, {len(test)} held out, the last of the "
        f"draw); validation accuracy on n={summary['val_n']} images, held out {y_test.min():.4f}-{y_test.max():.4f}"
    )
    print(f"{'model':18s}  {'Kendall tau [95 % CI]':24s}  {'Spearman rho [95 % CI]':24s}  MAE (pp)  coverage95")
    for name, r in results.items():
        tau = f"{r['kendall_tau']:.3f} [{r['kendall_tau_ci95_low']:.3f}, {r['kendall_tau_ci95_high']:.3f}]"
        rho = f"{r['spearman']:.3f} [{r['spearman_ci95_low']:.3f}, {r['spearman_ci95_high']:.3f}]"
        cov = f"{r['coverage95']:.2f}" if "coverage95" in r else "-"
        print(f"{name:18s}  {tau:24s}  {rho:24s}  {r['mae_pp']:8.2f}  {cov}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
