"""A stand-alone accuracy predictor (started for issue 29): a genotype's features -> a GP on stand-alone accuracy.

Trained on the accuracy table (:mod:`yoso.bench`), it predicts the accuracy a network reaches when trained
stand-alone at the table's budget, with a predictive standard deviation, on the one GP stack
(:mod:`yoso.predictor.gp`). The features are few and dense, because a table holds hundreds of architectures,
not thousands: each cell type's op counts, the macro's width and depth, and the log of the network's
multiply-accumulates on the deployment macro (its capacity), optionally the HyperNet's accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from yoso.config import ConfigError, check_int
from yoso.hw.layers import Deploy, deployment_layers
from yoso.predictor.gp import fit_gp, make_gp, predict_gp
from yoso.space.genotype import CELL_TYPES, Genotype


@dataclass(frozen=True)
class AccuracyFeatures:
    """``features(genotypes) -> (n, d)``: op counts per cell type (``ops`` order), width, depth, log MACs."""

    ops: tuple[str, ...]
    deploy: Deploy = Deploy()

    @property
    def names(self) -> tuple[str, ...]:
        counts = tuple(f"{cell}.{op}" for cell in CELL_TYPES for op in self.ops)
        return (*counts, "width", "depth", "log_macs")

    def __call__(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        rows = []
        for g in genotypes:
            counts = [sum(op == name for op, _ in g.edges(cell)) for cell in CELL_TYPES for name in self.ops]
            macs = sum(layer.macs for layer in deployment_layers(g, self.deploy, names=False))
            rows.append([*counts, g.width, g.depth, np.log(max(macs, 1))])
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(self.names))


class AccuracyPredictor:
    """A GP (botorch's ``SingleTaskGP``, normalised inputs, standardised outcome) on stand-alone accuracy."""

    def __init__(self, features: AccuracyFeatures, iterations: int = 200, seed: int = 0):
        self.features, self.iterations, self.seed = features, iterations, seed
        self.model: Any = None  # a fitted botorch SingleTaskGP

    def fit(
        self, genotypes: Sequence[Genotype], accuracy: Sequence[float], extra: np.ndarray | None = None
    ) -> AccuracyPredictor:
        """Fit on ``genotypes`` and their stand-alone ``accuracy``; ``extra``: more feature columns (e.g. HyperNet
        accuracy), the same at prediction."""
        return self.fit_features(self._inputs(genotypes, extra), accuracy)

    def fit_features(self, x: np.ndarray, accuracy: Sequence[float]) -> AccuracyPredictor:
        """Fit on a feature matrix ``(n, d)`` (e.g. a subset of :class:`AccuracyFeatures`' columns)."""
        y = torch.as_tensor(np.asarray(accuracy, dtype=np.float64)[:, None])
        self.model = fit_gp(
            make_gp(torch.as_tensor(np.asarray(x, dtype=np.float64)), y, normalize=True),
            self.iterations,
            seed=self.seed,
        )
        return self

    def predict(self, genotypes: Sequence[Genotype], extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted stand-alone accuracy and its standard deviation (observation noise included), each ``(n,)``."""
        return self.predict_features(self._inputs(genotypes, extra))

    def predict_features(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.model is None:
            raise RuntimeError("AccuracyPredictor.predict before fit")
        mean, std = predict_gp(self.model, x, return_std=True)
        assert std is not None
        return mean[:, 0], std[:, 0]

    def _inputs(self, genotypes: Sequence[Genotype], extra: np.ndarray | None) -> np.ndarray:
        x = self.features(genotypes)
        return x if extra is None else np.column_stack([x, np.asarray(extra, dtype=np.float64)])


class TableAccuracy:
    """``accuracy_model=predictor``: predicted stand-alone accuracy of encoded candidates of ``space``, from an
    :class:`AccuracyPredictor` fitted on every architecture of an accuracy table (built on first use)."""

    name = "predictor"

    def __init__(self, space: Any, table: str = "fashion_mnist_short", iterations: int = 200, seed: int = 0):
        if not isinstance(table, str) or not table:
            raise ConfigError("accuracy_model.table", table, "a shipped table's name or a .json.gz path")
        self.space, self.table = space, table
        self.iterations = check_int("accuracy_model.iterations", iterations, 0)
        self.seed = check_int("accuracy_model.seed", seed, 0, 2**32 - 1)
        self._predictor: AccuracyPredictor | None = None

    @property
    def predictor(self) -> AccuracyPredictor:
        if self._predictor is None:
            from yoso.bench import load_table
            from yoso.space.ops import OPS

            records = list(load_table(self.table).records().values())
            features = AccuracyFeatures(tuple(OPS))
            accuracy = [r.val_accuracy for r in records]
            self._predictor = AccuracyPredictor(features, self.iterations, self.seed).fit(
                [r.genotype for r in records], accuracy
            )
        return self._predictor

    def genotypes(self, vectors: Any) -> list[Genotype]:
        return [g for g, _ in self.space.decode_many(np.atleast_2d(np.asarray(vectors)))]

    def __call__(self, vectors: Any) -> np.ndarray:
        """Predicted stand-alone accuracy of each candidate ``(n,)``."""
        return self.predict(vectors)[0]

    def predict(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predicted stand-alone accuracy of each candidate and its predictive standard deviation, each ``(n,)``."""
        return self.predictor.predict(self.genotypes(vectors))
