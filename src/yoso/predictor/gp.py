"""Exact Gaussian-process regression (gpytorch) with a scaled ARD RBF kernel, one GP per target.

The hardware predictor of paper §II.F: inputs are the fixed-length candidate features,
targets are log-energy and log-latency. Both targets are fitted at once as a batch of
independent GPs (gpytorch batch mode) on standardised inputs and targets. Training is in
two steps so that it stays practical on a few CPU cores:

1. the hyperparameters (mean, ARD lengthscales, output scale, noise) maximise the exact
   marginal likelihood of a random ``subset`` of the training points (Cholesky, float64,
   L-BFGS or Adam for ``iterations`` steps);
2. the posterior is then conditioned on *all* training points with those hyperparameters
   (one Cholesky factorisation per target, kept for prediction).
"""

from __future__ import annotations

import copy
import math
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
    def fit(cls, values: np.ndarray) -> "Standardizer":
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
        return cls(mean, np.where(scale > 1e-12, scale, 1.0))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.scale

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.scale + self.mean


@dataclass
class Hyper:
    """Fitted hyperparameters per target (leading axis ``t``): mean weights and bias, lengthscales, scale, noise."""

    weights: np.ndarray  # (t, d); zeros for a constant mean
    bias: np.ndarray  # (t,)
    lengthscale: np.ndarray  # (t, d)
    outputscale: np.ndarray  # (t,)
    noise: np.ndarray  # (t,)


class GPRegressor:
    """Multi-target exact GP regressor: ``fit(X, Y)``, ``predict(X) -> (mean, std)`` per target column."""

    def __init__(self, settings: GPSettings | None = None, **overrides: object):
        self.settings = settings or GPSettings(**overrides)  # type: ignore[arg-type]
        self.hyper: Hyper | None = None
        self.fit_seconds = math.nan

    # ----------------------------------------------------------------- training

    def fit(self, x: np.ndarray, y: np.ndarray) -> "GPRegressor":
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
        self.hyper = self._fit_hyper(xs[idx], ys[idx])
        self._raw = (x, y)
        self._condition(xs, ys)
        self.fit_seconds = time.perf_counter() - start
        return self

    def _fit_hyper(self, xs: np.ndarray, ys: np.ndarray) -> Hyper:
        s = self.settings
        torch.manual_seed(s.seed)
        tx = torch.as_tensor(xs)
        ty = torch.as_tensor(ys).T.contiguous()
        t = ty.shape[0]
        likelihood = gpytorch.likelihoods.GaussianLikelihood(
            batch_shape=torch.Size([t]), noise_constraint=gpytorch.constraints.GreaterThan(s.noise_floor)
        )
        model = _BatchExactGP(tx.expand(t, *tx.shape), ty, likelihood, s.mean).double()
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
                    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=s.iterations, history_size=20,
                                            line_search_fn="strong_wolfe")  # fmt: skip

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
        with torch.no_grad():
            d = xs.shape[1]
            if s.mean == "linear":
                weights = model.mean_module.weights.reshape(t, d).numpy().copy()
                bias = model.mean_module.bias.reshape(t).numpy().copy()
            else:
                weights, bias = np.zeros((t, d)), model.mean_module.constant.reshape(t).numpy().copy()
            return Hyper(
                weights=weights,
                bias=bias,
                lengthscale=model.covar_module.base_kernel.lengthscale.reshape(t, d).numpy().copy(),
                outputscale=model.covar_module.outputscale.reshape(t).numpy().copy(),
                noise=model.likelihood.noise.reshape(t).numpy().copy(),
            )

    # ----------------------------------------------------------------- posterior

    def _kernel(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        """``(t, len(a), n)`` scaled RBF kernel between standardised inputs ``a`` and ``b`` (default: the training inputs)."""
        h = self._h
        a = a.unsqueeze(0) / h["ls"]
        if b is None:
            b, b_sq = self._x_ls, self._x_ls_sq
        else:
            b = b.unsqueeze(0) / h["ls"]
            b_sq = (b * b).sum(-1)
        sq = (a * a).sum(-1, keepdim=True) - 2 * a @ b.transpose(-1, -2) + b_sq.unsqueeze(-2)
        return h["scale"][:, None, None] * torch.exp(-0.5 * sq.clamp_min(0))

    def _mean(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self._h["w"].T + self._h["b"]  # (n, t)

    @torch.no_grad()
    def _condition(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Cholesky factor and weights of the posterior given all (standardised) training points."""
        h = self.hyper
        assert h is not None
        self._h = {"w": torch.as_tensor(h.weights), "b": torch.as_tensor(h.bias), "ls": torch.as_tensor(h.lengthscale)[:, None, :],
                   "scale": torch.as_tensor(h.outputscale), "noise": torch.as_tensor(h.noise)}  # fmt: skip
        self._x = torch.as_tensor(xs)
        self._x_ls = self._x.unsqueeze(0) / self._h["ls"]  # (t, n, d): training inputs over the lengthscales
        self._x_ls_sq = (self._x_ls * self._x_ls).sum(-1)
        self._y = ys
        k = self._kernel(self._x)
        k.diagonal(dim1=-2, dim2=-1).add_(self._h["noise"][:, None])
        jitter = 0.0
        for _ in range(6):
            chol, info = torch.linalg.cholesky_ex(k)
            if not info.any():
                break
            jitter = max(jitter * 10, 1e-8)
            k.diagonal(dim1=-2, dim2=-1).add_(jitter)
        else:
            raise RuntimeError("GP kernel matrix is not positive definite even with jitter")
        resid = (torch.as_tensor(ys) - self._mean(self._x)).T.unsqueeze(-1)  # (t, n, 1)
        self._chol = chol
        self._alpha = torch.cholesky_solve(resid, chol)  # (t, n, 1)

    @torch.no_grad()
    def predict(self, x: np.ndarray, return_std: bool = True, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray | None]:
        """Posterior predictive mean and standard deviation (noise included), each ``(n, t)``, in target units."""
        if self.hyper is None:
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
        means, stds = [], []
        for i in range(0, len(xs), chunk):
            xc = xs[i : i + chunk]
            ks = self._kernel(xc)  # (t, m, n)
            means.append(self._mean(xc) + (ks @ self._alpha).squeeze(-1).T)
            if return_std:
                v = torch.linalg.solve_triangular(self._chol, ks.transpose(-1, -2), upper=False)  # (t, n, m)
                var = self._h["scale"][:, None] - (v * v).sum(-2) + self._h["noise"][:, None]
                stds.append(var.clamp_min(1e-12).sqrt().T)
        mean = self.y_scaler.inverse(torch.cat(means).numpy()) if means else np.zeros((0, len(self.y_scaler.mean)))
        if not return_std:
            return mean, None
        std = (torch.cat(stds).numpy() if stds else np.zeros_like(mean)) * self.y_scaler.scale
        return mean, std

    # ----------------------------------------------------------------- persistence

    def state_dict(self) -> dict:
        """Everything needed to predict again: training data, scalers, hyperparameters, settings."""
        if self.hyper is None:
            raise RuntimeError("nothing to save: fit the GPRegressor first")
        return {
            "x": self._raw[0],
            "y": self._raw[1],
            "scalers": {"x": asdict(self.x_scaler), "y": asdict(self.y_scaler)},
            "hyper": asdict(self.hyper),
            "settings": asdict(self.settings),
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> "GPRegressor":
        """Rebuild a fitted regressor without retraining (one Cholesky factorisation)."""
        reg = cls(GPSettings(**state["settings"]))
        x, y = np.asarray(state["x"], dtype=np.float64), np.asarray(state["y"], dtype=np.float64)
        reg.x_scaler, reg.y_scaler = (Standardizer(**{k: np.asarray(v) for k, v in state["scalers"][n].items()})
                                      for n in ("x", "y"))  # fmt: skip
        reg._raw = (x, y)
        reg.hyper = Hyper(**{k: np.asarray(v) for k, v in state["hyper"].items()})
        reg._condition(reg.x_scaler(x), reg.y_scaler(y))
        return reg
