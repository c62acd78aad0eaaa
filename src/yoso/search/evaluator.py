"""The candidate evaluator of the search (docs/architecture.md §3): accuracy, energy, latency and reward of a batch.

Accuracy comes from any ``vectors -> accuracy`` callable (the HyperNet's sub-network
evaluator, cached by genotype), energy and latency from any ``vectors -> (energy_mj,
latency_ms)`` callable (the GP predictor or the simulator), the reward from eq. 2 and
feasibility from the run's constraints. A non-finite figure never reaches a strategy: its
reward becomes ``reward_floor`` and it is infeasible.

Racing: given a ``race`` function ``(vectors, accuracy needed) -> (accuracy, images)`` and the
rewards so far, a candidate's accuracy is finished on the whole validation split only if its
reward could still enter the top ``race_top`` of them (eq. 2 is linear in accuracy, so the
accuracy it needs is that reward minus its hardware terms); the others keep their first-look
estimate. The top ``race_top`` rewards of a history are always whole-split measurements.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from yoso.search.constraints import Constraints
from yoso.search.reward import Reward
from yoso.search.strategy import Evaluation

log = logging.getLogger("yoso")

AccuracyFn = Callable[[np.ndarray], np.ndarray]
RaceFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
HardwareFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
DesignFn = Callable[[np.ndarray], np.ndarray]


class CandidateEvaluator:
    """``(n, D)`` candidates -> :class:`Evaluation`; the evaluator knows nothing of the strategy."""

    def __init__(
        self,
        accuracy: AccuracyFn,
        hardware: HardwareFn,
        reward: Reward,
        reward_floor: float = 0.0,
        constraints: Constraints | None = None,
        race: RaceFn | None = None,
        race_top: int = 10,
        designer: DesignFn | None = None,
    ):
        self.accuracy, self.hardware, self.reward = accuracy, hardware, reward
        self.designer = designer  # candidates -> candidates as evaluated (each network's best accelerator)
        self.reward_floor = float(reward_floor)  # below every valid reward: eq. 2's terms are all >= 0
        self.constraints = constraints or reward.constraints
        self.race, self.race_top = race, int(race_top)

    def __call__(self, candidates: Any, previous_rewards: np.ndarray | None = None) -> Evaluation:
        """Evaluate ``candidates``; with ``previous_rewards`` (the history's) and a race function, race them."""
        vectors = np.atleast_2d(np.asarray(candidates, dtype=np.int64))
        if self.designer is not None:
            vectors = self.designer(vectors)
        energy, latency = (np.asarray(v, dtype=np.float64) for v in self.hardware(vectors))
        images = None
        if self.race is not None:
            with np.errstate(all="ignore"):
                needed = self.entry_reward(previous_rewards) - self.reward.hardware_terms(latency, energy)
            accuracy, images = self.race(vectors, np.nan_to_num(np.asarray(needed, float), nan=-np.inf))
            accuracy = np.asarray(accuracy, dtype=np.float64)
        else:
            accuracy = np.asarray(self.accuracy(vectors), dtype=np.float64)
        with np.errstate(all="ignore"):
            reward = self.reward(accuracy, latency, energy)
        finite = np.isfinite(reward) & np.isfinite(accuracy) & np.isfinite(energy) & np.isfinite(latency)
        bad = ~(finite & (energy > 0) & (latency > 0))
        if bad.any():
            log.warning(
                "%d candidate(s) with a non-finite or non-positive figure get reward %g: %s",
                int(bad.sum()),
                self.reward_floor,
                vectors[bad][:3].tolist(),
            )
            reward = np.where(bad, self.reward_floor, reward)
        feasible = self.constraints.feasible(latency, energy) & ~bad
        designed = vectors if self.designer is not None else None
        return Evaluation(accuracy, energy, latency, reward, feasible, images, designed)

    def entry_reward(self, previous_rewards: np.ndarray | None) -> float:
        """The reward a candidate must beat to enter the top ``race_top`` of ``previous_rewards`` (-inf: any)."""
        if previous_rewards is None or len(previous_rewards) < self.race_top:
            return -np.inf
        return float(np.partition(np.asarray(previous_rewards, dtype=float), -self.race_top)[-self.race_top])
