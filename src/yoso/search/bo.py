"""Multi-objective Bayesian optimisation (qNEHVI, botorch) as a search strategy.

Design:

* Outcomes ``Y = (accuracy, -log energy_mj, -log latency_ms)``, all maximised; rows with a
  non-finite figure or a non-positive energy/latency are counted but kept out of the model.
* Inputs are the features of the ``featurizer`` it is handed: the hardware predictor's
  :class:`~yoso.predictor.features.FeatureEncoder` of the run's deployment macro and technology
  (``conf/strategy/qnehvi.yaml``; by default that of the default macro): one-hots plus deployment-network and accelerator quantities, ~280 columns),
  restricted to the columns that vary over the step's pool and observations, z-scored,
  projected on their first ``n_components`` principal components (a GP kernel over 280 ARD
  dimensions made fitting and every posterior ~10x slower) and scaled to the unit cube.
* Model: one batched multi-output ``SingleTaskGP`` (float64, ``Standardize(m=3)`` outcomes, botorch's
  default kernel and priors) built by :func:`yoso.predictor.gp.make_gp`, the GP stack it shares with the
  hardware predictor, and refitted by ``fit_gpytorch_mll`` (:func:`~yoso.predictor.gp.fit_gp`, L-BFGS-B) at
  every acquisition step; ``max_train`` caps its training
  set (the best non-dominated layers first, then the most recent points).
* Acquisition: ``qLogNoisyExpectedHypervolumeImprovement``, the numerically stable (log)
  form of qNEHVI that botorch recommends over ``qNoisyExpectedHypervolumeImprovement``, with
  the reference point ``(0, -log t_eer_mj, -log t_lat_ms)`` from the run's thresholds (or
  the observed nadir minus a 10% margin without constraints), ``X_baseline`` the observed
  inputs (pruned) and a seeded Sobol sampler. With hard constraints the thresholds are
  outcome constraints ``log e - log t_eer <= 0`` and ``log l - log t_lat <= 0``.
* Search space: the joint space is discrete and huge, so every step draws a fresh pool of
  ``pool_size`` uniform candidates and ``optimize_acqf_discrete`` picks ``q`` of them
  (sequential greedy, distinct) among a ``shortlist`` of the pool: the candidates whose
  optimistic outcomes (posterior mean + std) lie in the best Pareto layers, since every
  qLogNEHVI evaluation recomputes the joint posterior with the whole baseline. The first
  ``initial_samples`` candidates are uniform.
* Determinism: all randomness comes from the strategy's numpy RNG (pool, sampler seed) and
  from a torch seed derived from ``seed`` and the observation count, applied inside
  ``torch.random.fork_rng`` (the global torch RNG is left alone); the model is refitted from
  the stored observations, so a resumed run asks exactly what an uninterrupted one would.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from yoso.config import ConfigError, check_float, check_int
from yoso.predictor.features import FeatureEncoder
from yoso.search.strategy import Evaluation, Strategy
from yoso.space.joint import JointSpace

log = logging.getLogger("yoso")

#: Number of modelled outcomes: accuracy, -log energy, -log latency.
NUM_OUTCOMES = 3


def outcomes(results: Evaluation) -> np.ndarray:
    """``(n, 3)`` maximised outcomes ``(accuracy, -log energy_mj, -log latency_ms)``; NaN where undefined."""
    acc = np.asarray(results.accuracy, dtype=np.float64)
    eer = np.asarray(results.energy_mj, dtype=np.float64)
    lat = np.asarray(results.latency_ms, dtype=np.float64)
    with np.errstate(all="ignore"):
        y = np.stack([acc, -np.log(np.where(eer > 0, eer, np.nan)), -np.log(np.where(lat > 0, lat, np.nan))], axis=1)
    return np.where(np.isfinite(y), y, np.nan)


def non_dominated_ranks(y: np.ndarray) -> np.ndarray:
    """Pareto layer of each row of maximised outcomes (0: non-dominated)."""
    from botorch.utils.multi_objective.pareto import is_non_dominated

    ranks = np.full(len(y), -1, dtype=np.int64)
    left = np.arange(len(y))
    layer = 0
    while len(left):
        front = is_non_dominated(torch.as_tensor(y[left]), deduplicate=False).numpy()
        ranks[left[front]] = layer
        left = left[~front]
        layer += 1
    return ranks


class QNEHVIStrategy(Strategy):
    """Multi-objective BO: a multi-output GP on hardware features and qLogNEHVI over a random candidate pool.

    ``featurizer(space)`` gives the feature encoder of candidates (the GP's inputs).
    """

    name = "qnehvi"

    def __init__(
        self,
        space: JointSpace,
        seed: int = 0,
        batch_size: int = 8,  # q: candidates chosen jointly per step (sequential greedy)
        pool_size: int = 1000,  # fresh uniform candidates scored per step (CPU-sized: encoding 2000 costs ~2.7 s)
        initial_samples: int = 16,  # uniform random candidates before the first model fit
        mc_samples: int = 32,  # Sobol QMC samples of the acquisition (CPU-sized: greedy batch bookkeeping scales with it)
        max_train: int = 200,  # cap on GP training points (best Pareto layers, then newest); 0: all (fit ~O(n^3))
        fit_iterations: int = 100,  # L-BFGS iterations of the GP hyperparameter fit
        n_components: int = 32,  # GP inputs: PCA of the z-scored features to this many dimensions (0: all)
        shortlist: int = 128,  # pool candidates (best Pareto layers of mean + std) that qLogNEHVI scores jointly
        eta: float = 1e-3,  # temperature of the smoothed outcome constraints (hard constraints only)
        featurizer: Callable[[JointSpace], FeatureEncoder] = FeatureEncoder,
    ):
        super().__init__(space, seed)
        self.batch_size = check_int("strategy.batch_size", batch_size, 1, 256)
        self.pool_size = check_int("strategy.pool_size", pool_size, 1)
        if self.pool_size < self.batch_size:
            raise ConfigError("strategy.pool_size", pool_size, f"an integer >= strategy.batch_size ({self.batch_size})")
        self.initial_samples = check_int("strategy.initial_samples", initial_samples, 2)
        self.mc_samples = check_int("strategy.mc_samples", mc_samples, 1, 4096)
        self.max_train = check_int("strategy.max_train", max_train, 0)
        if 0 < self.max_train < 2:
            raise ConfigError("strategy.max_train", max_train, "0 (no cap) or an integer >= 2")
        self.fit_iterations = check_int("strategy.fit_iterations", fit_iterations, 1)
        self.n_components = check_int("strategy.n_components", n_components, 0)
        self.shortlist = check_int("strategy.shortlist", shortlist, 1)
        if self.shortlist < self.batch_size:
            raise ConfigError("strategy.shortlist", shortlist, f"an integer >= strategy.batch_size ({self.batch_size})")
        self.eta = check_float("strategy.eta", eta, greater_than=0.0)
        self.encoder = featurizer(space)  # the GP's input features of a candidate
        self.rng = np.random.default_rng(self.seed_sequence())
        self.vectors = np.zeros((0, len(space)), dtype=np.int64)
        self.y = np.zeros((0, NUM_OUTCOMES))
        self._features = np.zeros((0, len(self.encoder.spec)))
        self.last_fit_s = 0.0
        self.last_ask_s = 0.0

    # ----------------------------------------------------------------- ask

    def ask(self, n: int) -> np.ndarray:
        if not 1 <= int(n) <= self.batch_size:
            raise ValueError(f"qnehvi asks 1 to batch_size={self.batch_size} candidates at a time, not {n}")
        n = int(n)
        valid = np.asarray(np.isfinite(self.y).all(axis=1))
        if len(self.vectors) < self.initial_samples or valid.sum() < 2:
            return self.space.sample(n, self.rng)
        start = time.perf_counter()
        pool = self._pool()
        sampler_seed = int(self.rng.integers(2**31 - 1))
        torch_seed = int(np.random.SeedSequence([self.seed, len(self.vectors)]).generate_state(1)[0])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)
            chosen = self._acquire(pool, valid, n, sampler_seed)
        self.last_ask_s = time.perf_counter() - start
        return pool[chosen]

    def _pool(self) -> np.ndarray:
        """``pool_size`` fresh uniform candidates, distinct and not yet observed (first occurrence order)."""
        pool = self.space.sample(self.pool_size, self.rng)
        _, first = np.unique(pool, axis=0, return_index=True)
        pool = pool[np.sort(first)]
        seen = {row.tobytes() for row in self.vectors}
        return pool[[row.tobytes() not in seen for row in pool]]

    def _train_rows(self, valid: np.ndarray) -> np.ndarray:
        """Indices of the observations the GP is trained on: all valid ones, or ``max_train`` of the best and newest."""
        rows = np.flatnonzero(valid)
        if not self.max_train or len(rows) <= self.max_train:
            return rows
        ranks = non_dominated_ranks(self.y[rows])
        order = np.lexsort((-rows, ranks))  # Pareto layer first, then the most recent
        return np.sort(rows[order[: self.max_train]])

    def _acquire(self, pool: np.ndarray, valid: np.ndarray, n: int, sampler_seed: int) -> np.ndarray:
        """Indices into ``pool`` of the ``n`` candidates qLogNEHVI picks."""
        from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
        from botorch.optim import optimize_acqf_discrete
        from botorch.sampling import SobolQMCNormalSampler

        from yoso.predictor.gp import fit_gp, make_gp

        rows = self._train_rows(valid)
        obs_x, pool_x = self._inputs(self._features[rows], self.encoder(pool))
        train_x = torch.as_tensor(obs_x, dtype=torch.float64)
        train_y = torch.as_tensor(self.y[rows], dtype=torch.float64)
        pool_t = torch.as_tensor(pool_x, dtype=torch.float64)

        start = time.perf_counter()
        # inputs already in the unit cube (no Normalize); Standardize(m=3) outcomes; L-BFGS-B under the caller's seed
        model = fit_gp(make_gp(train_x, train_y), self.fit_iterations)
        self.last_fit_s = time.perf_counter() - start

        constraints = None
        if self.constraints is not None:
            log_eer, log_lat = np.log(self.constraints.t_eer_mj), np.log(self.constraints.t_lat_ms)
            ref_point = [0.0, -log_eer, -log_lat]
            if self.hard_constraints:
                constraints = [lambda z: -z[..., 1] - log_eer, lambda z: -z[..., 2] - log_lat]
        else:
            y = self.y[rows]
            nadir, span = y.min(axis=0), y.max(axis=0) - y.min(axis=0)
            ref_point = list(nadir - 0.1 * np.where(span > 0, span, 1.0))
        short = self._shortlist(model, pool_t, ref_point)
        choices = pool_t[short]
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples]), seed=sampler_seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            acq = qLogNoisyExpectedHypervolumeImprovement(
                model,
                ref_point=ref_point,
                X_baseline=train_x,
                sampler=sampler,
                constraints=constraints,
                eta=self.eta,
                prune_baseline=True,
            )
            picked, _ = optimize_acqf_discrete(acq, q=n, choices=choices, unique=True)
        match = (choices[None, :, :] == picked[:, None, :]).all(-1)
        return short[match.float().argmax(dim=1).numpy()]

    def _inputs(self, obs: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """GP inputs of observations and pool: varying columns, z-scored, PCA to ``n_components``, unit cube."""
        both = np.concatenate([obs, pool])
        mean, std = both.mean(axis=0), both.std(axis=0)
        keep = std > 1e-12
        z = (both[:, keep] - mean[keep]) / std[keep]
        if self.n_components and self.n_components < z.shape[1]:
            _, _, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
            vt = vt[: self.n_components]
            vt = vt * np.where(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]  # fixed signs
            z = z @ vt.T
        low, high = z.min(axis=0), z.max(axis=0)
        z = (z - low) / np.where(high > low, high - low, 1.0)
        return z[: len(obs)], z[len(obs) :]

    def _shortlist(self, model: Any, pool: torch.Tensor, ref_point: list[float]) -> np.ndarray:
        """Indices of the ``shortlist`` pool candidates whose optimistic outcomes (mean + std) rank best by Pareto layer.

        Every qLogNEHVI evaluation recomputes the joint posterior with the whole baseline, so it is
        run on this shortlist; points feasible (hard constraints) and above the reference point come first.
        """
        if len(pool) <= self.shortlist:
            return np.arange(len(pool))
        with torch.no_grad():
            post = model.posterior(pool)
            ucb = (post.mean + post.variance.clamp_min(0).sqrt()).numpy()
        bad = (ucb <= np.asarray(ref_point)).any(axis=1) if self.hard_constraints else np.zeros(len(pool), bool)
        ranks = non_dominated_ranks(ucb) + bad * len(pool)
        return np.sort(np.lexsort((np.arange(len(pool)), ranks))[: self.shortlist])

    # ----------------------------------------------------------------- tell / state

    def tell(self, candidates: np.ndarray, results: Evaluation) -> None:
        vectors = self.space.check(candidates)
        if len(vectors) != len(results):
            raise ValueError(f"{len(vectors)} candidates but {len(results)} results")
        self.vectors = np.concatenate([self.vectors, vectors])
        self.y = np.concatenate([self.y, outcomes(results)])
        self._features = np.concatenate([self._features, self.encoder(vectors)])

    def metrics(self) -> dict[str, float]:
        return {
            "bo/observations": float(len(self.vectors)),
            "bo/modelled": float(np.isfinite(self.y).all(axis=1).sum()),
            "bo/fit_s": self.last_fit_s,
            "bo/ask_s": self.last_ask_s,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "vectors": self.vectors.copy(), "y": self.y.copy()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.vectors = self.space.check(np.asarray(state["vectors"]).reshape(-1, len(self.space)))
        self.y = np.asarray(state["y"], dtype=np.float64).reshape(-1, NUM_OUTCOMES)
        if len(self.y) != len(self.vectors):
            raise ValueError(f"qnehvi state: {len(self.vectors)} vectors but {len(self.y)} outcome rows")
        self._features = self.encoder(self.vectors) if len(self.vectors) else np.zeros((0, len(self.encoder.spec)))
