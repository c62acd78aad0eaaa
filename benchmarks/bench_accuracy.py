"""How well stand-alone accuracy is predicted from an architecture (started for issue 29).

``python benchmarks/bench_accuracy.py [--rows bench/fashion_mnist_short] [--held-out 50] [--json]``

Reads the accuracy table's rows (``python bench.py``; the rows of one config hash), holds out the last
``--held-out`` architectures of the table's draw (disjoint from the training ones), fits each model on the rest
and prints, on the held-out architectures: Kendall tau and Spearman rho with percentile-bootstrap 95 %
intervals, the mean absolute error in percentage points, and, for the models with an uncertainty, the coverage
of their 95 % intervals. The models: the GP of :mod:`yoso.predictor.accuracy` on the one GP stack (width, depth,
log MACs, log weights: ``accuracy_model=predictor``), the same GP with each cell's op counts, the width-and-depth-only
GP (what the scale alone explains), an ensemble of five MLPs, gradient boosting and ridge regression; ``--hypernet``
adds the raw HyperNet accuracy of the same held-out architectures (its MAE is its bias) and the GP with the
HyperNet's accuracy as one more input. A held-out architecture trained with several seeds is scored against its
accuracy pooled over them (less seed noise in the truth).
"""

from __future__ import annotations

import argparse
import json
import sys
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


def mlp_ensemble(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, members: int = 5) -> tuple:
    """Mean and spread of ``members`` small MLPs (scikit-learn, standardised inputs, seeds 0..members-1)."""
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    centre, scale = y_train.mean(), 20.0  # targets of order one for the MLPs
    predictions = np.array(
        [
            make_pipeline(
                StandardScaler(), MLPRegressor(hidden_layer_sizes=(32, 32), alpha=1e-2, max_iter=3000, random_state=s)
            )
            .fit(x_train, (y_train - centre) * scale)
            .predict(x_test)
            / scale
            + centre
            for s in range(members)
        ]
    )
    return predictions.mean(0), predictions.std(0)


def hypernet_accuracies(run: Any, genotypes: list[Any]) -> np.ndarray:
    """The HyperNet's whole-split validation accuracy of each genotype, kept by architecture in
    ``logs/bench/accuracy/hypernet-<hypernet key>.json`` (a rerun evaluates only the new ones)."""
    from yoso.bench import architecture_id

    path = ROOT / "logs" / "bench" / "accuracy" / f"hypernet-{run.hypernet_key}.json"
    known = json.loads(path.read_text()) if path.is_file() else {}
    missing = [g for g in genotypes if architecture_id(g) not in known]
    if missing:
        print(f"HyperNet accuracy of {len(missing)} architectures (whole validation split)...", file=sys.stderr)
        supernet = run.hypernet().to(run.device())
        path.parent.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(missing), 10):  # kept every 10 (about a minute each): a kill loses little
            chunk = missing[start : start + 10]
            for g, accuracy in zip(chunk, supernet.accuracy(chunk, run.datamodule())):
                known[architecture_id(g)] = float(accuracy)
            path.write_text(json.dumps(known))
    return np.array([known[architecture_id(g)] for g in genotypes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=Path, default=ROOT / "bench" / "fashion_mnist_short", help="a build's rows folder"
    )
    parser.add_argument("--held-out", type=int, default=50, help="architectures held out (the last of the draw)")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cv", type=int, default=0, help="also K-fold cross-validated tau over every architecture")
    parser.add_argument(
        "--with-rows", type=Path, default=None, help="with --cv: another build's records join every training fold"
    )
    parser.add_argument(
        "--hypernet",
        action="store_true",
        help="also score the held-out architectures by the HyperNet of the search config (cached or trained)",
    )
    parser.add_argument(
        "--hypernet-input",
        action="store_true",
        help="with --hypernet: also the GP with the HyperNet's accuracy as an input (evaluates every training one)",
    )
    parser.add_argument("overrides", nargs="*", help="with --hypernet: Hydra overrides of conf/search.yaml")
    args = parser.parse_args(argv)

    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from yoso.app.bench import read_rows_table
    from yoso.predictor.accuracy import AccuracyFeatures, AccuracyPredictor
    from yoso.space.ops import YOSO_OPS

    table = read_rows_table(args.rows)
    if table is None:
        print(f"no rows in {args.rows}: run python bench.py first", file=sys.stderr)
        return 2
    key, records = table.key, list(table.records().values())
    if len(records) < args.held_out + 10:
        print(
            f"{len(records)} architectures in {args.rows}: need more than --held-out {args.held_out} + 10",
            file=sys.stderr,
        )
        return 2
    train, test = records[: -args.held_out], records[-args.held_out :]
    y_train = np.array([r.val_accuracy for r in train])
    y_test = np.array([r.val_accuracy for r in test])
    g_train, g_test = [r.genotype for r in train], [r.genotype for r in test]
    scale = AccuracyFeatures()  # width, depth, log MACs, log weights: accuracy_model=predictor's default inputs
    counted = AccuracyFeatures(YOSO_OPS)  # and each cell's op counts (accuracy_model.op_counts=true)
    shaped = AccuracyFeatures(topology=True)  # and each cell's topology (accuracy_model.topology=true)
    x_train, x_test = shaped(g_train), shaped(g_test)  # the other models' inputs: the best GP's

    results: dict[str, dict[str, Any]] = {}
    mean, std = AccuracyPredictor(scale).fit(g_train, y_train).predict(g_test)
    results["gp"] = held_out_figures(mean, y_test, std, args.bootstrap)
    mean, std = AccuracyPredictor(shaped).fit(g_train, y_train).predict(g_test)
    results["gp_topology"] = held_out_figures(mean, y_test, std, args.bootstrap)
    calibrated = AccuracyPredictor(shaped, calibration_folds=5).fit(g_train, y_train)
    mean, std = calibrated.predict(g_test)
    results["gp_topology_calibrated"] = held_out_figures(mean, y_test, std, args.bootstrap)
    results["gp_topology_calibrated"]["std_scale"] = calibrated.std_scale
    quantised = any(g.quantised for g in g_train + g_test)
    precise = AccuracyFeatures(topology=True, precision=True)  # a precision space's: each stage's quantisation step
    if quantised:
        mean, std = AccuracyPredictor(precise, calibration_folds=5).fit(g_train, y_train).predict(g_test)
        results["gp_precision_calibrated"] = held_out_figures(mean, y_test, std, args.bootstrap)
    mean, std = AccuracyPredictor(counted).fit(g_train, y_train).predict(g_test)
    results["gp_op_counts"] = held_out_figures(mean, y_test, std, args.bootstrap)
    width_depth = [shaped.names.index("width"), shaped.names.index("depth")]
    mean, std = (
        AccuracyPredictor(scale).fit_features(x_train[:, width_depth], y_train).predict_features(x_test[:, width_depth])
    )
    results["gp_width_depth"] = held_out_figures(mean, y_test, std, args.bootstrap)
    mean, std = mlp_ensemble(x_train, y_train, x_test)
    results["mlp_ensemble"] = held_out_figures(mean, y_test, std, args.bootstrap)
    if args.hypernet:  # the raw HyperNet on the same held-out set (its accuracy's rank, and its bias in pp)
        from yoso.app.cli import compose
        from yoso.app.run import validate_config

        run = validate_config(
            compose(["logger=none", "paths.output_dir=" + str(ROOT / "logs" / "bench"), *args.overrides])
        )
        hyper_test = hypernet_accuracies(run, g_test)
        results["hypernet"] = held_out_figures(hyper_test, y_test, None, args.bootstrap)
        if args.hypernet_input:  # the HyperNet's accuracy as one more input of the GP (needs every training one)
            hyper_train = hypernet_accuracies(run, g_train)
            mean, std = (
                AccuracyPredictor(scale)
                .fit(g_train, y_train, extra=hyper_train[:, None])
                .predict(g_test, extra=hyper_test[:, None])
            )
            results["gp_with_hypernet"] = held_out_figures(mean, y_test, std, args.bootstrap)
    for name, regressor in (
        ("gradient_boosting", HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=0)),
        ("ridge", make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))),
    ):
        results[name] = held_out_figures(regressor.fit(x_train, y_train).predict(x_test), y_test, None, args.bootstrap)

    if args.cv:  # every architecture predicted by the GP fitted on the other folds: tau over the whole table
        genotypes, truth = [r.genotype for r in records], np.array([r.val_accuracy for r in records])
        folds = np.arange(len(records)) % args.cv
        extra: list[Any] = []  # --with-rows: another table's records join every training fold (never held out)
        if args.with_rows is not None:
            other = read_rows_table(args.with_rows)
            extra = [] if other is None else list(other.records().values())
        models = [("gp_topology_calibrated", shaped, [])]
        if quantised:
            models.append(("gp_precision_calibrated", precise, []))
            if extra:
                models.append((f"gp_precision_calibrated + {len(extra)} of {args.with_rows.name}", precise, extra))
        for name, features, joined in models:
            mean, std = np.empty(len(records)), np.empty(len(records))
            for k in range(args.cv):
                fit = [g for g, f in zip(genotypes, folds) if f != k] + [r.genotype for r in joined]
                y_fit = np.concatenate([truth[folds != k], [r.val_accuracy for r in joined]])
                held = [g for g, f in zip(genotypes, folds) if f == k]
                model = AccuracyPredictor(features, calibration_folds=5).fit(fit, y_fit)
                mean[folds == k], std[folds == k] = model.predict(held)
            results[f"{name} ({args.cv}-fold, all {len(records)})"] = held_out_figures(mean, truth, std, args.bootstrap)

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
