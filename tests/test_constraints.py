"""Hard constraints: the Constraints arithmetic, the config group, and that no strategy's final design is infeasible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import REWARD, STRATEGIES, compose_config, fake_hardware, make_loop

from yoso.app.run import validate_config
from yoso.config import ConfigError
from yoso.search.constraints import MAX_VIOLATION, Constraints
from yoso.search.engine import Experiment
from yoso.search.evaluator import CandidateEvaluator
from yoso.search.final import final_step
from yoso.search.strategy import build_strategy

pytestmark = pytest.mark.usefixtures("single_thread")

#: In the fake evaluator energy is 5 + the PE-array index and latency 1 + 0.1 x the dataflow index, so these
#: thresholds leave exactly PE arrays {0, 1} x dataflows {0, 1} feasible.
KNOWN = Constraints(t_lat_ms=1.15, t_eer_mj=6.5, hard=True)


def known_feasible(vectors: np.ndarray) -> np.ndarray:
    return (vectors[:, -4] <= 1) & (vectors[:, -1] <= 1)


def test_values_feasible_violation_and_score_by_hand() -> None:
    c = Constraints(t_lat_ms=2.0, t_eer_mj=10.0, hard=True)
    latency, energy = np.array([1.0, 3.0, 2.0, np.nan, -1.0]), np.array([5.0, 5.0, 15.0, 1.0, 1.0])
    values = c.values(latency, energy)
    np.testing.assert_allclose(values[:3], [[-0.5, -0.5], [0.5, -0.5], [0.0, 0.5]])
    np.testing.assert_array_equal(values[3:, 0], [MAX_VIOLATION, MAX_VIOLATION])  # NaN and non-positive latency
    np.testing.assert_array_equal(c.feasible(latency, energy), [True, False, False, False, False])
    np.testing.assert_allclose(c.violation(latency, energy)[:3], [0.0, 0.5, 0.5])
    score = c.score(np.array([2.0, 2.5, 3.0, 1.0, 1.0]), latency, energy)
    np.testing.assert_allclose(score[:3], [2.0, -0.5, -0.5])  # feasible keeps its reward, infeasible sits below 0
    assert np.all(score[1:] < 0) and score[0] > 0
    soft = Constraints(t_lat_ms=2.0, t_eer_mj=10.0, penalty=4.0)  # constraints=soft: reward - penalty * violation
    np.testing.assert_allclose(soft.score(np.array([2.0, 2.5, 3.0]), latency[:3], energy[:3]), [2.0, 0.5, 1.0])
    unpenalised = Constraints(t_lat_ms=2.0, t_eer_mj=10.0)  # constraints=none: the reward itself
    np.testing.assert_array_equal(
        unpenalised.score(np.array([2.0, 2.5, 3.0]), latency[:3], energy[:3]), [2.0, 2.5, 3.0]
    )


def test_config_group_defaults_to_the_reward_thresholds() -> None:
    setup = validate_config(compose_config("search", ["reward=energy"]))
    assert setup.constraints == Constraints(setup.reward.t_lat_ms, setup.reward.t_eer_mj, hard=False)
    assert setup.strategy.constraints is setup.constraints and not setup.strategy.hard_constraints
    hard = validate_config(compose_config("search", ["constraints=hard", "constraints.t_lat_ms=0.8"]))
    assert hard.constraints == Constraints(0.8, hard.reward.t_eer_mj, hard=True)
    assert hard.strategy.hard_constraints


@pytest.mark.parametrize(
    ("override", "key", "allowed"),
    [
        ("constraints.t_lat_ms=0", "constraints.t_lat_ms", "> 0.0"),
        ("constraints.t_eer_mj=-1", "constraints.t_eer_mj", "> 0.0"),
        ("constraints.hard=maybe", "constraints.hard", "true or false"),
    ],
)
def test_bad_constraint_values_are_rejected(override: str, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as err:
        validate_config(compose_config("search", ["constraints=hard", override]))
    assert allowed in str(err.value)


@pytest.mark.parametrize("kind", STRATEGIES)
def test_no_strategy_returns_an_infeasible_final_design(space, tmp_path: Path, kind: str) -> None:
    loop = make_loop(kind, space, tmp_path, 30, constraints=KNOWN)
    history = loop.run()
    np.testing.assert_array_equal(history.feasible, known_feasible(history.vectors))
    rows, chosen = final_step(history, REWARD, 3, fake_hardware, None, constraints=KNOWN)
    if not known_feasible(history.vectors).any():
        assert chosen is None and rows == []
    else:
        assert chosen is not None
        assert all(row["feasible"] for row in rows)  # hard: only simulator-feasible candidates reach the top-N
        chosen_vector = history.vectors[rows[chosen]["iteration"]]
        assert known_feasible(chosen_vector[None])[0]


def test_hard_final_step_trusts_the_simulator_not_the_search_time_figures(space) -> None:
    """A search-time evaluator that calls everything feasible must not sneak an infeasible design through."""
    history = make_loop("random", space, None, 40, constraints=KNOWN).run()
    history.figures["energy_mj"][:] = 1.0  # what an over-optimistic predictor would have said
    history.figures["latency_ms"][:] = 0.5
    rows, chosen = final_step(history, REWARD, 40, fake_hardware, None, constraints=KNOWN)
    assert len(rows) == len({tuple(v) for v in history.vectors[known_feasible(history.vectors)]})
    assert chosen is not None and all(known_feasible(history.vectors[[r["iteration"] for r in rows]]))


def test_hard_final_step_reports_no_design_when_none_is_feasible(space) -> None:
    impossible = Constraints(t_lat_ms=0.5, t_eer_mj=1.0, hard=True)
    history = make_loop("random", space, None, 12, constraints=impossible).run()
    assert not history.feasible.any()
    assert final_step(history, REWARD, 3, fake_hardware, None, constraints=impossible) == ([], None)
    # Soft constraints keep the paper's behaviour: the best attempt, marked infeasible.
    rows, chosen = final_step(history, REWARD, 3, fake_hardware, None, constraints=Constraints(0.5, 1.0))
    assert chosen == 0 and not rows[0]["feasible"]


def test_evolution_with_hard_constraints_samples_more_feasible_designs(space) -> None:
    """When the reward pulls towards big, infeasible PE arrays, the feasible-first score pulls evolution back."""
    fractions = {}
    for hard in (False, True):
        constraints = Constraints(KNOWN.t_lat_ms, KNOWN.t_eer_mj, hard=hard)
        strategy = build_strategy(
            compose_config(
                "search", ["strategy=evolution", "strategy.population_size=10", "strategy.sample_size=3"]
            ).strategy,
            space,
            0,
            constraints,
        )
        evaluator = CandidateEvaluator(lambda v: 0.5 * v[:, -4], fake_hardware, REWARD, constraints=constraints)
        history = Experiment(strategy, evaluator, 200, progress=False).run()
        fractions[hard] = history.feasible[-100:].mean()
    assert fractions[True] > 0.5 > fractions[False]
