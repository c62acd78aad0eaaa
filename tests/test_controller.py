"""The LSTM controller, its REINFORCE loss (PolicyGradient) and the ReinforceStrategy (docs/strategies.md)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from helpers import compose_config
from omegaconf import OmegaConf

from yoso.config import ConfigError
from yoso.search.controller import Controller, PolicyGradient, ReinforceStrategy
from yoso.search.strategy import Evaluation, Strategy, build_strategy

#: A controller small enough to check by hand, and a hidden size that keeps strategy tests fast.
TINY_VOCAB = [2, 3, 2]
SMALL_HIDDEN = 8


pytestmark = pytest.mark.usefixtures("single_thread")


def reinforce_kwargs(**overrides: object) -> dict:
    """conf/strategy/reinforce.yaml's hyperparameters (the one place of their defaults) with ``overrides``."""
    cfg = OmegaConf.to_container(compose_config("search", ["strategy=reinforce"]).strategy)
    return {**{k: v for k, v in cfg.items() if k not in ("_target_", "name")}, **overrides}


def tiny_controller(vocab: list[int] = TINY_VOCAB, hidden: int = 4, seed: int = 0) -> Controller:
    """A seeded controller (the init is reproducible, its weights are read back by the hand computation)."""
    torch.manual_seed(seed)
    return Controller(vocab, hidden)


def evaluation(reward: np.ndarray) -> Evaluation:
    """An Evaluation whose only meaningful field is ``reward`` (strategies learn from it alone)."""
    reward = np.asarray(reward, dtype=np.float64)
    return Evaluation(reward, np.ones_like(reward), np.ones_like(reward), reward)


def params(strategy: ReinforceStrategy) -> list[torch.Tensor]:
    """Every parameter and buffer (baseline, update count) of a strategy's module."""
    return [t.detach().clone() for t in strategy.module.state_dict().values()]


def same_tensors(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


# ----------------------------------------------------------------- Controller


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


def hand_log_prob_entropy(ctrl: Controller, actions: list[int]) -> tuple[float, float]:
    """Controller.forward for one action vector, re-derived in float64 numpy from the LSTMCell equations."""
    w = {k: v.detach().double().numpy() for k, v in ctrl.state_dict().items()}
    hidden = ctrl.hidden
    x, h, c = np.zeros(hidden), np.zeros(hidden), np.zeros(hidden)
    log_prob = entropy = 0.0
    for t, choice in enumerate(actions):
        gates = w["lstm.weight_ih"] @ x + w["lstm.bias_ih"] + w["lstm.weight_hh"] @ h + w["lstm.bias_hh"]
        i, f, g, o = np.split(gates, 4)  # PyTorch's gate order
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        logp = _log_softmax(w[f"heads.{t}.weight"] @ h + w[f"heads.{t}.bias"])
        log_prob += logp[choice]
        entropy -= (np.exp(logp) * logp).sum()
        x = w[f"embeddings.{t}.weight"][choice]
    return log_prob, entropy


def test_controller_log_prob_and_entropy_match_hand_computation() -> None:
    ctrl = tiny_controller()
    actions = [[0, 0, 0], [1, 2, 1], [0, 1, 1], [1, 0, 0], [1, 1, 0]]
    log_prob, entropy = ctrl(torch.tensor(actions))
    assert log_prob.shape == entropy.shape == (len(actions),)
    for row, lp, ent in zip(actions, log_prob.tolist(), entropy.tolist()):
        hand_lp, hand_ent = hand_log_prob_entropy(ctrl, row)
        assert lp == pytest.approx(hand_lp, abs=1e-5)
        assert ent == pytest.approx(hand_ent, abs=1e-5)
    # Every full action vector together has probability 1 (the policy is normalised).
    every = torch.cartesian_prod(*(torch.arange(v) for v in TINY_VOCAB))
    with torch.no_grad():
        assert float(ctrl(every)[0].exp().sum()) == pytest.approx(1.0, abs=1e-5)


def test_controller_samples_follow_the_policy() -> None:
    ctrl = tiny_controller(vocab=[5], hidden=3)
    with torch.no_grad():  # make the single head clearly non-uniform
        ctrl.heads[0].bias.copy_(torch.tensor([0.0, 1.0, 2.0, -1.0, 0.5]))
        probs = ctrl(torch.arange(5)[:, None])[0].exp().numpy()
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    samples = ctrl.sample(20000, torch.Generator().manual_seed(0))
    assert samples.shape == (20000, 1) and samples.dtype == torch.long
    freq = np.bincount(samples[:, 0].numpy(), minlength=5) / 20000
    assert np.abs(freq - probs).max() < 0.02

    # The same seed reproduces the samples, another seed does not.
    multi = tiny_controller()
    first = multi.sample(50, torch.Generator().manual_seed(7))
    assert torch.equal(first, multi.sample(50, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, multi.sample(50, torch.Generator().manual_seed(8)))
    assert all(int(first[:, j].max()) < v for j, v in enumerate(TINY_VOCAB))


# ----------------------------------------------------------------- PolicyGradient


def test_policy_gradient_reinforce_step() -> None:
    w, decay = 0.1, 0.9
    module = PolicyGradient(tiny_controller(), entropy_weight=w, baseline_decay=decay)

    @torch.no_grad()
    def expected_loss(actions: torch.Tensor, rewards: torch.Tensor, baseline: float) -> float:
        log_prob, entropy = module.controller(actions)
        advantage = rewards.double() - baseline
        return float(-(advantage * log_prob.double()).mean() - w * entropy.double().mean())

    # First batch: mean 7/3 becomes the baseline, and the decay update keeps it there.
    actions = torch.tensor([[0, 1, 1], [1, 2, 0], [1, 0, 1]])
    rewards = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    loss = module(actions, rewards)
    assert loss.requires_grad
    assert float(loss.detach()) == pytest.approx(expected_loss(actions, rewards, 7 / 3), abs=1e-6)
    assert float(module.baseline) == pytest.approx(7 / 3, abs=1e-12)
    assert int(module.updates) == 1

    # Second batch: the loss uses b = 7/3, then b <- 0.9 * 7/3 + 0.1 * 0.5 = 2.15.
    actions2 = torch.tensor([[0, 0, 0], [1, 1, 1]])
    rewards2 = torch.tensor([0.0, 1.0], dtype=torch.float64)
    loss2 = module(actions2, rewards2)
    assert float(loss2.detach()) == pytest.approx(expected_loss(actions2, rewards2, 7 / 3), abs=1e-6)
    assert float(module.baseline) == pytest.approx(2.15, abs=1e-12)
    assert module.last_metrics["controller/baseline"] == pytest.approx(2.15, abs=1e-12)
    assert int(module.updates) == 2


# ----------------------------------------------------------------- ReinforceStrategy


def test_reinforce_strategy_learns_a_toy_reward(space) -> None:
    strategy = ReinforceStrategy(space, seed=0, **reinforce_kwargs(lstm_hidden=SMALL_HIDDEN, lr=0.05))
    assert space.vocab_sizes[-1] == 4  # uniform probability of the rewarded choice: 1/4
    before = (strategy.ask(500)[:, -1] == 2).mean()
    for _ in range(150):
        candidates = strategy.ask(1)
        strategy.tell(candidates, evaluation((candidates[:, -1] == 2).astype(float)))
    after = (strategy.ask(500)[:, -1] == 2).mean()
    assert before < 0.4
    assert after > 0.6, (before, after)
    assert strategy.metrics()["controller/baseline"] > 0.25  # the baseline tracks the rising reward


def reinforce(space, seed: int) -> ReinforceStrategy:
    """A small, fast ReinforceStrategy."""
    return ReinforceStrategy(space, seed=seed, **reinforce_kwargs(lstm_hidden=SMALL_HIDDEN, lr=0.01))


def ask_tell(strategies: list[ReinforceStrategy], steps: int, n: int = 2) -> None:
    """``steps`` ask/tell rounds on every strategy, asserting they ask the same and end with the same weights."""
    for _ in range(steps):
        asked = strategies[0].ask(n)
        assert asked.dtype == np.int64 and asked.shape == (n, len(strategies[0].space))
        for other in strategies[1:]:
            np.testing.assert_array_equal(other.ask(n), asked)
        for strategy in strategies:
            strategy.tell(asked, evaluation(asked[:, -1] + 0.1 * asked[:, 0]))
        for other in strategies[1:]:
            assert same_tensors(params(other), params(strategies[0]))


def test_reinforce_strategy_is_deterministic(space) -> None:
    a, b = reinforce(space, 3), reinforce(space, 3)
    assert same_tensors(params(a), params(b))
    optimiser = a.optimizer
    ask_tell([a, b], steps=3)
    assert int(a.module.updates) == 3
    # One Adam optimiser for the whole search, so its moments survive from tell to tell.
    assert a.optimizer is optimiser and isinstance(optimiser, torch.optim.Adam)
    assert optimiser.param_groups[0]["lr"] == 0.01
    assert not same_tensors(params(a), params(reinforce(space, 3)))  # the tells did change the weights
    # Different seeds: different initial weights and different candidates.
    assert not same_tensors(params(reinforce(space, 4)), params(reinforce(space, 3)))
    assert not np.array_equal(reinforce(space, 4).ask(4), reinforce(space, 3).ask(4))


def test_reinforce_state_round_trip_through_a_file(space) -> None:
    """What the search loop does on resume: torch.save the state, torch.load it into a fresh strategy."""
    a = reinforce(space, 3)
    ask_tell([a], steps=3)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    fresh = reinforce(space, 11)  # another seed: everything that matters is in the state
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert same_tensors(params(fresh), params(a))
    assert fresh.metrics() == a.metrics() and "controller/baseline" in a.metrics()
    ask_tell([a, fresh], steps=2, n=3)
    assert float(a.optimizer.state[a.module.controller.heads[0].bias]["step"]) == 5


def test_reinforce_state_round_trip_in_memory(space) -> None:
    a = reinforce(space, 3)
    ask_tell([a], steps=3)
    fresh = reinforce(space, 11)
    fresh.load_state_dict(a.state_dict())
    ask_tell([a, fresh], steps=1, n=3)  # fails: each tell also advances the other's shared Adam moments


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"lr": 0}, "strategy.lr"),
        ({"entropy_weight": -1}, "strategy.entropy_weight"),
        ({"baseline_decay": 1.0}, "strategy.baseline_decay"),
        ({"samples_per_step": 0}, "strategy.samples_per_step"),
        ({"lstm_hidden": 0}, "strategy.lstm_hidden"),
    ],
)
def test_reinforce_strategy_rejects_bad_config(space, kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as err:
        ReinforceStrategy(space, **reinforce_kwargs(**kwargs))
    assert err.value.key == key


REINFORCE_TARGET = "yoso.search.controller.ReinforceStrategy"


def test_build_strategy(space) -> None:
    """A valid config instantiates; bad values, non-strategies and a missing _target_ name their key."""
    valid = {"_target_": REINFORCE_TARGET, "name": "reinforce", **reinforce_kwargs()}
    built = build_strategy({**valid, "lstm_hidden": 4, "samples_per_step": 2}, space, 5)
    assert isinstance(built, ReinforceStrategy) and isinstance(built, Strategy)
    assert built.seed == 5 and built.batch_size == 2 and built.module.controller.hidden == 4
    # The YAML's learning rate is the one default (the paper gives none; ENAS's 3.5e-4 is too slow on a CPU budget).
    assert built.optimizer.param_groups[0]["lr"] == valid["lr"] == 3.5e-3

    cases = [
        ({**valid, "lr": -1}, "strategy.lr"),
        ({"_target_": REINFORCE_TARGET, "name": "reinforce", "lstm_hidden": 4}, "strategy"),  # no code defaults
        ({"_target_": "collections.OrderedDict", "name": "dict"}, "strategy._target_"),
        ({"name": "reinforce", "lr": 0.1}, "strategy._target_"),
    ]
    for cfg, key in cases:
        with pytest.raises(ConfigError) as err:
            build_strategy(cfg, space, 0)
        assert err.value.key == key, cfg
        assert key in str(err.value)
