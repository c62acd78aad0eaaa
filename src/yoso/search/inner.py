"""NAAS's outer/inner split (``search.inner_accelerator``): each sampled network on its best accelerator of the space.

The strategy searches the networks; every network it samples gets the accelerator of the run's space with the
largest hardware terms of the reward (eq. 2 is accuracy plus them, negative exponents making a cheaper design earn
more, so for a fixed network that accelerator maximises the reward), feasible ones first, found by costing all of
them under the reference cost (a sweep: :mod:`yoso.hw.sweep`, milliseconds per network once its layer shapes are
known). The candidate is then evaluated with the figures that sweep gave it (:meth:`InnerAccelerator.figures`),
recorded and told to the strategy with that accelerator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from yoso.search.constraints import Constraints
from yoso.search.reward import Reward
from yoso.space.genotype import Genotype
from yoso.space.joint import JointSpace

#: ``designs -> (energy_mj, latency_ms)`` of (genotype, accelerator) pairs: the reference cost's ``evaluate_designs``.
DesignsCost = Callable[[Sequence[tuple[Any, Any]]], tuple[np.ndarray, np.ndarray]]


class InnerAccelerator:
    """``designer(vectors) -> vectors``: each candidate's accelerator decisions replaced by its network's best
    accelerator (the largest hardware terms of ``reward`` among those ``constraints`` accept; among all if none is)."""

    def __init__(self, space: JointSpace, cost: DesignsCost, reward: Reward, constraints: Constraints):
        self.space, self.cost, self.reward, self.constraints = space, cost, reward, constraints
        self.accelerators = space.accelerators.all()
        self.indices = np.array([space.accelerators.indices(a) for a in self.accelerators], dtype=np.int64)
        self._best: dict[Genotype, tuple[int, float, float]] = {}  # network -> (accelerator, energy, latency)

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        vectors = self.space.check(vectors).copy()
        first = self.space.num_dnn_decisions
        for row, (genotype, _) in zip(vectors, self.space.decode_many(vectors)):
            row[first:] = self.indices[self.best(genotype)]
        return vectors

    def figures(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(energy_mj, latency_ms)`` of each candidate's network on its best accelerator, as the sweep costed it
        (the hardware function of the designed candidates: no second costing)."""
        networks = [genotype for genotype, _ in self.space.decode_many(self.space.check(vectors))]
        for genotype in networks:
            self.best(genotype)
        energy, latency = (np.array([self._best[g][k] for g in networks]) for k in (1, 2))
        return energy, latency

    def best(self, genotype: Genotype) -> int:
        """The position of ``genotype``'s best accelerator in :attr:`accelerators` (each network costed once)."""
        if genotype not in self._best:
            energy, latency = self.cost([(genotype, a) for a in self.accelerators])
            with np.errstate(all="ignore"):
                score = np.asarray(self.reward.hardware_terms(latency, energy), dtype=np.float64)
            score = np.where(np.isfinite(score), score, -np.inf)
            feasible = np.asarray(self.constraints.feasible(latency, energy), dtype=bool)
            i = int(np.argmax(np.where(feasible, score, -np.inf) if feasible.any() else score))
            self._best[genotype] = (i, float(energy[i]), float(latency[i]))
        return self._best[genotype][0]
