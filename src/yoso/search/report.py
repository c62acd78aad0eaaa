"""Reporting of search results: Pareto fronts, hypervolume and plots (Agg); tables: :mod:`yoso.tables`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Objective convention of a search sample: accuracy is maximised, energy and latency minimised.
SEARCH_MAXIMIZE: tuple[bool, ...] = (True, False, False)


def search_objectives(accuracy: Any, energy_mj: Any, latency_ms: Any) -> tuple[np.ndarray, tuple[bool, ...]]:
    """The (n, 3) objective array ``[A, e, l]`` and its maximise flags, the one place of that convention."""
    cols = [np.asarray(v, dtype=np.float64).ravel() for v in (accuracy, energy_mj, latency_ms)]
    if len({c.size for c in cols}) != 1:
        raise ValueError(f"accuracy, energy_mj and latency_ms differ in length: {[c.size for c in cols]}")
    return np.column_stack(cols), SEARCH_MAXIMIZE


def _maximisation(points: Any, maximize: Sequence[bool]) -> np.ndarray:
    """``points`` as an (n, k) float array with the minimised columns negated, so all are maximised (botorch's way)."""
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"points must be an (n, k) array with k >= 2, got shape {x.shape}")
    flags = np.asarray(maximize, dtype=bool).ravel()
    if flags.size != x.shape[1]:
        raise ValueError(f"maximize has {flags.size} flags for k={x.shape[1]} objectives")
    return np.where(flags, x, -x)


def pareto_mask(points: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Which rows of an (n, k) array are non-dominated (botorch's ``is_non_dominated``); equal copies of a
    front point are all kept. Rows holding NaN are neither on the front nor dominate anything."""
    import torch
    from botorch.utils.multi_objective.pareto import is_non_dominated

    y = _maximisation(points, maximize)
    mask = np.zeros(len(y), dtype=bool)
    rows = np.flatnonzero(~np.isnan(y).any(axis=1))
    if rows.size:  # on the distinct rows (a second pass over copies is botorch's slow path), then every copy
        distinct, copy_of = np.unique(y[rows], axis=0, return_inverse=True)
        mask[rows] = is_non_dominated(torch.as_tensor(distinct)).numpy()[copy_of.ravel()]
    return mask


def hypervolume(points: np.ndarray, reference: Sequence[float], maximize: Sequence[bool]) -> float:
    """Exact hypervolume dominated by ``points`` and bounded by ``reference`` for k = 2 or 3 (botorch's
    ``DominatedPartitioning``). Points not strictly better than the reference in every objective contribute nothing."""
    import torch
    from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning

    y = _maximisation(points, maximize)
    k = y.shape[1]
    if k not in (2, 3):
        raise ValueError(f"hypervolume supports k=2 or k=3 objectives, got k={k}")
    ref = _maximisation(np.asarray(reference, dtype=np.float64).reshape(1, -1), maximize)[0]
    y = y[(y > ref).all(axis=1)]  # NaN rows compare False: left out
    if len(y) == 0:
        return 0.0
    partitioning = DominatedPartitioning(ref_point=torch.as_tensor(ref), Y=torch.as_tensor(y))
    return float(partitioning.compute_hypervolume())


def running_best(rewards: Any) -> np.ndarray:
    """The best reward seen so far after each sample; NaN counts as -inf so it never wins."""
    r = np.asarray(rewards, dtype=np.float64)
    return np.maximum.accumulate(np.where(np.isnan(r), -np.inf, r))


def plot_pareto(
    path: str | Path,
    accuracy: Any,
    energy_mj: Any,
    latency_ms: Any,
    chosen: int | None = None,
    thresholds: tuple[float, float] | None = None,
    title: str = "",
    val_images: Any = None,
    accuracy_label: str = "HyperNet accuracy",
    verified: Sequence[Mapping[str, Any]] = (),
    chosen_verified: int | None = None,
) -> Path:
    """Accuracy vs energy and vs latency with each panel's 2-D Pareto front, saved as PNG at ``path``.

    ``chosen`` indexes the sample drawn as a red star; ``thresholds=(t_lat_ms, t_eer_mj)`` are dashed lines;
    ``val_images`` (a raced history's) marks samples stopped before the whole split, drawn apart and left
    out of the front. ``accuracy_label`` names what the samples' accuracy is (the search's: HyperNet or predicted).
    ``verified``: the final step's rows (stand-alone ``accuracy`` with its ``_ci95_low``/``_ci95_high``, reference
    ``energy_mj`` and ``latency_ms``), drawn with their intervals; ``chosen_verified`` indexes the chosen one, drawn
    as the star instead of ``chosen``.
    """
    objectives, _ = search_objectives(accuracy, energy_mj, latency_ms)
    t_lat, t_eer = thresholds if thresholds is not None else (None, None)
    raced = np.zeros(len(objectives), dtype=bool)
    if val_images is not None and len(objectives):
        images = np.asarray(val_images, dtype=float)
        raced = np.isfinite(images) & (images < np.nanmax(images)) if np.isfinite(images).any() else raced
    fig = Figure(figsize=(11, 4.5))
    FigureCanvasAgg(fig)
    ax_e, ax_l = fig.subplots(1, 2)
    star = None if verified else chosen
    for ax, cost, key, label, threshold in (
        (ax_e, objectives[:, 1], "energy_mj", "energy (mJ)", t_eer),
        (ax_l, objectives[:, 2], "latency_ms", "latency (ms)", t_lat),
    ):
        _pareto_panel(ax, objectives[:, 0], cost, label, star, threshold, raced, accuracy_label)
        if verified:
            _verified_points(ax, verified, key, chosen_verified)
    return save_figure(fig, path, title)


def _verified_points(ax: Axes, rows: Sequence[Mapping[str, Any]], cost_key: str, chosen: int | None) -> None:
    """The final step's designs at their stand-alone accuracy (95 % interval bars) and reference cost; the chosen
    one as a red star."""
    acc = np.array([r["accuracy"] for r in rows], dtype=float)
    low = np.array([r.get("accuracy_ci95_low", np.nan) for r in rows], dtype=float)
    high = np.array([r.get("accuracy_ci95_high", np.nan) for r in rows], dtype=float)
    cost = np.array([r[cost_key] for r in rows], dtype=float)
    sizes = sorted({int(r["accuracy_n"]) for r in rows if r.get("accuracy_n")})
    n = f", n={'/'.join(map(str, sizes))}" if sizes else ""
    yerr = np.vstack([acc - np.where(np.isfinite(low), low, acc), np.where(np.isfinite(high), high, acc) - acc])
    ax.errorbar(
        cost, acc, yerr=yerr, fmt="s", ms=5, color="black", capsize=3, zorder=4,
        label=f"verified: stand-alone accuracy, 95 % CI{n}",
    )  # fmt: skip
    if chosen is not None:
        ax.scatter([cost[chosen]], [acc[chosen]], marker="*", s=220, color="red", zorder=5, label="chosen (verified)")
    ax.legend(loc="lower right", fontsize="small")


def accuracy_signal(
    accuracy: Any, energy_mj: Any, latency_ms: Any, val_images: Any = None, total: int | None = None
) -> dict[str, float]:
    """How far a search's accuracies move, against their noise: over the whole-split samples, the span (max - min)
    of accuracy, the binomial std at their mean, and the accuracy span of the energy and the latency Pareto fronts."""
    from yoso.stats import binomial_sd

    objectives, _ = search_objectives(accuracy, energy_mj, latency_ms)
    acc, energy, latency = objectives.T
    ok = np.isfinite(objectives).all(axis=1)
    images = np.full(len(acc), np.nan) if val_images is None else np.asarray(val_images, dtype=float)
    if np.isfinite(images).any():
        ok &= images == np.nanmax(images)  # raced samples rest on fewer images: left out as off the front
    n = int(np.nanmax(images)) if np.isfinite(images).any() else int(total or 0)  # total: the split's images
    out = {
        "samples": int(ok.sum()),
        "val_images": n,
        "span": float("nan"),
        "binomial_sd": float("nan"),
        "front_span_energy": float("nan"),
        "front_span_latency": float("nan"),
    }
    if not ok.any():
        return out
    a = acc[ok]
    out["span"] = float(a.max() - a.min())
    out["binomial_sd"] = float(binomial_sd(float(a.mean()), n)) if n else float("nan")
    for name, cost in (("energy", energy[ok]), ("latency", latency[ok])):
        front = pareto_mask(np.column_stack([a, cost]), (True, False))
        out[f"front_span_{name}"] = float(a[front].max() - a[front].min())
    return out


def _pareto_panel(
    ax: Axes,
    acc: np.ndarray,
    cost: np.ndarray,
    label: str,
    chosen: int | None,
    threshold: float | None,
    raced: np.ndarray | None = None,
    accuracy_label: str = "HyperNet accuracy",
) -> None:
    """One panel of plot_pareto: finite samples, their (max accuracy, min cost) front, choice, threshold;
    ``raced`` samples (stopped before the whole validation split) are drawn apart, off the front."""
    raced = np.zeros(len(acc), dtype=bool) if raced is None else raced
    ok = np.isfinite(acc) & np.isfinite(cost)
    span = cost[ok]
    if span.size and span.min() > 0 and span.max() > 20 * span.min():
        _log_xaxis(ax, span.min(), span.max())
    if raced.any():
        early = ok & raced
        ax.scatter(
            cost[early], acc[early], s=8, color="gray", alpha=0.3, linewidths=0, label="stopped early (first looks)"
        )
        ok &= ~raced
    a, c = acc[ok], cost[ok]
    ax.scatter(
        c,
        a,
        s=8,
        color="tab:blue",
        alpha=0.25 if not raced.any() else 0.6,
        linewidths=0,
        label=f"samples ({accuracy_label})" if not raced.any() else f"samples ({accuracy_label}, whole split)",
    )
    if a.size:
        front = pareto_mask(np.column_stack([a, c]), (True, False))
        order = np.argsort(c[front], kind="stable")
        ax.step(
            c[front][order],
            a[front][order],
            where="post",
            marker="o",
            ms=4,
            color="tab:orange",
            label=f"Pareto front ({accuracy_label})",
        )
    if chosen is not None and ok[chosen]:
        ax.scatter([cost[chosen]], [acc[chosen]], marker="*", s=220, color="red", zorder=5, label="chosen")
    if threshold is not None and np.isfinite(threshold):
        ax.axvline(threshold, linestyle="--", color="gray", label=f"threshold {threshold:g}")
    ax.set_xlabel(label)
    ax.set_ylabel("accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")


def _log_xaxis(ax: Axes, low: float, high: float) -> None:
    """A log-scale x axis labelled in plain decimals (0.5, 1, 2, 5, 10, ...), no minor labels.

    Ticks at 1, 2 and 5 per decade over up to 3 decades, at powers of ten over more: about 4-10 labels.
    (Matplotlib's default labels minor ticks as ``3×10⁰`` over short ranges, and they overlap.)
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    subs = (1.0, 2.0, 5.0) if np.log10(high / low) <= 3 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_best_reward(path: str | Path, curves: Mapping[str, Sequence[np.ndarray]], title: str = "") -> Path:
    """Running best reward vs samples per strategy (Fig. 4(a)): mean over seeds with a min-max band.

    The seeds of a strategy are truncated to the shortest one; NaN rewards (e.g. infeasible samples)
    never count, and a seed with no valid sample yet is left out of the mean until it has one.
    """
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for name, seeds in curves.items():
        if len(seeds) == 0:
            raise ValueError(f"strategy {name!r} has no reward curves")
        length = min(len(s) for s in seeds)
        best = np.stack([running_best(s)[:length] for s in seeds])
        best[np.isinf(best)] = np.nan
        steps = np.arange(1, length + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before the first valid sample
            mean, low, high = np.nanmean(best, axis=0), np.nanmin(best, axis=0), np.nanmax(best, axis=0)
        (line,) = ax.plot(steps, mean, drawstyle="steps-post", label=f"{name} (seeds={len(seeds)})")
        ax.fill_between(steps, low, high, step="post", color=line.get_color(), alpha=0.2)
    ax.set_xlabel("samples")
    ax.set_ylabel("best reward so far")
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(loc="lower right", fontsize="small")
    return save_figure(fig, path, title)


def save_figure(fig: Figure, path: str | Path, title: str) -> Path:
    """Title, lay out and write ``fig`` as PNG at ``path`` (creating its folder); the path."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=120)
    return out
