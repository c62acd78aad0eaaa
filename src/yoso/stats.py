"""Accuracy with its noise: binomial (Wilson) 95 % intervals and rank-correlation bootstrap.

Every accuracy a report shows comes from a finite validation or test split; these helpers
give it an interval so that a difference inside the noise reads as no difference.
Plain numpy (and scipy for the rank statistics): importable from every layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

#: Two-sided 95 % normal quantile: the intervals shown in every report.
Z95 = 1.959963984540054


def wilson_interval(
    accuracy: float | np.ndarray, total: int | np.ndarray, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion ``accuracy`` measured on ``total`` images (vectorised).

    NaN where the accuracy is NaN or ``total`` is not positive.
    """
    p = np.asarray(accuracy, dtype=float)
    n = np.asarray(total, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_ok = np.where(n > 0, n, np.nan)
        denom = 1.0 + z * z / n_ok
        centre = (p + z * z / (2 * n_ok)) / denom
        half = z * np.sqrt(p * (1 - p) / n_ok + z * z / (4 * n_ok * n_ok)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def binomial_sd(accuracy: float | np.ndarray, total: int | np.ndarray) -> np.ndarray:
    """Standard deviation of an accuracy measured on ``total`` independent images: sqrt(p(1-p)/n)."""
    p = np.asarray(accuracy, dtype=float)
    return np.sqrt(p * (1 - p) / np.asarray(total, dtype=float))


def accuracy_record(accuracy: float, total: int | None) -> dict[str, float | int | None]:
    """``{"n", "ci95_low", "ci95_high"}`` for an accuracy on ``total`` images (None: size unknown)."""
    if total is None or not np.isfinite(accuracy):
        return {"n": total, "ci95_low": None, "ci95_high": None}
    low, high = wilson_interval(accuracy, total)
    return {"n": int(total), "ci95_low": round(float(low), 4), "ci95_high": round(float(high), 4)}


def accuracy_fields(key: str, accuracy: float, total: int | None) -> dict[str, float | int | None]:
    """:func:`accuracy_record` as flat ``{key}_n``, ``{key}_ci95_low``, ``{key}_ci95_high`` keys (rows, CSV, YAML)."""
    return {f"{key}_{k}": v for k, v in accuracy_record(accuracy, total).items()}


def format_accuracy(accuracy: float, total: int | None) -> str:
    """``0.8870 [0.8807, 0.8931] n=10000``: the accuracy, its 95 % interval and the split size."""
    if accuracy is None or not np.isfinite(accuracy):
        return "-"
    if not total:
        return f"{accuracy:.4f}"
    low, high = wilson_interval(accuracy, total)
    return f"{accuracy:.4f} [{float(low):.4f}, {float(high):.4f}] n={int(total)}"


def bootstrap_interval(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    x: Sequence[float],
    y: Sequence[float],
    samples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(x, y)`` over resampled pairs (seeded)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(xa), size=(samples, len(xa)))
    values = np.array([statistic(xa[i], ya[i]) for i in index])
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))


def rank_correlations(x: Sequence[float], y: Sequence[float], samples: int = 2000, seed: int = 0) -> dict[str, float]:
    """Kendall tau and Spearman rho of ``x`` vs ``y`` with percentile-bootstrap 95 % intervals."""
    from scipy.stats import kendalltau, spearmanr

    def tau(a: np.ndarray, b: np.ndarray) -> float:
        return float(kendalltau(a, b).statistic)

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        return float(spearmanr(a, b).statistic)

    out: dict[str, float] = {}
    for name, fn in (("kendall_tau", tau), ("spearman", rho)):
        low, high = bootstrap_interval(fn, x, y, samples, seed)
        out.update(
            {name: fn(np.asarray(x, float), np.asarray(y, float)), f"{name}_ci95_low": low, f"{name}_ci95_high": high}
        )
    return out


def within_group_correlations(
    x: Sequence[float], y: Sequence[float], groups: Sequence[Any], samples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Kendall tau and Spearman rho of ``x`` vs ``y`` within each group (e.g. one network width), pooled as the
    mean over groups of >= 3 members weighted by their pairs, with a bootstrap 95 % interval resampling within
    the groups: the signal left once what the groups differ in is held fixed."""
    from scipy.stats import kendalltau, spearmanr

    xa, ya, labels = np.asarray(x, float), np.asarray(y, float), np.asarray([str(g) for g in groups])
    members = {g: np.flatnonzero(labels == g) for g in sorted(set(labels))}
    members = {g: idx for g, idx in members.items() if len(idx) >= 3}
    weights = {g: len(idx) * (len(idx) - 1) / 2 for g, idx in members.items()}

    def pooled(fn: Callable[..., Any], pick: Mapping[str, np.ndarray]) -> float:
        with warnings.catch_warnings():  # a resample of tied values has no correlation: NaN, dropped
            warnings.simplefilter("ignore")
            values = [(float(fn(xa[idx], ya[idx]).statistic), weights[g]) for g, idx in pick.items()]
        values = [(v, w) for v, w in values if np.isfinite(v)]
        return float(sum(v * w for v, w in values) / sum(w for _, w in values)) if values else float("nan")

    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"groups": {g: len(idx) for g, idx in members.items()}, "pairs": int(sum(weights.values()))}
    for name, fn in (("kendall_tau", kendalltau), ("spearman", spearmanr)):
        draws = [pooled(fn, {g: rng.choice(idx, len(idx)) for g, idx in members.items()}) for _ in range(samples)]
        boots = np.array([b for b in draws if np.isfinite(b)])
        low, high = (np.quantile(boots, 0.025), np.quantile(boots, 0.975)) if len(boots) else (np.nan, np.nan)
        out.update({name: pooled(fn, members), f"{name}_ci95_low": float(low), f"{name}_ci95_high": float(high)})
        out[f"{name}_by_group"] = {g: float(fn(xa[idx], ya[idx]).statistic) for g, idx in members.items()}
    return out
