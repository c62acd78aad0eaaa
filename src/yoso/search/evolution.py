"""Regularized (aging) evolution over the joint space (Real et al. 2019; NAAS searches its accelerator this way).

The population is the last ``population_size`` evaluated candidates. A child copies the best
of ``sample_size`` members drawn at random (tournament selection) and changes one decision:
an accelerator decision with probability ``accel_mutation_prob``, else a DNN decision, always
to a different choice. The oldest member dies when a child joins, so a lucky candidate cannot
dominate forever. Fitness is :meth:`Strategy.score`: the reward, or with hard constraints the
feasible-first score, so an infeasible parent only wins a tournament of infeasible ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from yoso.config import check_float, check_int
from yoso.search.strategy import Evaluation, Strategy
from yoso.space.joint import JointSpace


class EvolutionStrategy(Strategy):
    """Aging evolution with tournament selection and one-decision mutations."""

    name = "evolution"

    def __init__(
        self,
        space: JointSpace,
        seed: int = 0,
        population_size: int = 50,
        sample_size: int = 10,
        accel_mutation_prob: float = 0.25,
        samples_per_step: int = 1,
    ):
        super().__init__(space, seed)
        self.population_size = check_int("strategy.population_size", population_size, 2)
        self.sample_size = check_int("strategy.sample_size", sample_size, 1, self.population_size)
        self.accel_mutation_prob = check_float(
            "strategy.accel_mutation_prob", accel_mutation_prob, at_least=0.0, at_most=1.0
        )
        self.batch_size = check_int("strategy.samples_per_step", samples_per_step, 1)
        self.rng = np.random.default_rng(self.seed_sequence())
        self.population = np.zeros((0, len(space)), dtype=np.int64)  # oldest first
        self.fitness = np.zeros(0)
        # decisions that can mutate (a one-choice decision cannot), split by kind
        mutable = np.flatnonzero(space.vocab_sizes > 1)
        self._dnn = mutable[mutable < space.num_dnn_decisions]
        self._accel = mutable[mutable >= space.num_dnn_decisions]

    def ask(self, n: int) -> np.ndarray:
        """Random candidates until the first population is full, then mutated tournament winners."""
        if len(self.population) < self.population_size:
            return self.space.sample(n, self.rng)
        return np.stack([self.mutate(self.population[self._tournament()]) for _ in range(n)])

    def _tournament(self) -> int:
        """Index of the fittest of ``sample_size`` members drawn without replacement (the oldest wins ties)."""
        entrants = np.sort(self.rng.choice(len(self.population), size=self.sample_size, replace=False))
        return int(entrants[np.argmax(self.fitness[entrants])])

    def mutate(self, parent: np.ndarray) -> np.ndarray:
        """A copy of ``parent`` with one DNN or accelerator decision moved to another of its choices."""
        use_accel = len(self._accel) and (not len(self._dnn) or self.rng.random() < self.accel_mutation_prob)
        pool = self._accel if use_accel else self._dnn
        child = parent.copy()
        j = int(self.rng.choice(pool))
        child[j] = (child[j] + self.rng.integers(1, self.space.vocab_sizes[j])) % self.space.vocab_sizes[j]
        return child

    def tell(self, candidates: np.ndarray, results: Evaluation) -> None:
        """The children join the population; the oldest members beyond ``population_size`` die."""
        self.population = np.concatenate([self.population, np.asarray(candidates, dtype=np.int64)])[
            -self.population_size :
        ]
        self.fitness = np.concatenate([self.fitness, self.score(results)])[-self.population_size :]

    def metrics(self) -> dict[str, float]:
        return {"evolution/population_best": float(self.fitness.max())} if len(self.fitness) else {}

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": self.rng.bit_generator.state,
            "population": self.population.copy(),
            "fitness": self.fitness.copy(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.population = np.asarray(state["population"], dtype=np.int64).reshape(-1, len(self.space))
        self.fitness = np.asarray(state["fitness"], dtype=np.float64)
