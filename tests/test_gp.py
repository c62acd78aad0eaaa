"""The shared GP stack (yoso.predictor.gp): botorch's SingleTaskGP for the BO strategy and the hardware predictor."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from botorch.models import SingleTaskGP
from gpytorch.means import LinearMean

from yoso.predictor.gp import GPRegressor, data_bounds, fit_gp, fit_on_subset, make_gp
from yoso.predictor.settings import GPSettings

SMALL = GPSettings(subset=40, iterations=15)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """120 rows of 5 features (one constant) and two targets of different scales."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, size=(120, 5))
    x[:, 2] = 7.0
    y = np.stack([np.sin(x[:, 0]) + 0.5 * x[:, 1], 30 + 10 * x[:, 4] + 5 * np.cos(x[:, 3])], axis=1)
    return x, y


def test_make_gp_defaults_are_botorchs_default_model() -> None:
    """The BO strategy's model: with the defaults, make_gp is botorch's SingleTaskGP(x, y) (Standardize(m))."""
    x = torch.rand(20, 4, dtype=torch.float64)
    y = torch.randn(20, 3, dtype=torch.float64)
    ours, theirs = make_gp(x, y).state_dict(), SingleTaskGP(x, y).state_dict()
    assert sorted(ours) == sorted(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_fit_on_subset_conditions_on_all_points_with_full_data_transforms(data) -> None:
    x, y = data
    model = fit_on_subset(x, y, SMALL)
    assert isinstance(model, SingleTaskGP) and not model.training and model.num_outputs == 2
    assert model.train_inputs[0].shape[-2] == len(x)  # conditioned on all rows, not the subset
    # the transforms hold the statistics of all rows: Standardize(m=2) and Normalize (constant column -> [c, c + 1])
    assert np.allclose(model.outcome_transform.means.numpy().ravel(), y.mean(0))
    assert np.allclose(model.outcome_transform.stdvs.numpy().ravel(), y.std(0, ddof=1))
    assert torch.allclose(model.input_transform.bounds, data_bounds(torch.as_tensor(x)))
    assert model.input_transform.bounds[1, 2] - model.input_transform.bounds[0, 2] == 1.0
    lengthscale = model.covar_module.base_kernel.lengthscale
    assert not torch.allclose(lengthscale, torch.full_like(lengthscale, np.sqrt(x.shape[1])))  # fitted
    again = fit_on_subset(x, y, SMALL)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_regressor_predicts_in_target_units_and_round_trips(data) -> None:
    x, y = data
    reg = GPRegressor(SMALL).fit(x[:100], y[:100])
    mean, std = reg.predict(x[100:])
    assert mean.shape == std.shape == (20, 2) and (std > 0).all()
    assert (np.abs(mean - y[100:]).mean(0) < 0.6 * np.abs(y[100:] - y[:100].mean(0)).mean(0)).all()  # beats the mean
    # standardised outcomes: the same fit on targets scaled by 10 predicts 10x the mean and the std
    scaled = GPRegressor(SMALL).fit(x[:100], 10 * y[:100])
    mean10, std10 = scaled.predict(x[100:])
    assert np.allclose(mean10, 10 * mean) and np.allclose(std10, 10 * std)
    # no-pickle persistence: the arrays of the state dict rebuild the same predictions without a refit
    state = reg.state_dict()
    buffer = io.BytesIO()
    np.savez(buffer, **{f"model.{k}": v for k, v in state["model"].items()})
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as saved:
        state["model"] = {k.split(".", 1)[1]: saved[k] for k in saved.files}
    loaded = GPRegressor.from_state_dict(state)
    for a, b in zip(reg.predict(x[100:]), loaded.predict(x[100:])):
        assert np.array_equal(a, b)
    assert np.allclose(reg.predict(x[100:101], return_std=False)[0], mean[:1], rtol=1e-9)  # the one-thread path


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_settings_map_onto_the_model_and_fit(data, optimizer) -> None:
    x, y = data
    settings = GPSettings(subset=40, iterations=10, optimizer=optimizer, mean="linear", noise_floor=1e-2)
    model = fit_on_subset(x, y, settings)
    assert isinstance(model.mean_module, LinearMean)
    assert (model.likelihood.noise >= 1e-2 * (1 - 1e-6)).all()  # (the bound is stored in float32)
    constraint = model.likelihood.noise_covar.raw_noise_constraint
    # Adam steps a softplus-transformed noise; L-BFGS-B enforces the bound on the noise itself (botorch's way)
    assert constraint.enforced == (optimizer == "adam")


def test_zero_iterations_keep_the_initial_hyperparameters(data) -> None:
    x, y = data
    model = make_gp(torch.as_tensor(x[:30]), torch.as_tensor(y[:30]), normalize=True, priors=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit_gp(model, 0)
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
