"""pareto.png's log axes carry a few plain decimal labels that do not overlap."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from yoso.search.report import _pareto_panel


@pytest.mark.parametrize(("low", "high"), [(0.5, 60.0), (2.8, 65.0), (0.2, 40.0), (0.01, 300.0)])
def test_log_cost_axis_has_plain_non_overlapping_labels(low: float, high: float) -> None:
    cost = np.geomspace(low, high, 200)
    acc = np.linspace(0.5, 0.9, 200)
    fig = Figure(figsize=(5.5, 4.5))
    canvas = FigureCanvasAgg(fig)
    ax = fig.subplots()
    _pareto_panel(ax, acc, cost, "energy (mJ)", None, 9.0)
    canvas.draw()
    assert ax.get_xscale() == "log"
    lo, hi = ax.get_xlim()
    labels = [t for t in ax.get_xticklabels() if t.get_text() and lo <= t.get_position()[0] <= hi]
    assert 3 <= len(labels) <= 10, [t.get_text() for t in labels]
    assert all("10^" not in t.get_text() and "times" not in t.get_text() for t in labels)
    assert not any(t.get_text() for t in ax.xaxis.get_minorticklabels())
    boxes = sorted((t.get_window_extent(canvas.get_renderer()) for t in labels), key=lambda b: b.x0)
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))


def test_raced_samples_are_drawn_apart_and_left_off_the_front() -> None:
    """A first-look accuracy (fewer validation images) never makes the Pareto front: it is noisier."""
    acc = np.array([0.80, 0.70, 0.95, 0.75])
    cost = np.array([1.0, 0.5, 0.2, 2.0])
    raced = np.array([False, False, True, False])  # the best-looking point rests on a first look only
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    _pareto_panel(ax, acc, cost, "energy (mJ)", None, None, raced)
    front = next(line for line in ax.get_lines() if line.get_label() == "Pareto front (HyperNet accuracy)")
    assert sorted(front.get_xdata().tolist()) == [0.5, 1.0]
    labels = ax.get_legend_handles_labels()[1]
    assert "stopped early (first looks)" in labels and "samples (HyperNet accuracy, whole split)" in labels
