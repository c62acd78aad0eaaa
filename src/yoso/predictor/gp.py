"""The project's one Gaussian-process stack: botorch's ``SingleTaskGP`` built by :func:`make_gp` and fitted by
:func:`fit_gp` (``fit_gpytorch_mll``), used by the qNEHVI strategy (:mod:`yoso.search.bo`) and by the hardware
predictor (:class:`GPRegressor` in :mod:`yoso.predictor.hardware`, the comparison of :mod:`yoso.app.compare`).

The model: ``Standardize`` outcomes, optionally ``Normalize`` inputs (fixed bounds: :func:`data_bounds`), a
constant or linear mean, a noise variance bounded below by ``noise_floor``; several outcome columns make one
batched multi-output GP (independent outputs, each with its own hyperparameters). By default the kernel and
likelihood are botorch's (an ARD RBF kernel with the dimension-scaled lengthscale prior, the LogNormal noise prior
of Hvarfner et al. 2024, bounds enforced by L-BFGS-B): the BO strategy's model, botorch's default SingleTaskGP.

The hardware predictor of paper §II.F (:class:`GPRegressor`): inputs are the fixed-length candidate features,
targets are log-energy and log-latency: ``Normalize`` inputs, ``Standardize(m=2)`` outcomes, a scaled ARD RBF
kernel without priors (lengthscales starting at sqrt(d); on its ~300 features the priors cost held-out accuracy).
Training is in two steps so that it stays practical on a few CPU cores (:func:`fit_on_subset`):

1. the transforms take the statistics of *all* training points: the full-data model is built first (its
   ``Standardize`` learns the means and stds of all targets, its ``Normalize`` has the bounds of all inputs); the
   hyperparameters (mean, output scale, ARD lengthscales, noise) maximise the exact marginal likelihood of a random
   ``subset`` of the points, on a subset model with the same fixed ``Normalize`` bounds and, as targets, the
   full-data standardised targets of its rows (no outcome transform of its own);
2. the full-data model loads the subset model's state dict (every key but its own ``Standardize``): the posterior
   is conditioned on all points (exact, Cholesky at any size; in eval mode its caches, the posterior weights and
   the inverse root of the kernel matrix, are kept between predictions).

:class:`GPSettings` maps onto the fit: ``optimizer="adam"`` is botorch's ``fit_gpytorch_mll_torch`` with
``torch.optim.Adam(lr=lr)`` for exactly ``iterations`` steps, on softplus-bounded parameters; ``"lbfgs"`` is
``fit_gpytorch_mll``'s scipy L-BFGS-B with ``maxiter=iterations``, on parameters it bounds itself (botorch's
parametrisation); ``mean`` picks ``ConstantMean`` or ``LinearMean``; ``noise_floor`` is the likelihood's
``GreaterThan`` noise constraint; ``seed`` draws the subset and seeds the torch RNG of the fit (inside
``torch.random.fork_rng``).
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import ExitStack
from dataclasses import asdict
from functools import partial
from typing import Any

import gpytorch
import numpy as np
import torch
from botorch.exceptions.warnings import InputDataWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.optim.fit import fit_gpytorch_mll_torch
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import RBFKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import ConstantMean, LinearMean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior

from yoso.predictor.settings import MEANS, OPTIMIZERS, GPSettings

#: Predictions of at most this many rows run on one torch thread.
SMALL_BATCH = 64
#: botorch's default lower bound of the inferred noise variance (standardised outcomes).
NOISE_FLOOR = 1e-4
#: Lower bounds of the lengthscales (botorch's, for numerical stability) and of the output scale.
LENGTHSCALE_FLOOR = 2.5e-2
OUTPUTSCALE_FLOOR = 1e-4

__all__ = [
    "GPRegressor",
    "GPSettings",
    "MEANS",
    "NOISE_FLOOR",
    "OPTIMIZERS",
    "data_bounds",
    "fit_gp",
    "fit_on_subset",
    "make_gp",
    "predict_gp",
]


def _greater_than(lower: float, softplus: bool, start: float) -> GreaterThan:
    """A lower bound: through softplus (an unconstrained raw parameter, for Adam), or enforced by the optimiser on
    the raw parameter itself (botorch's choice, for scipy's L-BFGS-B box constraints)."""
    if softplus:
        return GreaterThan(lower, initial_value=start)
    return GreaterThan(lower, transform=None, initial_value=start)


def _likelihood(batch_shape: torch.Size, noise_floor: float, priors: bool, softplus: bool) -> GaussianLikelihood:
    """Gaussian noise of variance at least ``noise_floor``, with botorch's LogNormal(-4, 1) prior or none."""
    prior = LogNormalPrior(loc=-4.0, scale=1.0) if priors else None
    start = max(math.exp(-5.0), 2 * noise_floor)  # the prior's mode (botorch's start), or above the floor
    return GaussianLikelihood(
        noise_prior=prior, batch_shape=batch_shape, noise_constraint=_greater_than(noise_floor, softplus, start)
    )


def _kernel(d: int, batch_shape: torch.Size, priors: bool, softplus: bool) -> RBFKernel | ScaleKernel | None:
    """botorch's default kernel (None: let SingleTaskGP build it), or the same with softplus-positive lengthscales
    (``priors``), or a scaled ARD RBF kernel without priors, lengthscales starting at sqrt(d) (smooth in many
    dimensions)."""
    if priors and not softplus:
        return None
    prior = LogNormalPrior(loc=math.sqrt(2) + math.log(d) * 0.5, scale=math.sqrt(3)) if priors else None
    rbf = RBFKernel(
        ard_num_dims=d,
        batch_shape=batch_shape,
        lengthscale_prior=prior,
        lengthscale_constraint=_greater_than(LENGTHSCALE_FLOOR, softplus, float(prior.mode) if prior else math.sqrt(d)),
    )
    if priors:
        return rbf
    return ScaleKernel(
        rbf, batch_shape=batch_shape, outputscale_constraint=_greater_than(OUTPUTSCALE_FLOOR, softplus, 1.0)
    )


def data_bounds(x: torch.Tensor) -> torch.Tensor:
    """``(2, d)`` column minima and maxima of ``x`` ``(n, d)``; a constant column gets the range ``[c, c + 1]``
    (it normalises to 0, where botorch's learnt ``Normalize`` would leave it at ``c``)."""
    low, high = x.amin(dim=-2), x.amax(dim=-2)
    return torch.stack([low, torch.where(high - low > 1e-12, high, low + 1.0)])


def make_gp(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    *,
    normalize: bool = False,
    bounds: torch.Tensor | None = None,
    standardize: bool = True,
    mean: str = "constant",
    noise_floor: float = NOISE_FLOOR,
    priors: bool = True,
    softplus: bool = False,
) -> SingleTaskGP:
    """A ``SingleTaskGP`` on ``train_x`` ``(n, d)`` and ``train_y`` ``(n, m)`` (``m > 1``: a batched multi-output GP).

    ``standardize``: ``Standardize(m)`` outcomes (learnt from ``train_y`` here); ``normalize``: ``Normalize(d)``
    inputs with fixed ``bounds`` ``(2, d)`` (default :func:`data_bounds` of ``train_x``). ``mean`` is
    ``"constant"`` or ``"linear"`` (in the transformed inputs); the noise variance stays above ``noise_floor``.
    ``priors``: botorch's default kernel and likelihood (an ARD RBF kernel with the dimension-scaled LogNormal
    lengthscale prior, the LogNormal(-4, 1) noise prior); else a scaled ARD RBF kernel (learnt output scale) and
    noise without priors, the lengthscales starting at sqrt(d): the hardware predictor's (more accurate on its
    ~300 features). ``softplus``: the lower bounds (noise floor, lengthscales >= 0.025) through softplus, the
    parametrisation Adam needs; else enforced by the optimiser, botorch's choice for scipy's L-BFGS-B.
    With the defaults the model is botorch's default ``SingleTaskGP(train_x, train_y)``.
    """
    if mean not in MEANS:
        raise ValueError(f"mean must be one of {MEANS}, got {mean!r}")
    if train_y.ndim != train_x.ndim:
        raise ValueError(f"train_y needs an outcome dimension like train_x: {tuple(train_y.shape)}")
    d, m = train_x.shape[-1], train_y.shape[-1]
    batch_shape = train_x.shape[:-2]
    aug_batch_shape = batch_shape + (torch.Size([m]) if m > 1 else torch.Size())
    input_transform = None
    if normalize:
        bounds = data_bounds(train_x) if bounds is None else bounds
        input_transform = Normalize(d=d, bounds=bounds.to(train_x), batch_shape=batch_shape)
    mean_module = (
        LinearMean(d, batch_shape=aug_batch_shape) if mean == "linear" else ConstantMean(batch_shape=aug_batch_shape)
    )
    return SingleTaskGP(
        train_x,
        train_y,
        likelihood=_likelihood(aug_batch_shape, noise_floor, priors, softplus),
        covar_module=_kernel(d, aug_batch_shape, priors, softplus),
        mean_module=mean_module,
        outcome_transform=Standardize(m=m, batch_shape=batch_shape) if standardize else None,
        input_transform=input_transform,
    )


def fit_gp(
    model: SingleTaskGP, iterations: int, optimizer: str = "lbfgs", lr: float = 0.1, seed: int | None = None
) -> SingleTaskGP:
    """Fit the hyperparameters of ``model`` by ``fit_gpytorch_mll`` (exact marginal likelihood); it ends in eval mode.

    ``"lbfgs"``: scipy L-BFGS-B (botorch's default) for at most ``iterations`` iterations; ``"adam"``:
    ``fit_gpytorch_mll_torch`` with Adam (``lr``) for ``iterations`` steps. The likelihood is exact (Cholesky at
    any size; importing botorch already raises gpytorch's limit to 4096 points). ``seed``: the torch RNG of the fit (prior
    samples of botorch's retries), inside ``fork_rng``; None uses the caller's. ``iterations=0`` keeps the initial
    hyperparameters. Optimiser warnings are silenced (botorch retries on the ones that matter).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if iterations <= 0:
        return model.eval()
    if optimizer == "lbfgs":
        kwargs: dict[str, Any] = {"optimizer_kwargs": {"options": {"maxiter": iterations}}}
    else:
        kwargs = {
            "optimizer": fit_gpytorch_mll_torch,
            "optimizer_kwargs": {
                "step_limit": iterations,
                "stopping_criterion": None,  # exactly `iterations` steps
                "optimizer": partial(torch.optim.Adam, lr=lr),
            },
        }
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        stack.enter_context(gpytorch.settings.max_cholesky_size(10**9))
        if seed is not None:
            stack.enter_context(torch.random.fork_rng(devices=[]))
            torch.manual_seed(seed)
        fit_gpytorch_mll(mll, **kwargs)
    return model.eval()


def _standardized_targets(model: SingleTaskGP) -> torch.Tensor:
    """The model's training targets as it sees them (outcome-transformed), ``(n, m)``."""
    y = model.train_targets
    return y.transpose(-1, -2) if model.num_outputs > 1 else y.unsqueeze(-1)


def _predictor_gp(x: torch.Tensor, y: torch.Tensor, settings: GPSettings, **options: Any) -> SingleTaskGP:
    """The hardware predictor's model (:func:`make_gp`): ``Normalize`` inputs, a scaled RBF kernel without priors,
    softplus-bounded parameters for Adam, bounds enforced by L-BFGS-B for it."""
    s = settings
    return make_gp(
        x,
        y,
        normalize=True,
        mean=s.mean,
        noise_floor=s.noise_floor,
        priors=False,
        softplus=s.optimizer == "adam",
        **options,
    )


def fit_on_subset(x: np.ndarray, y: np.ndarray, settings: GPSettings) -> SingleTaskGP:
    """The full-data GP on ``x`` ``(n, d)``, ``y`` ``(n, m)`` (``Normalize`` inputs, ``Standardize`` outcomes, both
    with full-data statistics) with the hyperparameters fitted on a random ``settings.subset`` of the rows; eval mode.
    """
    s = settings
    tx, ty = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    full = _predictor_gp(tx, ty, s)
    if len(x) <= s.subset:
        return fit_gp(full, s.iterations, s.optimizer, s.lr, seed=s.seed)
    rng = np.random.default_rng(s.seed)
    idx = torch.as_tensor(np.sort(rng.choice(len(x), s.subset, replace=False)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)  # a subset's standardised targets are only roughly so
        sub = _predictor_gp(
            tx[idx],
            _standardized_targets(full)[idx].detach(),  # standardised by the full data's means and stds
            s,
            bounds=data_bounds(tx),  # the full data's bounds, not the subset's
            standardize=False,
        )
    fit_gp(sub, s.iterations, s.optimizer, s.lr, seed=s.seed)
    state = sub.state_dict()
    differ = set(state) ^ {k for k in full.state_dict() if not k.startswith("outcome_transform.")}
    if differ:
        raise RuntimeError(f"the subset and full-data GPs differ in {sorted(differ)}")
    # all but the full model's own outcome transform; keep_transforms=False: its training targets stay as
    # standardised at construction (botorch's default would un- and re-standardise them, changing the last bits)
    full.load_state_dict(state, strict=False, keep_transforms=False)
    return full.eval()


@torch.no_grad()
def predict_gp(
    model: SingleTaskGP, x: np.ndarray, return_std: bool = True, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior predictive mean and standard deviation (observation noise included), each ``(n, m)``, in outcome
    units, by ``model.posterior`` over chunks of ``chunk`` rows; at most :data:`SMALL_BATCH` rows use one thread."""
    xs = torch.as_tensor(np.atleast_2d(np.asarray(x, dtype=np.float64)))
    if len(xs) <= SMALL_BATCH and torch.get_num_threads() > 1:
        # a few rows are microseconds of work: thread hand-offs cost more, much more on busy cores
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return predict_gp(model, xs.numpy(), return_std, chunk)
        finally:
            torch.set_num_threads(threads)
    m = model.num_outputs
    means, stds = [], []
    with ExitStack() as stack:
        # exact at any size (Cholesky); fast_pred_var caches the kernel matrix's inverse root (exact via
        # Cholesky), so after the first prediction a variance is a product with that root, not a solve
        stack.enter_context(gpytorch.settings.max_cholesky_size(10**9))
        stack.enter_context(gpytorch.settings.cholesky_max_tries(6))
        stack.enter_context(
            gpytorch.settings.fast_pred_var() if return_std else gpytorch.settings.skip_posterior_variances()
        )
        for i in range(0, len(xs), chunk):
            posterior = model.posterior(xs[i : i + chunk], observation_noise=return_std)
            means.append(posterior.mean.reshape(-1, m))
            if return_std:
                stds.append(posterior.variance.reshape(-1, m).clamp_min(1e-24).sqrt())
    mean = torch.cat(means).numpy() if means else np.zeros((0, m))
    if not return_std:
        return mean, None
    return mean, (torch.cat(stds).numpy() if stds else np.zeros_like(mean))


class GPRegressor:
    """Multi-target GP regressor, a thin fit/predict wrapper of the shared stack: ``fit(X, Y)`` (:func:`fit_on_subset`),
    ``predict(X) -> (mean, std)`` per column (:func:`predict_gp`), ``state_dict`` / ``from_state_dict`` as arrays."""

    def __init__(self, settings: GPSettings | None = None, **overrides: object):
        self.settings = settings or GPSettings(**overrides)  # type: ignore[arg-type]
        self.model: SingleTaskGP | None = None
        self.fit_seconds = math.nan

    def fit(self, x: np.ndarray, y: np.ndarray) -> GPRegressor:
        """Fit hyperparameters on a subset by marginal likelihood, then condition on all of ``x, y`` (``(n, t)``)."""
        start = time.perf_counter()
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
            raise ValueError(f"need X of shape (n, d) and Y of shape (n, t) with n >= 2, got {x.shape} and {y.shape}")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("training inputs and targets must be finite")
        self.model = fit_on_subset(x, y, self.settings)
        self._raw = (x, y)
        self.fit_seconds = time.perf_counter() - start
        return self

    def predict(
        self, x: np.ndarray, return_std: bool = True, chunk: int = 2048
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Posterior predictive mean and standard deviation (noise included), each ``(n, t)``, in target units."""
        if self.model is None:
            raise RuntimeError("GPRegressor.predict called before fit or load")
        return predict_gp(self.model, x, return_std, chunk)

    # ----------------------------------------------------------------- persistence

    def state_dict(self) -> dict:
        """Everything needed to predict again, as numpy arrays and plain data: training data, the SingleTaskGP's
        state dict (hyperparameters and transforms), settings."""
        if self.model is None:
            raise RuntimeError("nothing to save: fit the GPRegressor first")
        return {
            "x": self._raw[0],
            "y": self._raw[1],
            "model": {k: v.detach().numpy() for k, v in self.model.state_dict().items()},
            "settings": asdict(self.settings),
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> GPRegressor:
        """Rebuild a fitted regressor without retraining: the SingleTaskGP on the saved ``x, y`` loads the saved
        state dict (the Cholesky factorisation is redone on first prediction)."""
        reg = cls(GPSettings(**state["settings"]))
        x, y = np.asarray(state["x"], dtype=np.float64), np.asarray(state["y"], dtype=np.float64)
        s = reg.settings
        model = _predictor_gp(torch.as_tensor(x), torch.as_tensor(y), s)
        # the transforms rebuilt on the same x, y hold the saved statistics: load as is, bit for bit the fitted model
        model.load_state_dict({k: torch.as_tensor(v) for k, v in state["model"].items()}, keep_transforms=False)
        reg.model, reg._raw = model.eval(), (x, y)
        return reg
