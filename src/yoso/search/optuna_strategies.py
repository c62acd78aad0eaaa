"""Optuna samplers (TPE, NSGA-II, CMA-ES) as search strategies, driven through Optuna's ask-and-tell API.

Design:

* **Ask and tell.** The engine owns evaluation, so each strategy only asks ``study.ask(distributions)``
  for a trial per candidate and later ``study.tell``\\ s it; Optuna never runs an objective itself.
  The 44 decisions are 44 Optuna parameters named ``space.names[j]``, built from
  :class:`~yoso.space.joint.JointSpace` alone: categorical ones (TPE, NSGA-II) whose choices are
  the decision's choices as Optuna-storable values (a PE-array tuple becomes ``"(8, 8)"``), so
  the optuna-dashboard reads like the history; integer indices for CMA-ES, which needs ordered
  numbers (on categoricals it would fall back to independent random sampling).
* **Objectives.** TPE and CMA-ES maximise :meth:`Strategy.score` (the reward, or with hard
  constraints the feasible-first score); NSGA-II optimises accuracy (max), energy and latency
  (min), so its study holds a Pareto front rather than a scalar reward. A non-finite objective
  is told as a FAILed trial.
* **Constraints.** With hard constraints every trial gets ``trial.set_constraint`` for each of
  :data:`~yoso.search.constraints.CONSTRAINT_NAMES` before it is told (Optuna 5's API); TPE and
  NSGA-II use them natively. CMA-ES ignores them (its objective is already feasible-first), but
  they are still set so the dashboard shows them. Soft constraints set none.
* **Storage and resume.** With a run directory the study lives in Optuna's own durable storage,
  a :class:`~optuna.storages.JournalStorage` on ``<run_dir>/optuna.journal`` (an append-only log;
  ``optuna-dashboard <run_dir>/optuna.journal`` shows the search live); without one, in memory.
  The state in the engine's checkpoint is plain data: the number of trials told (``committed``);
  in memory also the told trials as plain dicts (:func:`trial_to_plain`), since no file keeps
  them. No sampler is pickled (that broke when Optuna 5.1's NSGA-II took a thread lock, and
  loading one runs code): a resume builds the sampler from the config and seed as a fresh run
  does, and it learns the rest from the study's trials, as Optuna's samplers do.
* **Random streams.** Before each new trial the sampler's random generators are reseeded from
  the run's seed and the trial number (:func:`reseed_sampler`), so trial *i* draws the same
  numbers whether the run was interrupted or not, and wherever the kill fell: no generator
  state needs saving, not even for the trials a kill left in the journal beyond the checkpoint
  (re-served as they are, while the next new trial draws its own numbers).
* **The journal runs ahead of the checkpoint:** a kill can leave trials beyond ``committed`` in
  it (asked, or told before the checkpoint was written). After a resume ``ask`` re-serves their
  parameters first, in trial order (a RUNNING trial is told later, a finished one never again;
  one whose ask the kill cut short gets the rest of its params from a replay of that ask), and
  only then asks for new trials. A run killed
  before its first checkpoint starts over (as the engine does), so the journal's study is
  deleted and created again. So history iteration ``i`` is always trial ``i``, with no
  duplicate or orphaned trial in the study.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, overload

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    IntDistribution,
    distribution_to_json,
    json_to_distribution,
)
from optuna.samplers import BaseSampler, CmaEsSampler, NSGAIISampler, TPESampler
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, Trial, TrialState

from yoso.config import check_bool, check_float, check_int
from yoso.search.constraints import CONSTRAINT_NAMES
from yoso.search.strategy import Evaluation, Strategy
from yoso.space.joint import JointSpace

#: Name of the study inside the journal.
STUDY_NAME = "yoso"
#: File name of the study's journal inside the run directory.
JOURNAL_NAME = "optuna.journal"
#: Parameter kinds: Optuna categoricals of the decision's choices, or integer choice indices.
PARAM_KINDS = ("categorical", "int")
#: An Optuna study direction.
Direction = Literal["minimize", "maximize"]


def storable_choice(choice: Any) -> Any:
    """``choice`` as a value Optuna can store (None, bool, int, float, str stay; anything else becomes ``str``)."""
    if choice is None or isinstance(choice, (bool, int, float, str)):
        return choice
    if isinstance(choice, np.generic):
        return choice.item()
    return str(choice)


def optuna_distributions(space: JointSpace, kind: str = "categorical") -> dict[str, BaseDistribution]:
    """One Optuna distribution per decision, named ``space.names[j]``, in decision order."""
    if kind not in PARAM_KINDS:
        raise ValueError(f"parameter kind {kind!r}: allowed {list(PARAM_KINDS)}")
    out: dict[str, BaseDistribution] = {}
    for decision in space.decisions:
        if kind == "int":
            out[decision.name] = IntDistribution(0, decision.vocab - 1)
            continue
        choices = tuple(storable_choice(c) for c in decision.choices)
        if len(set(choices)) != len(choices):
            raise ValueError(f"decision {decision.name}: choices {decision.choices} are not unique as Optuna values")
        out[decision.name] = CategoricalDistribution(choices)
    return out


def journal_storage(path: Path) -> optuna.storages.JournalStorage:
    """Optuna's journal storage on an append-only file (every operation flushed and fsynced: it survives a kill)."""
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def sampler_random_states(sampler: BaseSampler) -> list[np.random.RandomState]:
    """Every numpy ``RandomState`` an Optuna sampler draws from, each once, in a fixed order.

    Optuna's samplers keep their generators as lazily built ``RandomState``\\ s (an object with an
    ``rng`` property), also inside their helpers (NSGA-II's child generation shares its sampler's);
    the walk finds them by that shape among the sampler's Optuna-owned attributes, in attribute
    name order, so two samplers built from the same config list them alike.
    """
    found: list[np.random.RandomState] = []
    seen: set[int] = set()

    def walk(obj: Any) -> None:
        for _, value in sorted(vars(obj).items()):
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, np.random.RandomState):
                found.append(value)
            elif isinstance(getattr(type(value), "rng", None), property):
                found.append(value.rng)
            elif type(value).__module__.startswith("optuna.") and hasattr(value, "__dict__"):
                walk(value)

    walk(sampler)
    return found


def reseed_sampler(sampler: BaseSampler, seed: int, trial_number: int) -> None:
    """Reseed each of the sampler's generators from ``(seed, trial_number)``: trial ``trial_number``'s own numbers."""
    generators = sampler_random_states(sampler)
    if not generators:
        raise RuntimeError(
            f"{type(sampler).__name__} of Optuna {optuna.__version__} shows no random generator to "
            "seed per trial; yoso's Optuna strategies need one (see optuna_strategies.py)"
        )
    states = np.random.SeedSequence(seed, spawn_key=(trial_number,)).generate_state(len(generators))
    for generator, state in zip(generators, states):
        generator.seed(int(state))


def trial_to_plain(trial: FrozenTrial) -> dict[str, Any]:
    """A finished trial as plain data (distributions as Optuna's JSON), for a checkpoint; :func:`plain_to_trial` inverts it."""
    return {
        "state": trial.state.name,
        "values": trial.values,
        "params": dict(trial.params),
        "distributions": {k: distribution_to_json(d) for k, d in trial.distributions.items()},
        "user_attrs": dict(trial.user_attrs),
        "system_attrs": dict(trial.system_attrs),
    }


def plain_to_trial(plain: Mapping[str, Any]) -> FrozenTrial:
    """The trial of a :func:`trial_to_plain` dict (Optuna's public ``create_trial``)."""
    return optuna.trial.create_trial(
        state=TrialState[plain["state"]],
        values=plain["values"],
        params=dict(plain["params"]),
        distributions={k: json_to_distribution(d) for k, d in plain["distributions"].items()},
        user_attrs=dict(plain["user_attrs"]),
        system_attrs=dict(plain["system_attrs"]),
    )


@contextmanager
def _quiet() -> Iterator[None]:
    """Hide the Optuna warnings this module expects (experimental features, CMA-ES ignoring constraints)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Constraints have been set, but CmaEsSampler", category=UserWarning)
        yield


@overload
def _check_prob(key: str, value: Any, optional: Literal[False] = False) -> float: ...


@overload
def _check_prob(key: str, value: Any, optional: bool) -> float | None: ...


def _check_prob(key: str, value: Any, optional: bool = False) -> float | None:
    """A probability in [0, 1] (or None when ``optional``)."""
    if value is None and optional:
        return None
    return check_float(key, value, at_least=0.0, at_most=1.0)


@dataclass
class _Served:
    """A candidate handed out by ``ask`` and not yet told: its trial and whether it still needs a ``tell``."""

    number: int
    trial: Trial | None  # None: the trial is already finished (re-served after a resume), do not tell it again
    row: np.ndarray


class OptunaStrategy(Strategy):
    """An Optuna sampler behind the :class:`Strategy` interface (subclasses choose sampler, params and objectives)."""

    name = "optuna"
    #: Parameter kind of the 44 decisions (one of :data:`PARAM_KINDS`).
    param_kind: str = "categorical"
    #: Study directions of the values :meth:`objectives` returns.
    directions: tuple[Direction, ...] = ("maximize",)

    def __init__(self, space: JointSpace, seed: int = 0, samples_per_step: int = 1):
        super().__init__(space, seed)
        self.batch_size = check_int("strategy.samples_per_step", samples_per_step, 1)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._distributions = optuna_distributions(space, self.param_kind)
        if self.param_kind == "categorical":
            categoricals = [cast(CategoricalDistribution, d) for d in self._distributions.values()]
            self._index = [{c: i for i, c in enumerate(d.choices)} for d in categoricals]
        self._sampler_seed = int(self.seed_sequence().generate_state(1)[0])
        with _quiet():
            self._sampler = self.make_sampler(self._sampler_seed)
        self.study: optuna.Study | None = None
        self._durable = False  # whether the study lives in a journal file (else in memory)
        self._loaded = False  # whether a checkpoint's state was loaded (else trials in the journal are discarded)
        self.committed = 0  # trials told (or re-served and already finished): trial numbers [0, committed)
        self._next = 0  # trial number the next ask serves
        self._served: list[_Served] = []
        self._backlog: list[FrozenTrial] | None = None  # trials beyond ``committed`` still to re-serve

    # ----------------------------------------------------------------- subclass hooks

    def make_sampler(self, seed: int) -> BaseSampler:
        """The Optuna sampler, seeded from the run's seed."""
        raise NotImplementedError

    def objectives(self, results: Evaluation) -> np.ndarray:
        """``(n, len(directions))`` values to tell: by default the score :meth:`Strategy.score` maximises."""
        return self.score(results)[:, None]

    # ----------------------------------------------------------------- study

    def distributions(self) -> dict[str, BaseDistribution]:
        """``{decision name: Optuna distribution}`` of the 44 decisions, in decision order."""
        return dict(self._distributions)

    def bind(self, run_dir: Path | None) -> None:
        """Open the study: on ``<run_dir>/optuna.journal`` (its trials kept) if given, else in memory."""
        self._durable = run_dir is not None
        if run_dir is None:
            storage: optuna.storages.BaseStorage = optuna.storages.InMemoryStorage()
        else:
            path = Path(run_dir).resolve()
            path.mkdir(parents=True, exist_ok=True)
            storage = journal_storage(path / JOURNAL_NAME)
        self.study = self._create(storage)
        self._next, self._served, self._backlog = self.committed, [], None

    def _create(self, storage: optuna.storages.BaseStorage) -> optuna.Study:
        with _quiet():
            return optuna.create_study(
                storage=storage,
                sampler=self._sampler,
                study_name=STUDY_NAME,
                directions=list(self.directions),
                load_if_exists=True,
            )

    def _start_over(self) -> optuna.Study:
        """Delete and create again the journal's study (a run with no checkpoint begins again from trial 0)."""
        assert self.study is not None  # bound (the engine calls bind first)
        storage = self.study._storage
        optuna.delete_study(study_name=STUDY_NAME, storage=storage)
        self.study = self._create(storage)
        return self.study

    def _study(self) -> optuna.Study:
        if self.study is None:
            self.bind(None)
        assert self.study is not None  # bind opened it
        return self.study

    def _row(self, params: Mapping[str, Any]) -> np.ndarray:
        """The decision indices of a trial's params."""
        if self.param_kind == "int":
            return np.array([params[name] for name in self.space.names], dtype=np.int64)
        return np.array([index[params[name]] for index, name in zip(self._index, self.space.names)], dtype=np.int64)

    def _reserve(self, frozen: FrozenTrial) -> _Served:
        """Serve again a trial a kill left beyond the checkpoint: RUNNING ones are told later, finished ones never.

        A RUNNING trial whose ask the kill cut short (some params not yet in the journal) first gets
        the rest of the params its ask would have drawn, and the sampler's notes on it (:meth:`_replayed`).
        """
        study = self._study()
        if frozen.state == TrialState.RUNNING:
            missing = [name for name in self._distributions if name not in frozen.params]
            if missing:  # the storage's own calls, as Trial.suggest_* and the sampler make them
                replayed = self._replayed(frozen.number)
                for name in missing:
                    dist = self._distributions[name]
                    value = dist.to_internal_repr(replayed.params[name])
                    study._storage.set_trial_param(frozen._trial_id, name, value, dist)
                for key, value in replayed.system_attrs.items():  # what the sampler notes of it (NSGA-II: generation)
                    if key not in frozen.system_attrs:
                        study._storage.set_trial_system_attr(frozen._trial_id, key, value)
            trial = Trial(study, frozen._trial_id)
            return _Served(frozen.number, trial, self._row(trial.params))
        if frozen.state not in (TrialState.COMPLETE, TrialState.FAIL) or set(frozen.params) != set(self._distributions):
            raise ValueError(
                f"{STUDY_NAME} trial {frozen.number} is {frozen.state.name} with params "
                f"{sorted(frozen.params)}: not a trial this strategy made"
            )
        return _Served(frozen.number, None, self._row(frozen.params))

    def _replayed(self, number: int) -> FrozenTrial:
        """Trial ``number`` as its ask makes it (params, the sampler's notes on it), so a trial a kill cut short ends as
        it would have: the ask replayed on an in-memory copy of the study's earlier trials and system attributes
        (NSGA-II's parent populations), by a sampler built and seeded as for that trial."""
        study = self._study()
        with _quiet():
            replay = optuna.create_study(
                sampler=self.make_sampler(self._sampler_seed), directions=list(self.directions)
            )
            for key, value in study._storage.get_study_system_attrs(study._study_id).items():
                replay._storage.set_study_system_attr(replay._study_id, key, value)
            replay.add_trials(study.get_trials(deepcopy=True)[:number])
            reseed_sampler(replay.sampler, self._sampler_seed, number)
            trial = replay.ask(self._distributions)
        return replay.get_trials(deepcopy=False)[trial.number]

    def ask(self, n: int) -> np.ndarray:
        study = self._study()
        if self._backlog is None and not self._loaded and self._durable and study.get_trials(deepcopy=False):
            study = self._start_over()  # killed before the first checkpoint: the engine starts over, so does the study
        if self._backlog is None:  # first ask since bind/resume: trials a kill left beyond the checkpoint
            trials = study.get_trials(deepcopy=False)
            if len(trials) < self.committed:
                raise ValueError(
                    f"the Optuna study holds {len(trials)} trials, the checkpoint has told "
                    f"{self.committed}: was {JOURNAL_NAME} removed or replaced?"
                )
            self._backlog = list(trials[self.committed :])
        rows = []
        with _quiet():
            for _ in range(int(n)):
                if self._backlog:
                    served = self._reserve(self._backlog.pop(0))
                else:
                    reseed_sampler(study.sampler, self._sampler_seed, self._next)
                    trial = study.ask(self._distributions)
                    served = _Served(trial.number, trial, self._row(trial.params))
                if served.number != self._next:
                    raise ValueError(f"expected trial {self._next}, the study made trial {served.number}")
                self._next += 1
                self._served.append(served)
                rows.append(served.row)
        return np.stack(rows) if rows else np.zeros((0, len(self.space)), dtype=np.int64)

    def tell(self, candidates: np.ndarray, results: Evaluation) -> None:
        candidates = np.asarray(candidates)
        if len(candidates) > len(self._served):
            raise ValueError(f"told {len(candidates)} candidates, only {len(self._served)} were asked for")
        served, self._served = self._served[: len(candidates)], self._served[len(candidates) :]
        if not all(np.array_equal(s.row, c) for s, c in zip(served, candidates)):
            raise ValueError("told candidates differ from those asked for, in order")
        values = np.asarray(self.objectives(results), dtype=np.float64)
        constraints = self.constraints if self.hard_constraints else None  # hard ones only (then never None)
        limits = None if constraints is None else constraints.values(results.latency_ms, results.energy_mj)
        study = self._study()
        with _quiet():
            for i, s in enumerate(served):
                if s.trial is not None:
                    if limits is not None:
                        for name, value in zip(CONSTRAINT_NAMES, limits[i]):
                            s.trial.set_constraint(name, float(value))
                    if np.all(np.isfinite(values[i])):
                        study.tell(s.trial, [float(v) for v in values[i]])
                    else:
                        study.tell(s.trial, state=TrialState.FAIL)
                self.committed = s.number + 1

    # ----------------------------------------------------------------- state

    def metrics(self) -> dict[str, float]:
        return {"optuna/trials": float(self.committed)}

    def state_dict(self) -> dict[str, Any]:
        """Trials told; in memory also the trials as plain dicts, since no file keeps them."""
        state: dict[str, Any] = {"committed": self.committed}
        if not self._durable:
            state["trials"] = [trial_to_plain(t) for t in self._study().get_trials(deepcopy=False)[: self.committed]]
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        study = self._study()
        self._loaded = True
        self.committed = int(state["committed"])
        if "trials" in state and not study.get_trials(deepcopy=False):
            study.add_trials([plain_to_trial(t) for t in state["trials"]])
        self._next, self._served, self._backlog = self.committed, [], None


class TPEStrategy(OptunaStrategy):
    """Tree-structured Parzen estimator (Optuna's TPESampler, multivariate by default) maximising the score."""

    name = "tpe"

    def __init__(
        self,
        space: JointSpace,
        seed: int = 0,
        samples_per_step: int = 1,
        n_startup_trials: int = 20,
        n_ei_candidates: int = 24,
        multivariate: bool = True,
    ):
        self.n_startup_trials = check_int("strategy.n_startup_trials", n_startup_trials, 0)
        self.n_ei_candidates = check_int("strategy.n_ei_candidates", n_ei_candidates, 1)
        self.multivariate = check_bool("strategy.multivariate", multivariate)
        super().__init__(space, seed, samples_per_step)

    def make_sampler(self, seed: int) -> BaseSampler:
        return TPESampler(
            n_startup_trials=self.n_startup_trials,
            n_ei_candidates=self.n_ei_candidates,
            multivariate=self.multivariate,
            seed=seed,
        )


class NSGA2Strategy(OptunaStrategy):
    """NSGA-II on three objectives (accuracy max, energy and latency min): a Pareto front, not a scalar reward."""

    name = "nsga2"
    directions = ("maximize", "minimize", "minimize")

    def __init__(
        self,
        space: JointSpace,
        seed: int = 0,
        samples_per_step: int = 1,
        population_size: int = 20,
        mutation_prob: float | None = None,
        crossover_prob: float = 0.9,
        swapping_prob: float = 0.5,
    ):
        self.population_size = check_int("strategy.population_size", population_size, 2)
        self.mutation_prob = _check_prob("strategy.mutation_prob", mutation_prob, optional=True)
        self.crossover_prob = _check_prob("strategy.crossover_prob", crossover_prob)
        self.swapping_prob = _check_prob("strategy.swapping_prob", swapping_prob)
        super().__init__(space, seed, samples_per_step)

    def make_sampler(self, seed: int) -> BaseSampler:
        return NSGAIISampler(
            population_size=self.population_size,
            mutation_prob=self.mutation_prob,
            crossover_prob=self.crossover_prob,
            swapping_prob=self.swapping_prob,
            seed=seed,
        )

    def objectives(self, results: Evaluation) -> np.ndarray:
        return np.stack(
            [
                np.asarray(results.accuracy, dtype=np.float64),
                np.asarray(results.energy_mj, dtype=np.float64),
                np.asarray(results.latency_ms, dtype=np.float64),
            ],
            axis=1,
        )


class CmaEsStrategy(OptunaStrategy):
    """CMA-ES over the decisions' choice indices (ordered integers) maximising the (feasible-first) score."""

    name = "cmaes"
    param_kind = "int"

    def __init__(
        self,
        space: JointSpace,
        seed: int = 0,
        samples_per_step: int = 1,
        n_startup_trials: int = 10,
        sigma0: float | None = None,
        popsize: int | None = None,
    ):
        self.n_startup_trials = check_int("strategy.n_startup_trials", n_startup_trials, 0)
        self.sigma0 = None if sigma0 is None else check_float("strategy.sigma0", sigma0, greater_than=0.0)
        self.popsize = None if popsize is None else check_int("strategy.popsize", popsize, 2)
        super().__init__(space, seed, samples_per_step)

    def make_sampler(self, seed: int) -> BaseSampler:
        return CmaEsSampler(n_startup_trials=self.n_startup_trials, sigma0=self.sigma0, popsize=self.popsize, seed=seed)
