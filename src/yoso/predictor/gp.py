"""Exact Gaussian-process regression (gpytorch) with a scaled ARD RBF kernel, one GP per target.

The hardware predictor of paper §II.F: inputs are the fixed-length candidate features,
targets are log-energy and log-latency. Both targets are fitted at once as a batch of
independent GPs (gpytorch batch mode) on standardised inputs and targets. Training is in
two steps so that it stays practical on a few CPU cores:

1. the hyperparameters (mean, ARD lengthscales, output scale, noise) maximise the exact
   marginal likelihood of a random ``subset`` of the training points (Cholesky, float64,
   L-BFGS or Adam for ``iterations`` steps);
2. the posterior is then conditioned on *all* training points with those hyperparameters:
   the same gpytorch model in eval mode (exact: Cholesky at any size; its caches, the
   posterior weights and the inverse root of the kernel matrix, are kept between predictions).
"""

from __future__ import annotations

import copy
import math
from contextlib import ExitStack
from dataclasses import asdict, dataclass

import gpytorch
import numpy as np
import torch
from linear_operator.utils.errors import NotPSDError

from yoso.predictor.settings import MEANS, OPTIMIZERS, GPSettings

#: Predictions of at most this many rows run on one torch thread.
SMALL_BATCH = 64

__all__ = ["GPRegressor", "GPSettings", "MEANS", "OPTIMIZERS", "Standardizer"]


class _BatchExactGP(gpytorch.models.ExactGP):
    """``t`` independent exact GPs sharing training inputs: constant or linear mean, scaled ARD RBF kernel."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, likelihood: gpytorch.likelihoods.Likelihood, mean: str):
        super().__init__(x, y, likelihood)
        batch = torch.Size([y.shape[0]])
        if mean == "linear":
            self.mean_module = gpytorch.means.LinearMean(x.shape[-1], batch_shape=batch)
        else:
            self.mean_module = gpytorch.means.ConstantMean(batch_shape=batch)
        self.covar_module = gpytorch.kernels.ScaleKernel(
            gpytorch.kernels.RBFKernel(ard_num_dims=x.shape[-1], batch_shape=batch), batch_shape=batch
        )

    def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


@dataclass
class Standardizer:
    """Per-column affine map to zero mean and unit variance (constant columns keep scale 1)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardizer:
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
        return cls(mean, np.where(scale > 1e-12, scale, 1.0))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.scale

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.scale + self.mean


class GPRegressor:
    """Multi-target exact GP regressor: ``fit(X, Y)``, ``predict(X) -> (mean, std)`` per target column."""

    def __init__(self, settings: GPSettings | None = None, **overrides: object):
        self.settings = settings or GPSettings(**overrides)  # type: ignore[arg-type]
        self.model: _BatchExactGP | None = None
        self.fit_seconds = math.nan

    # ----------------------------------------------------------------- training

    def fit(self, x: np.ndarray, y: np.ndarray) -> GPRegressor:
        """Fit hyperparameters on a subset by marginal likelihood, then condition on all of ``x, y`` (``(n, t)``)."""
        import time

        start = time.perf_counter()
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
            raise ValueError(f"need X of shape (n, d) and Y of shape (n, t) with n >= 2, got {x.shape} and {y.shape}")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("training inputs and targets must be finite")
        s = self.settings
        self.x_scaler, self.y_scaler = Standardizer.fit(x), Standardizer.fit(y)
        xs, ys = self.x_scaler(x), self.y_scaler(y)
        rng = np.random.default_rng(s.seed)
        idx = np.sort(rng.choice(len(x), s.subset, replace=False)) if len(x) > s.subset else np.arange(len(x))
        hyper = self._fit_hyper(xs[idx], ys[idx])
        self._raw = (x, y)
        self._condition(xs, ys, hyper)
        self.fit_seconds = time.perf_counter() - start
        return self

    def _model(self, xs: np.ndarray, ys: np.ndarray) -> _BatchExactGP:
        """The batch of GPs on standardised inputs ``(n, d)`` and targets ``(n, t)`` (float64, default hyperparameters)."""
        tx = torch.as_tensor(xs)
        ty = torch.as_tensor(ys).T.contiguous()
        t = ty.shape[0]
        likelihood = gpytorch.likelihoods.GaussianLikelihood(
            batch_shape=torch.Size([t]), noise_constraint=gpytorch.constraints.GreaterThan(self.settings.noise_floor)
        )
        return _BatchExactGP(tx.expand(t, *tx.shape), ty, likelihood, self.settings.mean).double()

    def _fit_hyper(self, xs: np.ndarray, ys: np.ndarray) -> dict[str, torch.Tensor]:
        """The hyperparameters (the model's state dict) of the best marginal likelihood met on ``xs, ys``."""
        s = self.settings
        torch.manual_seed(s.seed)
        model = self._model(xs, ys)
        ty, t = model.train_targets, model.train_targets.shape[0]
        model.covar_module.base_kernel.lengthscale = math.sqrt(xs.shape[1])  # a smooth start in many dimensions
        model.train()
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(model.likelihood, model)
        params = list(model.parameters())

        def loss_fn() -> torch.Tensor:
            return -mll(model(*model.train_inputs), ty).sum()

        with gpytorch.settings.max_cholesky_size(10**9), gpytorch.settings.cholesky_max_tries(6):
            best: dict = {"loss": math.inf, "state": copy.deepcopy(model.state_dict())}

            def evaluate() -> torch.Tensor:
                loss = loss_fn()
                if float(loss.detach()) < best["loss"]:
                    best["loss"], best["state"] = float(loss.detach()), copy.deepcopy(model.state_dict())
                return loss

            try:
                if s.optimizer == "lbfgs" and s.iterations:
                    opt = torch.optim.LBFGS(
                        params, lr=1.0, max_iter=s.iterations, history_size=20, line_search_fn="strong_wolfe"
                    )

                    def closure() -> torch.Tensor:
                        opt.zero_grad()
                        loss = evaluate()
                        loss.backward()
                        return loss

                    opt.step(closure)
                else:
                    opt = torch.optim.Adam(params, lr=s.lr)
                    for _ in range(s.iterations):
                        opt.zero_grad()
                        evaluate().backward()
                        opt.step()
            except NotPSDError:  # a line search may step where the kernel is numerically singular: stop there
                pass
            # the best hyperparameters met (L-BFGS line searches may end elsewhere)
            model.load_state_dict(best["state"])
            with torch.no_grad():
                self.final_loss = float(loss_fn()) / (len(xs) * t)
        return best["state"]

    # ----------------------------------------------------------------- posterior

    @torch.no_grad()
    def _condition(self, xs: np.ndarray, ys: np.ndarray, hyper: dict[str, torch.Tensor]) -> None:
        """The posterior given all (standardised) training points: the model with ``hyper``, in eval mode."""
        model = self._model(xs, ys)
        model.load_state_dict(hyper)
        self.model = model.eval()

    @torch.no_grad()
    def predict(
        self, x: np.ndarray, return_std: bool = True, chunk: int = 2048
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Posterior predictive mean and standard deviation (noise included), each ``(n, t)``, in target units."""
        if self.model is None:
            raise RuntimeError("GPRegressor.predict called before fit or load")
        xs = torch.as_tensor(self.x_scaler(np.atleast_2d(np.asarray(x, dtype=np.float64))))
        if len(xs) <= SMALL_BATCH and torch.get_num_threads() > 1:
            # a few rows are microseconds of work: thread hand-offs cost more, much more on busy cores
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self.predict(x, return_std, chunk)
            finally:
                torch.set_num_threads(threads)
        t = len(self.y_scaler.mean)
        means, stds = [], []
        with ExitStack() as stack:
            # exact at any size (Cholesky); fast_pred_var caches the kernel matrix's inverse root (exact via
            # Cholesky), so a prediction costs O(n) per candidate and target after the first
            stack.enter_context(gpytorch.settings.max_cholesky_size(10**9))
            stack.enter_context(gpytorch.settings.cholesky_max_tries(6))
            stack.enter_context(
                gpytorch.settings.fast_pred_var() if return_std else gpytorch.settings.skip_posterior_variances()
            )
            for i in range(0, len(xs), chunk):
                xc = xs[i : i + chunk]
                posterior = self.model.likelihood(self.model(xc.expand(t, *xc.shape)))
                means.append(posterior.mean.T)
                if return_std:
                    stds.append(posterior.variance.clamp_min(1e-12).sqrt().T)
        mean = self.y_scaler.inverse(torch.cat(means).numpy()) if means else np.zeros((0, t))
        if not return_std:
            return mean, None
        std = (torch.cat(stds).numpy() if stds else np.zeros_like(mean)) * self.y_scaler.scale
        return mean, std

    # ----------------------------------------------------------------- persistence

    def state_dict(self) -> dict:
        """Everything needed to predict again: training data, scalers, the gpytorch model's parameters, settings."""
        if self.model is None:
            raise RuntimeError("nothing to save: fit the GPRegressor first")
        return {
            "x": self._raw[0],
            "y": self._raw[1],
            "scalers": {"x": asdict(self.x_scaler), "y": asdict(self.y_scaler)},
            "model": {k: v.numpy() for k, v in self.model.state_dict().items()},
            "settings": asdict(self.settings),
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> GPRegressor:
        """Rebuild a fitted regressor without retraining (the Cholesky factorisation is redone on first prediction)."""
        reg = cls(GPSettings(**state["settings"]))
        x, y = np.asarray(state["x"], dtype=np.float64), np.asarray(state["y"], dtype=np.float64)
        reg.x_scaler, reg.y_scaler = (
            Standardizer(**{k: np.asarray(v) for k, v in state["scalers"][n].items()}) for n in ("x", "y")
        )
        reg._raw = (x, y)
        reg._condition(reg.x_scaler(x), reg.y_scaler(y), {k: torch.as_tensor(v) for k, v in state["model"].items()})
        return reg
