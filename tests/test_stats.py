"""Accuracy intervals and rank statistics (yoso.stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from yoso.stats import (
    accuracy_fields,
    accuracy_record,
    binomial_sd,
    format_accuracy,
    rank_correlations,
    wilson_interval,
)


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(0.9, 1000)  # 900/1000: the textbook Wilson score interval
    assert float(low) == pytest.approx(0.87985, abs=1e-5) and float(high) == pytest.approx(0.91709, abs=1e-5)
    low, high = wilson_interval(np.array([0.0, 1.0]), 10)  # never outside [0, 1], not degenerate at the edges
    np.testing.assert_allclose(low, [0.0, 0.72246], atol=1e-4)
    np.testing.assert_allclose(high, [0.27754, 1.0], atol=1e-4)
    assert all(math.isnan(float(v)) for v in wilson_interval(0.9, 0))  # no images: no interval
    assert float(binomial_sd(0.9, 1000)) == pytest.approx(math.sqrt(0.09 / 1000))


def test_accuracy_record_fields_and_format() -> None:
    assert accuracy_record(0.9, 1000) == {"n": 1000, "ci95_low": 0.8798, "ci95_high": 0.9171}
    assert accuracy_record(0.9, None) == {"n": None, "ci95_low": None, "ci95_high": None}
    assert accuracy_fields("test_accuracy", 0.9, 1000) == {
        "test_accuracy_n": 1000,
        "test_accuracy_ci95_low": 0.8798,
        "test_accuracy_ci95_high": 0.9171,
    }
    assert format_accuracy(0.9, 1000) == "0.9000 [0.8798, 0.9171] n=1000"
    assert format_accuracy(0.9, None) == "0.9000"
    assert format_accuracy(float("nan"), 1000) == "-"


def test_rank_correlations_of_a_monotone_pair() -> None:
    x = np.arange(20.0)
    out = rank_correlations(x, x**3, samples=200)
    assert out["kendall_tau"] == pytest.approx(1.0) and out["spearman"] == pytest.approx(1.0)
    assert out["kendall_tau_ci95_low"] == pytest.approx(1.0) and out["kendall_tau_ci95_high"] == pytest.approx(1.0)
    assert rank_correlations(x, -x, samples=50)["kendall_tau"] == pytest.approx(-1.0)


def test_within_group_correlations_hold_the_group_fixed() -> None:
    """Groups far apart in y but ranked correctly inside: tau 1 within; reversed inside one group: lower."""
    from yoso.stats import within_group_correlations

    x = [1, 2, 3, 4, 11, 12, 13, 14, 21, 22]
    y = [5, 6, 7, 8, 1, 2, 3, 4, 0, 9]
    groups = ["a"] * 4 + ["b"] * 4 + ["c"] * 2  # "c" has fewer than 3 members: left out
    out = within_group_correlations(x, y, groups, samples=200, seed=0)
    assert out["groups"] == {"a": 4, "b": 4} and out["pairs"] == 12
    assert out["kendall_tau"] == pytest.approx(1.0) and out["spearman"] == pytest.approx(1.0)
    flipped = within_group_correlations(x, [8, 7, 6, 5, 1, 2, 3, 4, 0, 9], groups, samples=200, seed=0)
    assert flipped["kendall_tau"] == pytest.approx(0.0) and flipped["kendall_tau_by_group"] == {"a": -1.0, "b": 1.0}
    assert flipped["kendall_tau_ci95_low"] <= 0.0 <= flipped["kendall_tau_ci95_high"]
