"""The multi-objective reward of paper eq. 2: ``R = A + a1*(l/t_lat)^w1 + a2*(e/t_eer)^w2``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from yoso.config import check_float, required
from yoso.search.constraints import Constraints


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
    t_lat_ms: float = 1.2
    t_eer_mj: float = 9.0

    def __post_init__(self) -> None:
        _checked(vars(self), "reward")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], prefix: str = "reward") -> "Reward":
        """A validated reward from the ``reward`` config group (errors name ``prefix.key``)."""
        return cls(**_checked({name: required(cfg, prefix, name) for name in _FIELDS}, prefix))

    def __call__(self, accuracy: Any, latency_ms: Any, energy_mj: Any) -> np.ndarray:
        """Eq. 2, vectorised over arrays of accuracy (fraction), latency (ms) and energy (mJ)."""
        a = np.asarray(accuracy, dtype=np.float64)
        lat = np.asarray(latency_ms, dtype=np.float64)
        eer = np.asarray(energy_mj, dtype=np.float64)
        return a + self.hardware_terms(lat, eer)

    def hardware_terms(self, latency_ms: Any, energy_mj: Any) -> Any:
        """Eq. 2's hardware terms ``a1 (l/t_lat)^w1 + a2 (e/t_eer)^w2`` of numpy arrays or torch tensors (differentiable)."""
        return (self.alpha1 * (latency_ms / self.t_lat_ms) ** self.omega1
                + self.alpha2 * (energy_mj / self.t_eer_mj) ** self.omega2)  # fmt: skip

    @property
    def constraints(self) -> Constraints:
        """The thresholds as soft constraints (what a run without a ``constraints`` group screens by)."""
        return Constraints(self.t_lat_ms, self.t_eer_mj)

    def feasible(self, latency_ms: Any, energy_mj: Any) -> np.ndarray:
        """Whether designs meet both thresholds (paper §III.A screening)."""
        return self.constraints.feasible(latency_ms, energy_mj)


_FIELDS = ("alpha1", "omega1", "alpha2", "omega2", "t_lat_ms", "t_eer_mj")


def _checked(values: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """The reward values as floats: alphas >= 0, omegas < 0, thresholds > 0."""
    out = {}
    for name in _FIELDS:
        if name.startswith("alpha"):
            out[name] = check_float(f"{prefix}.{name}", values[name], at_least=0.0)
        elif name.startswith("omega"):
            out[name] = check_float(f"{prefix}.{name}", values[name], less_than=0.0)
        else:
            out[name] = check_float(f"{prefix}.{name}", values[name], greater_than=0.0)
    return out
