"""Latency and energy thresholds as constraints (the ``constraints`` config group; HDX-style hard bounds).

``constraints=none`` keeps the thresholds informational: samples are marked feasible or not
and the final step screens by them, as in the paper. ``constraints=hard`` makes every
strategy treat them as constraints while it searches (Optuna constraint values, botorch
outcome constraints, a feasible-first score for REINFORCE and evolution), and the run
writes no ``best.yaml`` unless a design meets both under the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from yoso.config import check_bool, check_float

#: The paper's thresholds (§III.A): latency in ms and energy in mJ; the defaults of the reward and the constraints.
T_LAT_MS = 1.2
T_EER_MJ = 9.0
#: Constraint names, in the column order of :meth:`Constraints.values`.
CONSTRAINT_NAMES = ("latency", "energy")
#: Violation assigned to a non-finite figure (so penalised scores stay finite).
MAX_VIOLATION = 1e3


@dataclass(frozen=True)
class Constraints:
    """``latency <= t_lat_ms`` and ``energy <= t_eer_mj``; ``hard`` says whether strategies must honour them."""

    t_lat_ms: float = T_LAT_MS
    t_eer_mj: float = T_EER_MJ
    hard: bool = False
    penalty: float = 0.0  # soft constraints: what a strategy maximises is ``reward - penalty * violation``
    min_fps: float | None = None  # a frame-rate floor: the latency bound becomes min(t_lat_ms, 1000 / min_fps)

    def __post_init__(self) -> None:
        """The range checks of the ``constraints`` group (the one place they are made)."""
        check_bool("constraints.hard", self.hard)
        check_float("constraints.t_lat_ms", self.t_lat_ms, greater_than=0.0)
        check_float("constraints.t_eer_mj", self.t_eer_mj, greater_than=0.0)
        check_float("constraints.penalty", self.penalty, at_least=0.0)
        for name in ("t_lat_ms", "t_eer_mj", "penalty"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.min_fps is not None:
            object.__setattr__(self, "min_fps", check_float("constraints.min_fps", self.min_fps, greater_than=0.0))
            object.__setattr__(self, "t_lat_ms", min(self.t_lat_ms, 1000.0 / self.min_fps))

    def values(self, latency_ms: Any, energy_mj: Any) -> np.ndarray:
        """``(n, 2)`` relative excess ``latency/t_lat - 1`` and ``energy/t_eer - 1``: <= 0 is feasible.

        A non-finite or non-positive figure counts as :data:`MAX_VIOLATION` (never feasible).
        """
        lat = np.atleast_1d(np.asarray(latency_ms, dtype=np.float64))
        eer = np.atleast_1d(np.asarray(energy_mj, dtype=np.float64))
        out = np.stack([lat / self.t_lat_ms - 1.0, eer / self.t_eer_mj - 1.0], axis=1)
        bad = ~np.isfinite(out) | (np.stack([lat, eer], axis=1) <= 0)
        return np.where(bad, MAX_VIOLATION, np.minimum(out, MAX_VIOLATION))

    def feasible(self, latency_ms: Any, energy_mj: Any) -> np.ndarray:
        """Whether designs meet both thresholds."""
        return np.asarray((self.values(latency_ms, energy_mj) <= 0).all(axis=1))

    def violation(self, latency_ms: Any, energy_mj: Any) -> np.ndarray:
        """Total relative excess over the thresholds (0 for a feasible design)."""
        return np.clip(self.values(latency_ms, energy_mj), 0, None).sum(axis=1)

    def score(self, reward: Any, latency_ms: Any, energy_mj: Any, floor: float = 0.0) -> np.ndarray:
        """What a strategy maximises. Hard: the reward where feasible, else ``floor - violation`` (below every
        feasible reward). Soft: ``reward - penalty * violation`` (the reward itself at ``penalty = 0``).

        Eq. 2's terms are all > 0 for finite figures, so every feasible reward exceeds ``floor = 0``
        and a smaller violation always scores higher: a learner is pulled towards feasibility.
        """
        violation = self.violation(latency_ms, energy_mj)
        reward = np.asarray(reward, dtype=np.float64)
        if not self.hard:
            return reward - self.penalty * violation
        return np.where(violation > 0, floor - violation, reward)
