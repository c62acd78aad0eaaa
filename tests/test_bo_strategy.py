"""The qNEHVI strategy (yoso.search.bo) on cheap fake evaluators: ask/tell, resume, config, constraints, loop."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from helpers import compose_config, plain

from yoso.config import ConfigError
from yoso.search.bo import QNEHVIStrategy
from yoso.search.constraints import Constraints
from yoso.search.engine import Experiment
from yoso.search.evaluator import CandidateEvaluator
from yoso.search.reward import Reward
from yoso.search.strategy import Evaluation, build_strategy

pytestmark = pytest.mark.usefixtures("single_thread")

REWARD = Reward(0.5, -0.4, 0.5, -0.4)
#: Small and fast settings shared by the tests.
SMALL = dict(batch_size=4, pool_size=200, initial_samples=8, mc_samples=16, shortlist=32, fit_iterations=30)


def fake_accuracy(v: np.ndarray) -> np.ndarray:
    """Deterministic 'accuracy': the fraction of zero DNN decisions."""
    return (v[:, :40] == 0).mean(1)


def fake_hardware(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic energy (mJ) from the PE-array choice and latency (ms) from the dataflow choice."""
    return 5.0 + v[:, -4], 1.0 + 0.1 * v[:, -1]


def evaluate(v: np.ndarray) -> Evaluation:
    energy, latency = fake_hardware(v)
    acc = fake_accuracy(v)
    return Evaluation(acc, energy, latency, acc.copy())


def run_steps(strategy: QNEHVIStrategy, steps: int) -> list[np.ndarray]:
    asked = []
    for _ in range(steps):
        v = strategy.space.check(strategy.ask(strategy.batch_size))
        strategy.tell(v, evaluate(v))
        asked.append(v)
    return asked


def test_ask_random_then_acquisition(space) -> None:
    strategy = QNEHVIStrategy(space, seed=3, **SMALL)
    first = strategy.ask(4)
    assert np.array_equal(first, space.sample(4, np.random.default_rng(np.random.SeedSequence(3, spawn_key=(2,)))))
    strategy.tell(first, evaluate(first))
    second = strategy.ask(3)  # n < batch_size, still the random phase
    assert second.shape == (3, len(space))
    strategy.tell(second, evaluate(second))
    strategy.tell(*(lambda v: (v, evaluate(v)))(space.sample(1, 0)))
    assert strategy.metrics()["bo/fit_s"] == 0.0
    chosen = space.check(strategy.ask(4))
    assert chosen.shape == (4, len(space)) and len(np.unique(chosen, axis=0)) == 4
    assert strategy.metrics()["bo/fit_s"] > 0 and strategy.metrics()["bo/observations"] == 8
    assert len(strategy.ask(2)) == 2
    with pytest.raises(ValueError):
        strategy.ask(5)


def test_state_round_trip(space) -> None:
    strategy = QNEHVIStrategy(space, seed=1, **SMALL)
    strategy.constraints = Constraints(1.2, 9.0, hard=True)
    run_steps(strategy, 3)
    state = strategy.state_dict()
    restored = QNEHVIStrategy(space, seed=1, **SMALL)
    restored.constraints = Constraints(1.2, 9.0, hard=True)
    restored.load_state_dict(state)
    expected = strategy.ask(4)
    assert np.array_equal(restored.ask(4), expected)


def test_build_from_config(space) -> None:
    overrides = [
        "strategy=qnehvi",
        "strategy.pool_size=200",
        "strategy.batch_size=2",
        "strategy.shortlist=16",
        "hw.deploy.channels=16",
    ]
    cfg = compose_config("search", overrides)
    strategy = build_strategy(plain(cfg.strategy), space, seed=0, constraints=Constraints(1.2, 9.0))
    assert isinstance(strategy, QNEHVIStrategy) and strategy.batch_size == 2 and strategy.pool_size == 200
    assert strategy.encoder.deploy.channels == 16  # ${hw.deploy} reached the feature encoder
    v = strategy.ask(2)
    strategy.tell(v, evaluate(v))


def test_yaml_states_the_code_defaults() -> None:
    import inspect

    from helpers import CONF, compose_config
    from omegaconf import OmegaConf

    composed = OmegaConf.to_container(compose_config("search", ["strategy=qnehvi"]).strategy)
    defaults = {
        k: p.default
        for k, p in inspect.signature(QNEHVIStrategy).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    numbers = {k: v for k, v in composed.items() if k not in ("_target_", "name", "featurizer")}
    assert numbers and numbers == {k: defaults[k] for k in numbers}  # one default: the code's, through the schema
    assert not set(OmegaConf.load(CONF / "strategy" / "qnehvi.yaml")) & set(numbers)  # the YAML restates none


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("pool_size", 0),
        ("batch_size", 0),
        ("initial_samples", 1),
        ("mc_samples", 0.5),
        ("max_train", 1),
        ("shortlist", 2),
        ("eta", 0.0),
    ],
)
def test_bad_values(space, key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"strategy.{key}"):
        QNEHVIStrategy(space, **{**SMALL, key: value})


def test_hard_constraints_steer_to_feasible(space) -> None:
    # energy 5 + pe_array index: feasible (<= t_eer) only for the first few PE arrays; latency always feasible
    n_pe = int(space.vocab_sizes[-4])
    t_eer = 5.0 + (n_pe - 1) / 3
    constraints = Constraints(t_lat_ms=10.0, t_eer_mj=t_eer, hard=True)
    baseline = constraints.feasible(*fake_hardware(space.sample(4000, 0))[::-1]).mean()
    strategy = QNEHVIStrategy(space, seed=0, **SMALL)
    strategy.constraints = constraints
    asked = run_steps(strategy, 6)
    late = np.concatenate(asked[3:])
    energy, latency = fake_hardware(late)
    rate = constraints.feasible(latency, energy).mean()
    print(f"feasible: random {baseline:.2f}, qnehvi {rate:.2f}")
    assert baseline < 0.5 and rate >= min(0.9, baseline + 0.3), (baseline, rate)


def test_search_loop(space, tmp_path: Path) -> None:
    strategy = QNEHVIStrategy(space, seed=0, **SMALL)
    evaluator = CandidateEvaluator(fake_accuracy, fake_hardware, REWARD)
    history = Experiment(strategy, evaluator, 30, tmp_path / "run", progress=False).run()
    assert len(history) == 30
    with (tmp_path / "run" / "history.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30
    assert strategy.metrics()["bo/observations"] == 30
