"""Pareto fronts, hypervolume, plots and tables of search reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from yoso.search.report import (
    hypervolume,
    pareto_mask,
    plot_best_reward,
    plot_pareto,
    running_best,
    search_objectives,
)
from yoso.tables import format_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def brute_force_mask(points: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Non-dominated rows by the definition, an O(n^2) double loop."""
    x = np.where(maximize, -points, points)
    n = len(x)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if np.all(x[j] <= x[i]) and np.any(x[j] < x[i]):
                keep[i] = False
                break
    return keep


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pareto_mask_matches_brute_force_with_ties_and_duplicates(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pts = rng.integers(0, 6, size=(150, k)).astype(float)  # coarse grid: many ties and duplicates
    pts = np.vstack([pts, pts[:20]])
    maximize = [bool(b) for b in rng.integers(0, 2, size=k)]
    got = pareto_mask(pts, maximize)
    np.testing.assert_array_equal(got, brute_force_mask(pts, maximize))


def test_pareto_mask_continuous_data_and_all_copies_kept() -> None:
    rng = np.random.default_rng(3)
    pts = rng.random((600, 3))
    maximize = [True, False, False]
    np.testing.assert_array_equal(pareto_mask(pts, maximize), brute_force_mask(pts, maximize))
    dup = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 0.0], [2.0, 2.0]])
    assert pareto_mask(dup, [False, False]).tolist() == [True, True, True, False]


def test_pareto_mask_keeps_a_whole_front_of_twelve_thousand_points() -> None:
    rng = np.random.default_rng(0)
    for k in (2, 3):
        pts = rng.random((12000, k))
        pts[:, -1] = 1.0 - pts[:, :-1].sum(axis=1)  # every point on the front (the blockwise worst case)
        assert pareto_mask(pts, [False] * k).all()


def test_pareto_mask_ignores_nan_rows_and_checks_shapes() -> None:
    pts = np.array([[np.nan, 0.0], [1.0, 1.0], [2.0, 2.0]])
    assert pareto_mask(pts, [False, False]).tolist() == [False, True, False]
    with pytest.raises(ValueError, match="k=2"):
        pareto_mask(pts, [False])
    with pytest.raises(ValueError, match="k >= 2"):
        pareto_mask(np.zeros((4, 1)), [False])


def test_hypervolume_of_hand_computable_sets() -> None:
    assert hypervolume(np.array([[1.0, 2.0]]), [3.0, 5.0], [False, False]) == pytest.approx(6.0)
    # Boxes 3x1 and 1x3 overlap in a 1x1 square: 3 + 3 - 1.
    two = np.array([[0.0, 2.0], [2.0, 0.0]])
    assert hypervolume(two, [3.0, 3.0], [False, False]) == pytest.approx(5.0)
    # Maximising both objectives with the mirrored set and reference gives the same area.
    assert hypervolume(-two, [-3.0, -3.0], [True, True]) == pytest.approx(5.0)


def test_hypervolume_3d_by_inclusion_exclusion() -> None:
    pts = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 2.0, 0.0]])
    ref = np.array([3.0, 3.0, 3.0])

    def box(corner: np.ndarray) -> float:
        return float(np.prod(ref - corner))

    singles = sum(box(p) for p in pts)
    pairs = sum(box(np.maximum(pts[i], pts[j])) for i, j in [(0, 1), (0, 2), (1, 2)])
    triple = box(pts.max(axis=0))
    expected = singles - pairs + triple
    # By hand: boxes 3*2*1 + 2*3*2 + 1*1*3, pairwise overlaps 2*2*1 + 1*1*1 + 1*1*2, triple 1*1*1.
    assert expected == pytest.approx(6 + 12 + 3 - (4 + 1 + 2) + 1)
    assert hypervolume(pts, ref, [False] * 3) == pytest.approx(expected)
    # Accuracy-style convention: maximise the first column.
    flipped = pts * np.array([-1.0, 1.0, 1.0])
    assert hypervolume(flipped, ref * np.array([-1.0, 1.0, 1.0]), [True, False, False]) == pytest.approx(expected)


def test_hypervolume_matches_monte_carlo() -> None:
    rng = np.random.default_rng(7)
    pts = rng.random((40, 3))
    ref = np.ones(3)
    samples = rng.random((200_000, 3))
    dominated = np.zeros(len(samples), dtype=bool)
    for p in pts:
        dominated |= (samples >= p).all(axis=1)
    assert hypervolume(pts, ref, [False] * 3) == pytest.approx(dominated.mean(), abs=4e-3)


def test_points_beyond_reference_and_dominated_points_add_nothing() -> None:
    pts = np.array([[0.5, 0.5, 0.5], [0.2, 0.8, 0.6]])
    ref = [1.0, 1.0, 1.0]
    base = hypervolume(pts, ref, [False] * 3)
    beyond = np.array([[-5.0, -5.0, 1.0], [2.0, 0.0, 0.0], [np.nan, 0.0, 0.0]])  # touches or passes ref
    assert hypervolume(np.vstack([pts, beyond]), ref, [False] * 3) == pytest.approx(base)
    assert hypervolume(np.vstack([pts, [[0.6, 0.9, 0.7]]]), ref, [False] * 3) == pytest.approx(base)
    assert hypervolume(beyond, ref, [False] * 3) == 0.0


def test_hypervolume_rejects_other_k() -> None:
    with pytest.raises(ValueError, match="k=4"):
        hypervolume(np.zeros((2, 4)), [1.0] * 4, [False] * 4)


def test_search_objectives_convention() -> None:
    arr, maximize = search_objectives([0.9, 0.8], [5.0, 6.0], [1.0, 0.5])
    assert arr.shape == (2, 3) and maximize == (True, False, False)
    np.testing.assert_array_equal(arr[:, 0], [0.9, 0.8])
    with pytest.raises(ValueError, match="length"):
        search_objectives([0.9], [5.0, 6.0], [1.0, 0.5])


def test_plot_pareto_writes_png_with_non_finite_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    acc = rng.uniform(0.8, 0.95, 200)
    energy = rng.uniform(1.0, 100.0, 200)  # spans > 20x: log axis
    lat = rng.uniform(0.5, 2.0, 200)
    acc[3], energy[4], lat[5] = np.nan, np.inf, -np.inf
    out = plot_pareto(tmp_path / "sub" / "p.png", acc, energy, lat, chosen=4, thresholds=(1.2, 9.0), title="t")
    assert out.read_bytes()[:8] == PNG_MAGIC
    out2 = plot_pareto(tmp_path / "q.png", acc, energy, lat, chosen=None, thresholds=None)
    assert out2.stat().st_size > 1000 and out2.read_bytes()[:8] == PNG_MAGIC
    nothing = plot_pareto(tmp_path / "nan.png", [np.nan], [np.nan], [np.nan], chosen=0)
    assert nothing.read_bytes()[:8] == PNG_MAGIC


def test_plot_best_reward_with_unequal_lengths(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    curves = {
        "rl": [rng.random(50), rng.random(40)],
        "random": [np.r_[np.nan, rng.random(30)]],
    }
    out = plot_best_reward(tmp_path / "r" / "best.png", curves, title="Fig. 4(a)")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_running_best_treats_nan_as_minus_inf() -> None:
    got = running_best([np.nan, 1.0, np.nan, 0.5, 3.0])
    np.testing.assert_array_equal(got, [-np.inf, 1.0, 1.0, 1.0, 3.0])


def test_format_table_has_columns_and_formatted_floats() -> None:
    rows = [{"strategy": "rl", "reward": 1.234567, "n": 3}, {"strategy": "random", "hv": np.float32(0.5)}]
    text = format_table(rows, title="summary")
    for name in ("strategy", "reward", "n", "hv", "summary", "1.235", "0.5", "random"):
        assert name in text
    assert "\x1b[" not in text
    only = format_table(rows, columns=["reward"])
    assert "strategy" not in only and "1.235" in only


def test_format_table_markdown_with_headers() -> None:
    rows = [{"model": "DARTS_V2", "e": 1.234567, "n": None}, {"model": "ENAS", "e": np.float64(2.0), "n": 3}]
    text = format_table(rows, [("model", "model"), ("e", "energy (mJ)"), "n"], markdown=True)
    assert text == "| model | energy (mJ) | n |\n|---|---|---|\n| DARTS_V2 | 1.235 |  |\n| ENAS | 2 | 3 |\n"
    assert format_table(rows, ["model"], title="T", markdown=True).startswith("**T**\n\n| model |")


def test_format_table_keeps_accuracy_intervals_on_one_line() -> None:
    from yoso.search.final import TABLE_COLUMNS
    from yoso.stats import format_accuracy

    cell = format_accuracy(0.887, 10000)
    assert cell == "0.8870 [0.8806, 0.8931] n=10000"
    row = {
        "rank": 1,
        "iteration": 12,
        "accelerator": "14x16/1024KB/1024B/RS",
        "hypernet_accuracy": cell,
        "accuracy": cell,
        "test_accuracy": cell,
        "energy_mj": 1.5,
        "latency_ms": 0.5,
        "reward": 2.0,
        "feasible": True,
    }
    text = format_table([row], TABLE_COLUMNS)
    assert sum(line.count(cell) for line in text.splitlines()) == 3  # each interval whole on its row


def test_accuracy_signal_measures_whole_split_samples_and_the_fronts() -> None:
    from yoso.search.report import accuracy_signal

    accuracy = [0.80, 0.85, 0.90, 0.50, 0.84]
    energy = [1.0, 2.0, 4.0, 0.1, 3.0]  # sample 4 is dominated (costlier and less accurate than sample 1)
    latency = [1.0, 2.0, 4.0, 0.1, 1.5]
    signal = accuracy_signal(accuracy, energy, latency, val_images=[1000, 1000, 1000, 500, 1000])
    assert signal["samples"] == 4 and signal["val_images"] == 1000  # the raced sample (500 images) is left out
    assert signal["span"] == pytest.approx(0.10) and signal["binomial_sd"] == pytest.approx(
        (0.8475 * 0.1525 / 1000) ** 0.5
    )
    assert signal["front_span_energy"] == pytest.approx(0.10)
    assert accuracy_signal(accuracy, energy, latency, total=10_000)["val_images"] == 10_000
