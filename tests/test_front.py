"""The final step's verified front (search.front_k): designs of the searched Pareto front, spread by hypervolume
contribution, verified beside the top-N and written to front.csv."""

from __future__ import annotations

import csv

import numpy as np
from helpers import REWARD, fake_hardware

from yoso.search.final import FRONT_COLUMNS, final_step, front_candidates, write_front
from yoso.search.history import History
from yoso.search.report import pareto_mask, search_objectives
from yoso.search.strategy import Evaluation


def _history(space, n: int = 40) -> History:
    """A history whose accuracy rises with energy along a noisy trade-off (a front of several designs)."""
    rng = np.random.default_rng(1)
    vectors = space.sample(n, rng)
    energy = rng.uniform(0.1, 10.0, n)
    latency = energy * rng.uniform(0.8, 1.2, n)
    accuracy = 0.7 + 0.02 * np.log(energy) + rng.normal(0, 0.01, n)
    reward = np.array([REWARD(a, lat, e) for a, lat, e in zip(accuracy, latency, energy)])
    history = History(space)
    history.append(
        vectors, Evaluation(accuracy, energy, latency, reward, feasible=np.ones(n, bool)), step=1, wall_time_s=0.0
    )
    return history


def test_front_candidates_lie_on_the_front_and_spread_along_it(space) -> None:
    history = _history(space)
    points, maximize = search_objectives(history.accuracy, np.log(history.energy_mj), np.log(history.latency_ms))
    front = np.flatnonzero(pareto_mask(points, maximize))
    picked = front_candidates(history, 4)
    assert len(picked) == min(4, len(front)) and set(picked) <= set(front)
    assert len(set(picked)) == len(picked)
    spread = np.ptp(np.log(history.energy_mj[picked]))
    assert spread >= 0.5 * np.ptp(np.log(history.energy_mj[front]))  # not four neighbours at one corner
    assert not set(front_candidates(history, 4, exclude=picked[:2])) & set(picked[:2])
    assert len(front_candidates(history, 0)) == 0


def test_final_step_verifies_the_front_and_writes_front_csv(space, tmp_path) -> None:
    history = _history(space)
    rows, chosen = final_step(history, REWARD, 2, fake_hardware, None, front_k=3)
    on_front = [r for r in rows if r["on_front"]]
    assert len(on_front) == 3 and 1 <= len(rows) - len(on_front) <= 2  # the screened top-N, then the front
    assert chosen is not None and rows[chosen]["reward"] == max(r["reward"] for r in rows if r["feasible"])
    with open(write_front(tmp_path / "front.csv", rows), newline="") as f:
        written = list(csv.DictReader(f))
    assert list(written[0]) == list(FRONT_COLUMNS) and len(written) == len(rows)
    energies = [float(r["energy_mj"]) for r in written]
    assert energies == sorted(energies)
