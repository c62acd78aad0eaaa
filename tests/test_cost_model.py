"""Cost models: the ``cost_model`` group builds each implementation, the protocol's optional abilities, bad values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import compose_config

from yoso import hw
from yoso.app.run import validate_config
from yoso.config import ConfigError
from yoso.predictor import (
    CostModel,
    DifferentiableCostModel,
    GPCostModel,
    SimulatorCostModel,
    UncertainCostModel,
)
from yoso.predictor.relaxed import CostMLP, MLPCostModel

pytestmark = pytest.mark.usefixtures("single_thread")


def _tiny(tmp_path, *overrides: str) -> list[str]:
    return [
        "hw.predictor.n_train=40",
        "hw.predictor.n_test=10",
        "hw.predictor.subset=40",
        "hw.predictor.iterations=3",
        f"hw.predictor.cache_dir={tmp_path}",
        *overrides,
    ]


@pytest.mark.parametrize(
    ("option", "cls"), [("gp", GPCostModel), ("simulator", SimulatorCostModel), ("mlp", MLPCostModel)]
)
def test_every_conf_option_builds_its_cost_model(tmp_path, option: str, cls: type) -> None:
    model = validate_config(compose_config("search", _tiny(tmp_path, f"cost_model={option}"))).cost_model()
    assert isinstance(model, cls) and isinstance(model, CostModel) and model.name == option
    assert not list(tmp_path.iterdir())  # built lazily: nothing trained or sampled yet


def test_kind_overrides_the_group(tmp_path) -> None:
    cfg = compose_config("search", _tiny(tmp_path))
    assert isinstance(validate_config(cfg).cost_model(), GPCostModel)
    assert isinstance(validate_config(cfg).cost_model("simulator"), SimulatorCostModel)


def test_gp_gives_uncertainty_and_its_featurizer(tmp_path, space) -> None:
    model = validate_config(compose_config("search", _tiny(tmp_path))).cost_model(progress=False)
    assert isinstance(model, UncertainCostModel) and not isinstance(model, DifferentiableCostModel)
    x = space.sample(5, 2)
    assert model.featurizer(x).shape == (5, len(model.featurizer.spec))  # before training
    e_std, l_std = model.log_std(x)
    assert e_std.shape == l_std.shape == (5,) and (e_std > 0).all() and (l_std > 0).all()
    assert model.gp.model is not None and model.sample_key is not None  # trained on first use


def test_mlp_is_differentiable_cached_and_matches_its_module(tmp_path, paper_space, monkeypatch) -> None:
    cfg = compose_config(
        "search",
        _tiny(
            tmp_path, "space=yoso", "cost_model=mlp", "+cost_model.settings.epochs=5", "+cost_model.settings.hidden=16"
        ),
    )
    model = validate_config(cfg).cost_model()
    assert isinstance(model, DifferentiableCostModel) and model.settings.hidden == 16
    x = paper_space.sample(3, 0)
    energy, latency = model(x)
    assert energy.shape == latency.shape == (3,) and (energy > 0).all()
    encoding = torch.as_tensor(model.module.encoding.hard(x), dtype=torch.float32).requires_grad_(True)
    model.module(encoding).sum().backward()
    assert encoding.grad is not None and np.allclose(
        np.exp(model.module(encoding).detach().numpy()[:, 0]), energy, rtol=1e-5
    )
    assert set(model.held_out_errors()) == {"energy_mape", "latency_mape"}
    assert len(list((tmp_path / "predictors").glob("mlp-*.pt"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("the cached MLP should have been reused")

    monkeypatch.setattr(CostMLP, "fit", no_training)
    again = validate_config(cfg).cost_model()
    assert all(np.array_equal(a, b) for a, b in zip(again(x), (energy, latency)))


def test_simulator_is_the_simulator(tmp_path, space) -> None:
    model = validate_config(compose_config("search", _tiny(tmp_path))).cost_model("simulator")
    x = space.sample(3, 1)
    assert all(np.array_equal(a, b) for a, b in zip(model(x), hw.evaluate(x, space=space)))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("cost_model._target_=spice", "cost_model._target_"),
        ("cost_model._target_=builtins.str", "cost_model._target_"),  # importable, but not a cost model
        ("+cost_model.bogus=1", "cost_model"),
        ("cost_model=mlp +cost_model.settings.hidden=0", "cost_model.settings.hidden"),
        ("cost_model=mlp +cost_model.settings.depth=3", "cost_model.settings.depth"),
    ],
)
def test_bad_cost_model_values(tmp_path, override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(compose_config("search", _tiny(tmp_path, *override.split()))).cost_model()
    assert info.value.key == key


class DoubledEnergy(SimulatorCostModel):
    """A reference cost of its own: the simulator with twice the energy (its fingerprint says so)."""

    def __call__(self, vectors):
        energy, latency = super().__call__(vectors)
        return 2 * energy, latency

    def evaluate_designs(self, designs):
        energy, latency = super().evaluate_designs(designs)
        return 2 * energy, latency

    def fingerprint(self):
        return {**super().fingerprint(), "energy_scale": 2}


def test_the_reference_cost_labels_the_samples_and_gives_the_final_figures(tmp_path, space) -> None:
    """reference_cost=<another model>: the GP's and MLP's labels and every final figure come from it, and its
    samples are cached under a key of their own."""
    default = validate_config(compose_config("search", _tiny(tmp_path)))
    doubled = validate_config(
        compose_config("search", _tiny(tmp_path, f"reference_cost._target_={__name__}.DoubledEnergy"))
    )
    (train, test), (train2, test2) = default.hw.samples(progress=False), doubled.hw.samples(progress=False)
    assert np.array_equal(train.vectors, train2.vectors) and train.key != train2.key
    np.testing.assert_allclose(train2.energy_mj, 2 * train.energy_mj)
    np.testing.assert_array_equal(test2.latency_ms, test.latency_ms)
    x = space.sample(4, 3)
    np.testing.assert_allclose(doubled.reference_cost()(x)[0], 2 * default.reference_cost()(x)[0])
    assert len(list((tmp_path / "samples").glob("*.npz"))) == 2


def test_a_reference_cost_must_cost_designs(tmp_path) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(
            compose_config("search", _tiny(tmp_path, "reference_cost._target_=yoso.predictor.cost.GPCostModel"))
        )
    assert err.value.key == "reference_cost._target_"
