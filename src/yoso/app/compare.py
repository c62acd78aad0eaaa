"""The paper's six-regressor comparison (Fig. 3): ``python -m yoso.app.compare [--json] [--out DIR]``.

GP, linear (ridge), SVR, random forest, gradient boosting and MLP are trained on the same
features and log targets of ``n_train`` simulator samples and tested on ``n_test`` held-out
ones. Reported per model and target: MSE of the *log* prediction (natural log of mJ / ms),
MAPE of the prediction in mJ / ms, Spearman rank correlation, and the fit time. Extra
arguments are Hydra overrides of the search config (e.g. ``hw.tech=...``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: The compared models, in report order.
MODELS = ("gp", "ridge", "svr", "random_forest", "gradient_boosting", "mlp")
TARGET_NAMES = ("energy", "latency")


class _SklearnModel:
    """A scikit-learn regressor on standardised inputs and (per-column) standardised targets."""

    def __init__(self, make: Callable[[], Any], per_target: bool):
        self.make, self.per_target = make, per_target

    def fit(self, x: np.ndarray, y: np.ndarray) -> _SklearnModel:
        from sklearn.preprocessing import StandardScaler

        self.xs, self.ys = StandardScaler().fit(x), StandardScaler().fit(y)
        xt, yt = self.xs.transform(x), self.ys.transform(y)
        self.models = (
            [self.make().fit(xt, yt[:, j]) for j in range(y.shape[1])] if self.per_target else [self.make().fit(xt, yt)]
        )
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        xt = self.xs.transform(x)
        pred = np.stack([m.predict(xt) for m in self.models], 1) if self.per_target else self.models[0].predict(xt)
        return self.ys.inverse_transform(np.asarray(pred).reshape(len(x), -1))


class _GPModel:
    def __init__(self, settings: Any):
        self.settings = settings

    def fit(self, x: np.ndarray, y: np.ndarray) -> _GPModel:
        from yoso.predictor.gp import GPRegressor

        self.gp = GPRegressor(self.settings).fit(x, y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.gp.predict(x, return_std=False)[0]


def make_model(name: str, gp_settings: Any = None, seed: int = 0) -> Any:
    """A fresh, unfitted model ``name`` of :data:`MODELS` with sensible defaults."""
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.neural_network import MLPRegressor
    from sklearn.svm import SVR

    from yoso.predictor.settings import GPSettings

    if name == "gp":
        return _GPModel(gp_settings or GPSettings(seed=seed))
    makers: dict[str, tuple[Callable[[], Any], bool]] = {
        "ridge": (lambda: RidgeCV(alphas=np.logspace(-3, 3, 13)), False),
        "svr": (lambda: SVR(C=10.0, epsilon=0.01, gamma="scale"), True),
        "random_forest": (
            lambda: RandomForestRegressor(
                n_estimators=200, max_features=0.3, min_samples_leaf=1, random_state=seed, n_jobs=1
            ),
            False,
        ),
        "gradient_boosting": (
            lambda: HistGradientBoostingRegressor(max_iter=500, learning_rate=0.05, random_state=seed),
            True,
        ),
        "mlp": (
            lambda: MLPRegressor(
                hidden_layer_sizes=(256, 128),
                alpha=1e-3,
                learning_rate_init=1e-3,
                max_iter=1000,
                early_stopping=True,
                n_iter_no_change=30,
                random_state=seed,
            ),
            False,
        ),
    }
    if name not in makers:
        raise ValueError(f"unknown model {name!r}; allowed {list(MODELS)}")
    make, per_target = makers[name]
    return _SklearnModel(make, per_target)


def metrics(pred_log: np.ndarray, true_log: np.ndarray) -> dict[str, dict[str, float]]:
    """Per target: MSE of the log prediction, MAPE (%) of exp(prediction) in mJ / ms, Spearman correlation."""
    from scipy.stats import spearmanr

    out = {}
    for j, name in enumerate(TARGET_NAMES):
        p, t = pred_log[:, j], true_log[:, j]
        out[name] = {
            "mse_log": float(np.mean((p - t) ** 2)),
            "mape_pct": float(np.mean(np.abs(np.exp(p) - np.exp(t)) / np.exp(t)) * 100),
            "spearman": float(spearmanr(p, t).statistic) if np.ptp(p) > 0 else 0.0,  # a constant ranks nothing
        }
    return out


def run_comparison(
    setup: Any, models: tuple[str, ...] = MODELS, progress: bool = True, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Train every model on the setup's train samples and test on the held-out ones; a JSON-able result."""
    from yoso.predictor.features import FeatureEncoder

    train, test = setup.samples(progress)
    encoder = FeatureEncoder(setup.space, setup.deploy, setup.tech)
    x_train, x_test = encoder(train.vectors), encoder(test.vectors)
    y_train, y_test = train.targets, test.targets
    result: dict[str, Any] = {
        "n_train": len(train),
        "n_test": len(test),
        "n_features": len(encoder.spec),
        "samples": train.key.split("[")[0],
        "mse_on": "natural log of energy (mJ) and latency (ms)",
        "mape_on": "energy (mJ) and latency (ms)",
        "models": {},
    }
    for name in models:
        log(f"fitting {name} ...")
        start = time.perf_counter()
        model = make_model(name, setup.predictor.gp, setup.predictor.seed).fit(x_train, y_train)
        fit_s = time.perf_counter() - start
        pred = model.predict(x_test)
        result["models"][name] = {**metrics(pred, y_test), "fit_s": fit_s}
    baseline = np.broadcast_to(y_train.mean(0), y_test.shape)
    result["mean_baseline"] = metrics(baseline, y_test)
    best = {t: min(result["models"], key=lambda m: result["models"][m][t]["mse_log"]) for t in TARGET_NAMES}
    result["best_by_mse"] = best
    return result


def print_table(result: dict[str, Any]) -> None:
    """The comparison as a plain-text table, the lowest MSE per target starred."""
    from yoso.tables import format_table

    columns = [("model", "model")]
    for t in TARGET_NAMES:
        columns += [(f"{t}.mse", f"{t} MSE(log)"), (f"{t}.mape", f"{t} MAPE %"), (f"{t}.spearman", f"{t} Spearman")]
    columns.append(("fit_s", "fit s"))
    rows = []
    for name, r in result["models"].items():
        row = {"model": name, "fit_s": f"{r['fit_s']:.1f}"}
        for t in TARGET_NAMES:
            mark = "*" if result["best_by_mse"][t] == name else ""
            row.update(
                {
                    f"{t}.mse": f"{r[t]['mse_log']:.5f}{mark}",
                    f"{t}.mape": f"{r[t]['mape_pct']:.2f}",
                    f"{t}.spearman": f"{r[t]['spearman']:.4f}",
                }
            )
        rows.append(row)
    print(
        format_table(
            rows,
            columns,
            title=f"Hardware regressors: {result['n_train']} train / {result['n_test']} held-out "
            f"samples, {result['n_features']} features (MSE on natural-log targets; "
            "MAPE on mJ / ms)",
        ),
        end="",
    )
    print("* lowest MSE for that target")


def plot(result: dict[str, Any], path: Path) -> Path:
    """A bar chart like the paper's Fig. 3: MSE (log targets) per model, energy and latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["models"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, t in zip(axes, TARGET_NAMES):
        mse = [result["models"][n][t]["mse_log"] for n in names]
        bars = ax.bar(names, mse, color=["tab:red" if n == "gp" else "tab:gray" for n in names])
        for b, n in zip(bars, names):
            ax.annotate(
                f"{result['models'][n][t]['mape_pct']:.1f}%",
                (b.get_x() + b.get_width() / 2, b.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_yscale("log")
        ax.set_ylim(min(mse) / 3, max(mse) * 2)
        ax.set_title(f"{t}: MSE of log prediction (labels: MAPE)")
        ax.set_xticks(range(len(names)), [n.replace("_", "\n") for n in names])
    fig.suptitle(f"{result['n_train']} training / {result['n_test']} test samples")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m yoso.app.compare", description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, help="training samples (default hw.predictor.n_train)")
    parser.add_argument("--n-test", type=int, help="held-out samples (default hw.predictor.n_test)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (progress goes to stderr)")
    parser.add_argument("--out", type=Path, default=Path("outputs/predictor_compare"), help="folder for the PNG/JSON")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. hw.predictor.iterations=30")
    args = parser.parse_args(argv)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    bad = [m for m in models if m not in MODELS]
    if bad:
        parser.error(f"--models: unknown {bad}; allowed {list(MODELS)}")
    overrides = list(args.overrides)
    if args.n_train is not None:
        overrides.append(f"hw.predictor.n_train={args.n_train}")
    if args.n_test is not None:
        overrides.append(f"hw.predictor.n_test={args.n_test}")
    from yoso.app.cli import compose
    from yoso.app.run import validate_hardware
    from yoso.config import ConfigError

    try:
        setup = validate_hardware(compose(overrides)).hw
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    log = (lambda s: print(s, file=sys.stderr)) if args.json else print
    result = run_comparison(setup, models, progress=not args.json, log=log)
    png = plot(result, args.out / "predictor_compare.png")
    result["figure"] = str(png)
    (args.out / "predictor_compare.json").write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
        print(f"figure: {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
