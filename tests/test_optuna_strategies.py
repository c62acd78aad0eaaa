"""Optuna strategies (TPE, NSGA-II, CMA-ES): parameters, ask/tell, constraints, journal storage and resume after a kill."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from helpers import REWARD, STRATEGY_CLASSES, compose_config, fake_accuracy, fake_hardware, plain
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import TrialState

from yoso.config import ConfigError, build
from yoso.search.constraints import CONSTRAINT_NAMES, Constraints
from yoso.search.engine import Experiment
from yoso.search.evaluator import CandidateEvaluator
from yoso.search.history import History
from yoso.search.optuna_strategies import (
    JOURNAL_NAME,
    CmaEsStrategy,
    NSGA2Strategy,
    OptunaStrategy,
    TPEStrategy,
    journal_storage,
    optuna_distributions,
    reseed_sampler,
)
from yoso.search.strategy import Evaluation, build_strategy

pytestmark = pytest.mark.usefixtures("single_thread")

#: Every Optuna strategy of conf/strategy (by the class its _target_ names).
KINDS = tuple(kind for kind, cls in STRATEGY_CLASSES.items() if issubclass(cls, OptunaStrategy))
#: Small settings so the model-based part of each sampler runs within a few trials.
SMALL: dict[str, dict[str, Any]] = {
    "tpe": {"n_startup_trials": 4},
    "nsga2": {"population_size": 4},
    "cmaes": {"n_startup_trials": 2, "popsize": 4},
}
CLASSES = {"tpe": TPEStrategy, "nsga2": NSGA2Strategy, "cmaes": CmaEsStrategy}
EVALUATE = CandidateEvaluator(fake_accuracy, fake_hardware, REWARD)


def make(kind: str, space, seed: int = 0, hard: bool = False, **kwargs: Any) -> OptunaStrategy:
    strategy = CLASSES[kind](space, seed, **{**SMALL[kind], **kwargs})
    strategy.constraints = Constraints(REWARD.t_lat_ms, REWARD.t_eer_mj, hard=hard)
    return strategy


def steps(strategy: OptunaStrategy, k: int, n: int = 2) -> np.ndarray:
    """Run ``k`` ask/evaluate/tell steps of ``n`` candidates; returns the candidates."""
    out = []
    for _ in range(k):
        vectors = strategy.space.check(strategy.ask(n))
        strategy.tell(vectors, EVALUATE(vectors))
        out.append(vectors)
    return np.concatenate(out)


def snapshot(src: Path, dst: Path) -> None:
    """A copy of ``src``'s journal in ``dst``, as a kill would leave it (every journal append is fsynced)."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / JOURNAL_NAME, dst / JOURNAL_NAME)


def trials_of(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="yoso", storage=journal_storage(run_dir / JOURNAL_NAME)).get_trials()


# ----------------------------------------------------------------- parameters


@pytest.mark.parametrize("kind", KINDS)
def test_distributions_are_the_decisions(space, kind: str) -> None:
    strategy = make(kind, space)
    dists = strategy.distributions()
    assert list(dists) == list(space.names) and len(dists) == len(space)
    for decision, dist in zip(space.decisions, dists.values()):
        if kind == "cmaes":
            assert dist == IntDistribution(0, decision.vocab - 1)
        else:
            assert isinstance(dist, CategoricalDistribution) and len(dist.choices) == decision.vocab
            for choice, value in zip(decision.choices, dist.choices):
                assert value == (choice if isinstance(choice, (int, float, str)) else str(choice))
    assert optuna_distributions(space, "int" if kind == "cmaes" else "categorical") == dists
    if kind != "cmaes":
        assert dists["accel.pe_array"].choices[0] == "(8, 8)"  # readable in the dashboard


@pytest.mark.parametrize("kind", KINDS)
def test_ask_gives_valid_candidates_matching_the_trials(space, kind: str) -> None:
    strategy = make(kind, space)
    vectors = steps(strategy, 6, 2)
    assert vectors.shape == (12, len(space)) and vectors.dtype == np.int64
    assert strategy.committed == 12 and strategy.metrics()["optuna/trials"] == 12
    trials = strategy.study.get_trials()
    assert [t.number for t in trials] == list(range(12))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for t, vec in zip(trials, vectors):
        assert [
            list(d.choices).index(t.params[n]) if kind != "cmaes" else t.params[n]
            for n, d in strategy.distributions().items()
        ] == vec.tolist()
    if kind == "nsga2":
        assert strategy.study.directions == [
            optuna.study.StudyDirection.MAXIMIZE,
            optuna.study.StudyDirection.MINIMIZE,
            optuna.study.StudyDirection.MINIMIZE,
        ]
        results = EVALUATE(vectors[-1:])
        assert trials[-1].values == [results.accuracy[0], results.energy_mj[0], results.latency_ms[0]]
    else:
        assert len(strategy.study.directions) == 1
        assert trials[-1].value == EVALUATE(vectors[-1:]).reward[0]
    assert len({tuple(v) for v in vectors}) > 1
    with pytest.raises(ValueError, match="differ"):
        other = strategy.ask(1)
        strategy.tell((other + 1) % space.vocab_sizes, EVALUATE(other))


# ----------------------------------------------------------------- state and resume


@pytest.mark.parametrize("kind", KINDS)
def test_resume_from_the_journal_continues_exactly(space, tmp_path: Path, kind: str) -> None:
    original = make(kind, space)
    original.bind(tmp_path / "a")
    steps(original, 4)
    state = original.state_dict()
    snapshot(tmp_path / "a", tmp_path / "b")  # the run as a kill right after the checkpoint leaves it
    resumed = make(kind, space)
    resumed.bind(tmp_path / "b")
    resumed.load_state_dict(state)
    assert resumed.committed == 8
    for _ in range(4):
        a, b = original.ask(2), resumed.ask(2)
        np.testing.assert_array_equal(a, b)
        original.tell(a, EVALUATE(a))
        resumed.tell(b, EVALUATE(b))
    assert [t.params for t in trials_of(tmp_path / "a")] == [t.params for t in trials_of(tmp_path / "b")]


@pytest.mark.parametrize("kind", KINDS)
def test_resume_in_memory_keeps_the_trials(space, kind: str) -> None:
    original = make(kind, space)
    steps(original, 4)
    resumed = make(kind, space)
    resumed.load_state_dict(original.state_dict())  # binds in memory lazily; the state carries the trials
    assert resumed.committed == original.committed == 8
    assert len(resumed.study.trials) == 8
    for _ in range(2):
        a, b = original.ask(2), resumed.ask(2)
        np.testing.assert_array_equal(a, b)
        original.tell(a, EVALUATE(a))
        resumed.tell(b, EVALUATE(b))


@pytest.mark.parametrize("kind", KINDS)
def test_kill_after_ask_leaves_no_orphan_trial(space, tmp_path: Path, kind: str) -> None:
    first = make(kind, space, hard=True)
    first.bind(tmp_path)
    steps(first, 3)
    state = first.state_dict()
    orphans = first.ask(2)  # killed while evaluating these
    assert [t.state for t in trials_of(tmp_path)[6:]] == [TrialState.RUNNING] * 2  # the journal holds the asked trials
    restarted = make(kind, space, hard=True)
    restarted.bind(tmp_path)
    restarted.load_state_dict(state)
    vectors = restarted.ask(3)  # the orphans' trials are served again (and told once), then a new one
    assert space.check(vectors).shape == (3, len(space)) and orphans.shape == (2, len(space))
    np.testing.assert_array_equal(vectors[:2], orphans)
    restarted.tell(vectors, EVALUATE(vectors))
    trials = trials_of(tmp_path)
    assert len(trials) == restarted.committed == 9
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(set(t.constraints) == set(CONSTRAINT_NAMES) for t in trials)


@pytest.mark.parametrize("kind", KINDS)
def test_trials_after_the_reserved_ones_are_the_uninterrupted_runs(space, tmp_path: Path, kind: str) -> None:
    """A kill while trials beyond the checkpoint were being evaluated: once they are served again, the next new
    trials are those of a run never interrupted (each trial draws from its own seeded stream, so nothing of the
    sampler's random state needs saving)."""
    uninterrupted = make(kind, space)
    uninterrupted.bind(tmp_path / "a")
    expected = steps(uninterrupted, 6)
    first = make(kind, space)
    first.bind(tmp_path / "b")
    steps(first, 3)
    state = first.state_dict()
    first.ask(2)  # killed while evaluating these
    restarted = make(kind, space)
    restarted.bind(tmp_path / "b")
    restarted.load_state_dict(state)
    np.testing.assert_array_equal(steps(restarted, 3), expected[6:])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("written", [0, 5])
def test_a_trial_cut_short_mid_ask_ends_as_the_uninterrupted_runs(
    space, tmp_path: Path, kind: str, written: int
) -> None:
    """A kill inside ``study.ask`` leaves a RUNNING trial with only its first params in the journal: after the
    resume it gets the rest of the params its ask would have drawn, and the run goes on as an uninterrupted one."""
    uninterrupted = make(kind, space)
    uninterrupted.bind(tmp_path / "a")
    expected = steps(uninterrupted, 10)  # NSGA-II's population is 4: generations 0 to 4
    first = make(kind, space)
    first.bind(tmp_path / "b")
    steps(first, 3)
    state = first.state_dict()
    reseed_sampler(first.study.sampler, first._sampler_seed, 6)  # what ask does before study.ask, then its first params
    cut = first.study.ask()
    for name, dist in list(first.distributions().items())[:written]:
        cut._suggest(name, dist)
    assert len(trials_of(tmp_path / "b")[6].params) == written
    restarted = make(kind, space)
    restarted.bind(tmp_path / "b")
    restarted.load_state_dict(state)
    np.testing.assert_array_equal(steps(restarted, 7), expected[6:])


@pytest.mark.parametrize("kind", KINDS)
def test_kill_before_checkpoint_reserves_told_trials_without_telling_them_again(
    space, tmp_path: Path, kind: str
) -> None:
    first = make(kind, space)
    first.bind(tmp_path)
    steps(first, 3)
    state = first.state_dict()
    told = steps(first, 1, 2)  # told, but the checkpoint after it was never written
    before = trials_of(tmp_path)
    restarted = make(kind, space)
    restarted.bind(tmp_path)
    restarted.load_state_dict(state)
    vectors = restarted.ask(2)
    np.testing.assert_array_equal(vectors, told)
    restarted.tell(vectors, EVALUATE(vectors))
    after = trials_of(tmp_path)
    assert len(after) == restarted.committed == 8
    assert [(t.values, t.datetime_complete) for t in after] == [(t.values, t.datetime_complete) for t in before]
    steps(restarted, 1, 1)  # then new trials
    assert len(trials_of(tmp_path)) == restarted.committed == 9


@pytest.mark.parametrize("kind", KINDS)
def test_kill_before_first_checkpoint_starts_over(space, tmp_path: Path, kind: str) -> None:
    """No checkpoint: the loop starts from iteration 0, so the study starts empty and asks what a fresh run asks."""
    first = make(kind, space)
    first.bind(tmp_path)
    done = steps(first, 2)
    first.ask(1)
    restarted = make(kind, space)  # no load_state_dict: no checkpoint was written
    restarted.bind(tmp_path)
    vectors = steps(restarted, 3)
    np.testing.assert_array_equal(vectors[:4], done)  # same seed, same sampler: the same first trials
    trials = trials_of(tmp_path)
    assert len(trials) == restarted.committed == 6
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_missing_database_is_an_error(space, tmp_path: Path) -> None:
    first = make("tpe", space)
    first.bind(tmp_path / "a")
    steps(first, 2)
    restarted = make("tpe", space)
    restarted.bind(tmp_path / "b")
    restarted.load_state_dict(first.state_dict())
    with pytest.raises(ValueError, match="removed or replaced"):
        restarted.ask(1)


# ----------------------------------------------------------------- objectives and constraints


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("hard", [False, True])
def test_constraint_values_on_the_trials(space, kind: str, hard: bool) -> None:
    strategy = make(kind, space, hard=hard)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the expected Optuna warnings (CMA-ES ignores constraints) stay hidden
        vectors = steps(strategy, 5)
    results = EVALUATE(vectors)
    trials = strategy.study.get_trials()
    if not hard:
        assert all(t.constraints == {} for t in trials)
        return
    expected = strategy.constraints.values(results.latency_ms, results.energy_mj)
    got = np.array([[t.constraints[name] for name in CONSTRAINT_NAMES] for t in trials])
    np.testing.assert_array_equal(got, expected)
    if kind != "nsga2":  # the scalar objective is the feasible-first score
        np.testing.assert_array_equal([t.value for t in trials], strategy.score(results))


@pytest.mark.parametrize("kind", KINDS)
def test_non_finite_objective_fails_the_trial(space, kind: str) -> None:
    strategy = make(kind, space)
    vectors = strategy.ask(2)
    nan, ones = np.array([np.nan, 1.0]), np.ones(2)
    # NSGA-II tells accuracy/energy/latency; TPE and CMA-ES tell the reward.
    results = Evaluation(nan if kind == "nsga2" else ones, ones, ones, ones if kind == "nsga2" else nan)
    strategy.tell(vectors, results)
    assert [t.state for t in strategy.study.get_trials()] == [TrialState.FAIL, TrialState.COMPLETE]
    strategy.space.check(strategy.ask(1))


# ----------------------------------------------------------------- config and the loop


@pytest.mark.parametrize(
    ("kind", "key", "value"),
    [
        ("nsga2", "population_size", 1),
        ("nsga2", "mutation_prob", 1.5),
        ("nsga2", "crossover_prob", -0.1),
        ("tpe", "n_startup_trials", -1),
        ("tpe", "n_ei_candidates", 0),
        ("tpe", "multivariate", "yes"),
        ("tpe", "samples_per_step", 0),
        ("cmaes", "sigma0", 0),
        ("cmaes", "popsize", 1),
        ("cmaes", "n_startup_trials", 1.5),
    ],
)
def test_bad_config_names_the_key(space, kind: str, key: str, value: Any) -> None:
    cfg = compose_config("search", [f"strategy={kind}", f"strategy.{key}={value}"])
    with pytest.raises(ConfigError) as err:
        build_strategy(plain(cfg.strategy), space, 0)
    assert err.value.key == f"strategy.{key}"


@pytest.mark.parametrize("kind", KINDS)
def test_search_loop_writes_history_and_study(space, tmp_path: Path, kind: str) -> None:
    cfg = compose_config("search", [f"strategy={kind}", "constraints=hard"])
    constraints = build(cfg.constraints, "constraints")

    def loop(iterations: int) -> Experiment:
        strategy = build_strategy(plain(cfg.strategy), space, 0, constraints)
        assert strategy.name == kind and isinstance(strategy, CLASSES[kind])
        return Experiment(strategy, EVALUATE, iterations, tmp_path, progress=False)

    loop(12).run()
    history = loop(30).run()  # resumed from the checkpoint
    assert len(history) == 30 and len(History.open(tmp_path / "history.csv", space)) == 30
    trials = trials_of(tmp_path)
    assert len(trials) == 30 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(set(t.constraints) == set(CONSTRAINT_NAMES) for t in trials)
    dists = optuna_distributions(space, "int" if kind == "cmaes" else "categorical")
    for t, vec in zip(trials, history.vectors):
        assert [
            t.params[n] if kind == "cmaes" else list(d.choices).index(t.params[n]) for n, d in dists.items()
        ] == vec.tolist()
