"""The strategy interfaces of the search engine (docs/strategies.md): sampling and one-shot, and uniform random search.

A strategy proposes candidates (``ask``) and learns from their results (``tell``); it knows
nothing of training or hardware. The engine, the evaluator, the history, logging and resume
are shared, so a new strategy is one class plus one YAML in ``conf/strategy`` whose
``_target_`` names it (Hydra instantiates it with ``space`` and ``seed``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from yoso.config import ConfigError, build, check_int
from yoso.search.constraints import Constraints
from yoso.space.joint import JointSpace


@dataclass(frozen=True)
class Evaluation:
    """Results of a batch of candidates: accuracy (fraction), energy (mJ), latency (ms) and reward (eq. 2).

    ``reward`` is always finite (the evaluator replaces a non-finite one by its floor).
    ``feasible`` says whether each candidate meets the run's thresholds (None: not judged);
    ``val_images`` how many validation images each accuracy was measured on (None: not recorded);
    ``candidates`` the candidates as evaluated where the evaluator changed them (``search.inner_accelerator``: each
    network on its best accelerator), which the history and the strategy then take (None: as asked).
    """

    accuracy: np.ndarray
    energy_mj: np.ndarray
    latency_ms: np.ndarray
    reward: np.ndarray
    feasible: np.ndarray | None = None
    val_images: np.ndarray | None = None
    candidates: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.reward)

    def __getitem__(self, index: Any) -> Evaluation:
        feasible = None if self.feasible is None else self.feasible[index]
        images = None if self.val_images is None else self.val_images[index]
        candidates = None if self.candidates is None else self.candidates[index]
        return Evaluation(
            self.accuracy[index],
            self.energy_mj[index],
            self.latency_ms[index],
            self.reward[index],
            feasible,
            images,
            candidates,
        )


@runtime_checkable
class RunResources(Protocol):
    """What a strategy may take from the run in :meth:`BaseStrategy.prepare` (the app's ``yoso.app.run.Run``).

    The strategy names what it needs; the run builds it once, from its config: the reward, the HyperNet, a cost
    model by name (``"mlp"``, ...), the reference cost, the DataModule and a Trainer factory logging to the run.
    """

    @property
    def seed(self) -> int: ...

    @property
    def reward(self) -> Any: ...

    def hypernet(self) -> Any: ...

    def cost_model(self, kind: str | None = None, **options: Any) -> Any: ...

    def reference_cost(self) -> Any: ...

    def datamodule(self) -> Any: ...

    def trainer(self, epochs: int, callbacks: Sequence[Any] = (), **overrides: Any) -> Any: ...


class BaseStrategy(ABC):
    """What every strategy shares with the engine: name, space, seed, constraints and a resumable state.

    ``constraints`` (set by :func:`build_strategy`) holds the run's thresholds; when they are
    hard, the strategy must steer away from infeasible designs, not only rank them by reward.
    ``state_dict`` holds everything needed to continue exactly where the strategy stopped (RNG
    state included); the engine (:class:`yoso.search.engine.Experiment`) stores it in its checkpoint.
    """

    name: str = "strategy"
    constraints: Constraints | None = None
    #: History columns the strategy records beyond the shared ones (e.g. the simulated cost of an export).
    history_columns: tuple[str, ...] = ()

    def __init__(self, space: JointSpace, seed: int = 0):
        self.space = space
        self.seed = check_int("seed", seed, 0, 2**32 - 1)

    def seed_sequence(self) -> np.random.SeedSequence:
        """The strategy's own random stream of the run's seed (apart from the HyperNet's)."""
        return np.random.SeedSequence(self.seed, spawn_key=(STRATEGY_RNG_KEY,))

    @property
    def hard_constraints(self) -> bool:
        return self.constraints is not None and self.constraints.hard

    def prepare(self, run: RunResources) -> None:  # noqa: B027 (a hook: a sampling strategy needs nothing)
        """Called once by the pipeline before the search: take what the strategy trains or measures from ``run``
        (a one-shot strategy: its HyperNet, cost model and Trainer factory). A sampling strategy needs nothing:
        the engine hands it evaluations."""

    def bind(self, run_dir: Path | None) -> None:  # noqa: B027 (a hook: by default there is nothing to open)
        """Called once by the engine before it resumes: strategies that keep files (e.g. an Optuna journal) open them here."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume; plain containers, numpy arrays or tensors."""

    @abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`."""


class Strategy(BaseStrategy):
    """A sampling strategy: proposes candidates of a joint space (``ask``) and learns from their evaluations (``tell``).

    ``batch_size`` is how many candidates the engine asks for per step.
    """

    batch_size: int = 1

    def score(self, results: Evaluation) -> np.ndarray:
        """What the strategy maximises: the reward; with hard constraints the feasible-first score, with a
        soft ``constraints.penalty`` the reward minus the penalised violation."""
        if self.constraints is None:
            return np.asarray(results.reward, dtype=np.float64)
        return self.constraints.score(results.reward, results.latency_ms, results.energy_mj)

    @abstractmethod
    def ask(self, n: int) -> np.ndarray:
        """``n`` candidates as an ``(n, D)`` int64 array of decisions."""

    def tell(self, candidates: np.ndarray, results: Evaluation) -> None:
        """Learn from the results of candidates previously asked for (default: nothing to learn)."""

    def metrics(self) -> dict[str, float]:
        """Scalars describing the strategy's state, logged per step (e.g. entropy, baseline)."""
        return {}


class RandomStrategy(Strategy):
    """Uniform random search over the joint space (paper Fig. 4(a) baseline; eq. 6 per decision)."""

    name = "random"

    def __init__(self, space: JointSpace, seed: int = 0, samples_per_step: int = 1):
        super().__init__(space, seed)
        self.batch_size = check_int("strategy.samples_per_step", samples_per_step, 1)
        self.rng = np.random.default_rng(self.seed_sequence())

    def ask(self, n: int) -> np.ndarray:
        return self.space.sample(n, self.rng)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


class OneShotStrategy(BaseStrategy):
    """A strategy that trains a relaxed design instead of sampling candidates (NNI's one-shot shape).

    It runs its own step loop in :meth:`search` (e.g. a LightningModule trained epoch by epoch),
    appends one exported candidate per step to ``experiment.history`` and lets the engine commit
    its checkpoint after each step (``experiment.commit_callback()``); ``exports`` is how many
    candidates a whole search exports.
    """

    name: str = "one-shot"

    @property
    @abstractmethod
    def exports(self) -> int:
        """Candidates a whole search exports (one per step)."""

    @abstractmethod
    def search(self, experiment: Any) -> None:
        """Run (or resume, from ``experiment.resume_path``) the search of ``experiment`` (a :class:`yoso.search.engine.Experiment`)."""


#: SeedSequence spawn key of strategy RNGs (the HyperNet uses 0 and 1 for its paths).
STRATEGY_RNG_KEY = 2


def build_strategy(
    node: Mapping[str, Any], space: JointSpace, seed: int, constraints: Constraints | None = None
) -> BaseStrategy:
    """The strategy a ``strategy`` node (plain data, resolved) names by ``_target_`` (``name`` is only its label),
    built by Hydra."""
    node = {k: v for k, v in node.items() if k != "name"}
    strategy = build(node, "strategy", space=space, seed=seed)
    if not isinstance(strategy, BaseStrategy):
        raise ConfigError(
            "strategy._target_", node.get("_target_"), "a subclass of yoso.search.strategy.Strategy or OneShotStrategy"
        )
    strategy.constraints = constraints
    return strategy
