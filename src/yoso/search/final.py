"""Step 3, the final solution (paper §II.C; docs/architecture.md §3): the top-N re-evaluated and trained stand-alone.

The history's best candidates by reward (distinct decision vectors, screened by the reward's
thresholds on the search-time figures) are re-costed with the simulator and trained from
scratch; their reward is recomputed from the stand-alone validation accuracy and the
simulated energy and latency, and the best one that still meets both thresholds is chosen.
Finished candidates are kept in a mapping the caller persists after each one (the search
engine's checkpoint, :attr:`yoso.search.engine.Experiment.final`), so an interrupted final step
resumes. Every
accuracy comes with the number of images it was measured on (``*_n``) and its Wilson 95 %
interval (``*_ci95_low``/``*_ci95_high``, :mod:`yoso.stats`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from yoso.search.constraints import Constraints
from yoso.search.history import History
from yoso.search.reward import Reward
from yoso.stats import accuracy_fields, format_accuracy

log = logging.getLogger("yoso")

#: ``genotype -> (validation accuracy, test accuracy, validation images, test images)`` of the stand-alone network.
TrainFn = Callable[[Any], tuple[float, float, int, int]]
#: Accuracy keys of the final rows; each has ``_n``, ``_ci95_low`` and ``_ci95_high`` companions. A row holds one of
#: the first two (the accuracy the search ranked by: the HyperNet's, or a predictor's with its predictive interval).
ACCURACY_KEYS = ("hypernet_accuracy", "predicted_accuracy", "accuracy", "test_accuracy")
#: ``vectors -> (energy_mj, latency_ms)`` of the accurate hardware evaluator.
CostFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
#: ``vectors -> (mean, std)``: a predictor's stand-alone accuracy of candidates and its predictive standard deviation.
PredictFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def search_accuracy_key(row: Mapping[str, Any]) -> str:
    """The key of the accuracy the search ranked a final row by: ``predicted_accuracy`` or ``hypernet_accuracy``."""
    return "predicted_accuracy" if "predicted_accuracy" in row else "hypernet_accuracy"


def predicted_fields(mean: float, std: float) -> dict[str, Any]:
    """A predicted accuracy with its 95 % predictive interval (mean +- 1.96 std, within [0, 1]); no image count."""
    return {
        "predicted_accuracy": float(mean),
        "predicted_accuracy_n": None,
        "predicted_accuracy_ci95_low": float(max(0.0, mean - 1.96 * std)),
        "predicted_accuracy_ci95_high": float(min(1.0, mean + 1.96 * std)),
    }


@dataclasses.dataclass
class FinalProgress:
    """The final step's finished candidates (``"d0,d1,..." -> figures``) and how to persist them after each one."""

    results: dict[str, Any]
    save: Callable[[], None] = lambda: None


def top_candidates(
    history: History, constraints: Constraints, top_n: int, cost: CostFn | None = None
) -> tuple[np.ndarray, bool]:
    """Iterations of the best ``top_n`` distinct candidates by reward that meet both thresholds.

    Returns ``(iterations, screened)``. With soft constraints the search-time figures screen and,
    if no sample meets the thresholds, the unscreened top-N are returned with ``screened=False``
    so the run still reports its best attempt. With hard constraints the simulator (``cost``)
    screens the candidates the search-time figures call feasible first, then the others (each
    in reward order, until ``top_n`` pass); an empty array means no sampled design is feasible.
    Samples with a non-finite figure (a design that does not fit its FPGA board) are never taken.
    """
    order = np.argsort(-history.reward, kind="stable")
    _, first = np.unique(history.vectors[order], axis=0, return_index=True)
    distinct = order[np.sort(first)]
    # a design without finite figures (e.g. one that does not fit its FPGA) is never a candidate
    distinct = distinct[np.isfinite(history.energy_mj[distinct]) & np.isfinite(history.latency_ms[distinct])]
    at_search = constraints.feasible(history.latency_ms[distinct], history.energy_mj[distinct])
    if constraints.hard and cost is not None:
        kept: list[int] = []
        ranked = np.concatenate([distinct[at_search], distinct[~at_search]])  # predicted-feasible first
        for chunk in np.array_split(ranked, max(1, int(np.ceil(len(ranked) / SCREEN_CHUNK)))):
            energy, latency = cost(history.vectors[chunk])
            kept += chunk[constraints.feasible(latency, energy)].tolist()
            if len(kept) >= top_n:
                break
        kept_sorted = distinct[np.isin(distinct, kept)]  # back in reward order
        return kept_sorted[:top_n], True
    if at_search.any():
        return distinct[at_search][:top_n], True
    log.warning(
        "no sample meets t_lat = %g ms and t_eer = %g mJ: the final step takes the unscreened top-%d",
        constraints.t_lat_ms,
        constraints.t_eer_mj,
        top_n,
    )
    return distinct[:top_n], False


#: Candidates re-costed with the simulator at a time while hard constraints screen the history.
SCREEN_CHUNK = 256


def front_candidates(history: History, k: int, exclude: Sequence[int] | np.ndarray = ()) -> np.ndarray:
    """Up to ``k`` iterations of the history's Pareto front (accuracy up, energy and latency down), chosen one at a
    time by the largest hypervolume contribution, so they spread along the front; ``exclude``: iterations already
    chosen (e.g. the top-N), counted in the hypervolume but not returned.

    Energy and latency are taken as logs (they span orders of magnitude); the reference point lies just beyond
    the front's worst value of each objective. Samples without finite figures are never taken.
    """
    from yoso.search.report import hypervolume, pareto_mask, search_objectives

    if k <= 0 or not len(history):
        return np.zeros(0, dtype=np.int64)
    _, first = np.unique(history.vectors, axis=0, return_index=True)
    rows = np.sort(first)
    rows = rows[
        np.isfinite(history.energy_mj[rows])
        & np.isfinite(history.latency_ms[rows])
        & np.isfinite(history.accuracy[rows])
    ]
    points, maximize = search_objectives(
        history.accuracy[rows], np.log(history.energy_mj[rows]), np.log(history.latency_ms[rows])
    )
    on_front = pareto_mask(points, maximize)
    front, front_points = rows[on_front], points[on_front]
    reference = front_points.min(axis=0) - 1e-3, front_points.max(axis=0) + 1e-3
    ref = np.where(maximize, reference[0], reference[1])
    chosen = [i for i, it in enumerate(front) if it in set(exclude)]
    picked: list[int] = []
    while len(picked) < k:
        base = hypervolume(front_points[chosen], ref, maximize) if chosen else 0.0
        gains = [
            (hypervolume(front_points[[*chosen, i]], ref, maximize) - base, -i)
            for i in range(len(front))
            if i not in chosen
        ]
        if not gains:
            break
        best = -max(gains)[1]
        chosen.append(best)
        picked.append(int(front[best]))
    return np.asarray(picked, dtype=np.int64)


def standalone_result(values: Sequence[Any] | Mapping[str, Any]) -> tuple[float, float, int | None, int | None]:
    """``(val, test, val images, test images)`` of a trainer, a saved final-step entry or an older ``[val, test]``.

    Sizes an older cache did not keep are None (no interval).
    """
    if isinstance(values, Mapping):
        values = [values.get(k) for k in ("accuracy", "test_accuracy", "accuracy_n", "test_accuracy_n")]
    val, test, val_n, test_n = (*values, None, None)[:4]
    return float(val), float(test), None if val_n is None else int(val_n), None if test_n is None else int(test_n)


def final_step(
    history: History,
    reward: Reward,
    top_n: int,
    cost: CostFn,
    train: TrainFn | None,
    done: FinalProgress | None = None,
    constraints: Constraints | None = None,
    hypernet_n: int | None = None,
    front_k: int = 0,
    predicted: PredictFn | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Re-evaluate the top-N; returns their rows (best first by final reward) and the chosen row's index.

    ``train=None`` skips stand-alone training and keeps the HyperNet accuracy; ``done`` keeps each
    trained candidate's figures (by decision vector) and saves them after each one. ``constraints``
    default to the reward's thresholds (soft); with hard constraints the chosen index is None
    when no sampled design meets them under the simulator. ``hypernet_n`` is the size of the
    validation split behind the HyperNet accuracies (None: unknown, no interval); a row's own
    ``val_images`` in the history (a raced candidate's first look) takes precedence. ``front_k``: up to this many
    designs of the searched Pareto front are verified too (:func:`front_candidates`; their rows have
    ``on_front``), and the choice is the reward's pick among every verified design. ``predicted``: the search
    ranked by a predictor's accuracy (not the HyperNet's); the rows then hold ``predicted_accuracy`` with its
    predictive interval instead of ``hypernet_accuracy``.
    """
    constraints = constraints or reward.constraints
    iterations, screened = top_candidates(history, constraints, top_n, cost)
    front = front_candidates(history, front_k, exclude=iterations) if len(iterations) else np.zeros(0, dtype=np.int64)
    iterations = np.concatenate([iterations, front]).astype(np.int64)
    if not len(iterations):
        log.error(
            "no sampled design meets latency <= %g ms and energy <= %g mJ under the simulator "
            "(hard constraints): there is no design to report",
            constraints.t_lat_ms,
            constraints.t_eer_mj,
        )
        return [], None
    energy, latency = (np.asarray(v, dtype=float) for v in cost(history.vectors[iterations]))
    if predicted is not None:
        pred_mean, pred_std = (np.asarray(v, dtype=float) for v in predicted(history.vectors[iterations]))
    done = done if done is not None else FinalProgress({})
    rows: list[dict[str, Any]] = []
    for k, it in enumerate(iterations):
        vector = history.vectors[it]
        seen = int(history.val_images[it]) if np.isfinite(history.val_images[it]) else hypernet_n
        genotype, accelerator = history.space.decode(vector)
        key = ",".join(map(str, vector.tolist()))
        if predicted is not None:
            search_fields = predicted_fields(pred_mean[k], pred_std[k])
        else:
            search_fields = {
                "hypernet_accuracy": float(history.accuracy[it]),
                **accuracy_fields("hypernet_accuracy", float(history.accuracy[it]), seen),
            }
        if train is None:  # the search's accuracy stands in (a predicted one rests on no images of its own)
            val_n = None if predicted is not None else seen
            val_acc, test_acc, test_n = float(history.accuracy[it]), float("nan"), None
        elif key in done.results:
            val_acc, test_acc, val_n, test_n = standalone_result(done.results[key])
        else:
            log.info("final step: training candidate %d/%d (iteration %d) stand-alone", k + 1, len(iterations), it)
            val_acc, test_acc, val_n, test_n = standalone_result(train(genotype))
            done.results[key] = {
                "accuracy": val_acc,
                **accuracy_fields("accuracy", val_acc, val_n),
                "test_accuracy": test_acc,
                **accuracy_fields("test_accuracy", test_acc, test_n),
            }
            done.save()
        rows.append(
            {
                "iteration": int(it),
                "genotype": genotype,
                "accelerator": accelerator,
                **search_fields,
                "search_reward": float(history.reward[it]),
                "accuracy": val_acc,
                "test_accuracy": test_acc,
                **accuracy_fields("accuracy", val_acc, val_n),
                **accuracy_fields("test_accuracy", test_acc, test_n),
                "energy_mj": float(energy[k]),
                "latency_ms": float(latency[k]),
                "reward": float(reward(val_acc, latency[k], energy[k])),
                "feasible": bool(constraints.feasible(latency[k], energy[k])[0]),
                "screened": screened,
                "on_front": bool(it in front),
            }
        )
    rows.sort(key=lambda r: -r["reward"])
    feasible = [i for i, r in enumerate(rows) if r["feasible"]]
    if not feasible:
        log.warning(
            "no top-%d candidate meets both thresholds under the simulator: reporting the best by reward", top_n
        )
    finite = [i for i, r in enumerate(rows) if np.isfinite(r["energy_mj"]) and np.isfinite(r["latency_ms"])]
    return rows, (feasible[0] if feasible else None if constraints.hard or not finite else finite[0])


def best_record(row: dict[str, Any], reward: Reward, constraints: Constraints | None = None) -> dict[str, Any]:
    """The chosen design as plain data for ``best.yaml`` (each accuracy with its ``_n`` and ``_ci95_*`` keys)."""
    return {
        "genotype": row["genotype"].to_dict(),
        "accelerator": row["accelerator"].to_dict(),
        "accelerator_str": str(row["accelerator"]),
        **{
            k: row[k]
            for k in (
                "accuracy",
                "test_accuracy",
                search_accuracy_key(row),
                "energy_mj",
                "latency_ms",
                "reward",
                "feasible",
                "iteration",
            )
        },
        **{f"{a}_{k}": row.get(f"{a}_{k}") for a in ACCURACY_KEYS if a in row for k in ("n", "ci95_low", "ci95_high")},
        "reward_config": {
            k: getattr(reward, k) for k in ("alpha1", "omega1", "alpha2", "omega2", "t_lat_ms", "t_eer_mj")
        },
        **({"constraints": dataclasses.asdict(constraints)} if constraints is not None else {}),
    }


#: Columns of the printed/logged top-N table (``hypernet_accuracy`` stands for the search's accuracy:
#: :func:`table_columns`).
TABLE_COLUMNS = (
    "rank",
    "iteration",
    "scale",
    "accelerator",
    "hypernet_accuracy",
    "accuracy",
    "test_accuracy",
    "energy_mj",
    "latency_ms",
    "reward",
    "feasible",
)


def table_columns(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """:data:`TABLE_COLUMNS` with the accuracy the search ranked ``rows`` by (the HyperNet's or a predictor's)."""
    key = search_accuracy_key(rows[0]) if rows else "hypernet_accuracy"
    return tuple(key if c == "hypernet_accuracy" else c for c in TABLE_COLUMNS)


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The top-N rows in :func:`table_columns`: ranks, printable accelerators, accuracies as ``acc [low, high] n=N``
    (a predicted one with its predictive interval)."""

    def cell(r: dict[str, Any], c: str) -> Any:
        if c == "predicted_accuracy":
            return f"{r[c]:.4f} [{r[c + '_ci95_low']:.4f}, {r[c + '_ci95_high']:.4f}] predicted"
        if c in ACCURACY_KEYS:
            return format_accuracy(r[c], r.get(f"{c}_n"))
        if c == "scale":  # the network's width and depth fractions (1, 1 outside the elastic space), stage bits
            g = r["genotype"]
            bits = f" b{'/'.join(map(str, g.precision[1:]))}" if g.quantised else ""
            return f"w{g.width:g} d{g.depth:.2g}{bits}"
        return str(r[c]) if c == "accelerator" else r[c]

    columns = table_columns(rows)
    return [{"rank": i + 1, **{c: cell(r, c) for c in columns[1:]}} for i, r in enumerate(rows)]


#: Columns of ``front.csv``: every verified design, with its stand-alone accuracies and their intervals.
FRONT_COLUMNS = (
    "iteration",
    "on_front",
    "width",
    "depth",
    "bits",
    "accelerator",
    *(f"{a}{k}" for a in ("accuracy", "test_accuracy") for k in ("", "_n", "_ci95_low", "_ci95_high")),
    "search_accuracy",
    "search_accuracy_ci95_low",
    "search_accuracy_ci95_high",
    "energy_mj",
    "latency_ms",
    "reward",
    "feasible",
)


def write_front(path: Any, rows: list[dict[str, Any]]) -> Any:
    """``front.csv``: the verified designs by energy; ``search_accuracy`` is the accuracy the search ranked them by
    (the HyperNet's, or a predictor's with its 95 % predictive interval), ``accuracy`` the stand-alone validation
    accuracy with its Wilson interval."""
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FRONT_COLUMNS)
        writer.writeheader()
        for r in sorted(rows, key=lambda r: r["energy_mj"]):
            plain = {c: r.get(c) for c in FRONT_COLUMNS}
            plain.update(
                width=r["genotype"].width,
                depth=r["genotype"].depth,
                bits="/".join(map(str, r["genotype"].precision)),  # first/last layers', then each stage's
                accelerator=str(r["accelerator"]),
            )
            key = search_accuracy_key(r)
            plain.update({f"search_accuracy{k}": r.get(f"{key}{k}") for k in ("", "_ci95_low", "_ci95_high")})
            writer.writerow(plain)
    return path
