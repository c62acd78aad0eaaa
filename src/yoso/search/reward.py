"""The multi-objective reward of paper eq. 2: ``R = A + a1*(l/t_lat)^w1 + a2*(e/t_eer)^w2``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from yoso.config import check_float
from yoso.search.constraints import T_EER_MJ, T_LAT_MS, Constraints


@dataclass(frozen=True)
class Reward:
    """Coefficients and thresholds of eq. 2; alpha1/omega1 act on latency, alpha2/omega2 on energy.

    The omegas must be negative so that a cheaper design earns more reward; the thresholds
    (ms, mJ) are positive and also screen designs out of the final comparison.
    """

    alpha1: float
    omega1: float
    alpha2: float
    omega2: float
    t_lat_ms: float = T_LAT_MS
    t_eer_mj: float = T_EER_MJ

    def __post_init__(self) -> None:
        """The range checks of the ``reward`` group (the one place they are made): alphas >= 0, omegas < 0,
        thresholds > 0."""
        for name, value in vars(self).items():
            if name.startswith("alpha"):
                check_float(f"reward.{name}", value, at_least=0.0)
            elif name.startswith("omega"):
                check_float(f"reward.{name}", value, less_than=0.0)
            else:
                check_float(f"reward.{name}", value, greater_than=0.0)
            object.__setattr__(self, name, float(value))

    def __call__(self, accuracy: Any, latency_ms: Any, energy_mj: Any) -> np.ndarray:
        """Eq. 2, vectorised over arrays of accuracy (fraction), latency (ms) and energy (mJ)."""
        a = np.asarray(accuracy, dtype=np.float64)
        lat = np.asarray(latency_ms, dtype=np.float64)
        eer = np.asarray(energy_mj, dtype=np.float64)
        return a + self.hardware_terms(lat, eer)

    def hardware_terms(self, latency_ms: Any, energy_mj: Any) -> Any:
        """Eq. 2's hardware terms ``a1 (l/t_lat)^w1 + a2 (e/t_eer)^w2`` of numpy arrays or torch tensors (differentiable)."""
        return (
            self.alpha1 * (latency_ms / self.t_lat_ms) ** self.omega1
            + self.alpha2 * (energy_mj / self.t_eer_mj) ** self.omega2
        )

    @property
    def constraints(self) -> Constraints:
        """The thresholds as soft constraints (what a run without a ``constraints`` group screens by)."""
        return Constraints(self.t_lat_ms, self.t_eer_mj)

    def feasible(self, latency_ms: Any, energy_mj: Any) -> np.ndarray:
        """Whether designs meet both thresholds (paper §III.A screening)."""
        return self.constraints.feasible(latency_ms, energy_mj)
