"""A differentiable hardware cost model for gradient-based co-search (DANCE/DIAN style).

The GP predictor's features (deployment-layer statistics, logs, buffer spills) are not
differentiable functions of a relaxed design, so the differentiable strategy uses a small MLP
trained on the *same* simulator sample set, fed an encoding that is linear in the decisions:

* per cell type, computed node ``i`` and input ``j < i``, per op: how many of the node's two
  edges are ``op(j)`` (0, 1 or 2): a node's cost does not depend on which edge is "a" and
  which is "b", and the expected occupancy of a relaxed node is exactly this block;
* the one-hot of each accelerator decision (a relaxed accelerator: its choice probabilities).

A hard candidate and its relaxation at a one-hot point therefore give the same input and the
same predicted ``(log energy, log latency)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from yoso.cache import artifact_path, get_or_build
from yoso.config import check_float, check_int, check_keys
from yoso.predictor.dataset import SampleSet
from yoso.space.genotype import CELL_TYPES, NUM_INPUT_NODES
from yoso.space.joint import JointSpace

log = logging.getLogger("yoso")

#: Bumped whenever the encoding or the model changes, so that cached models of an older one are refused.
RELAXED_VERSION = 1


class RelaxedEncoding:
    """Layout of the differentiable encoding: edge occupancies per (cell, node, input, op), then accelerator one-hots."""

    def __init__(self, space: JointSpace):
        self.space = space
        self.num_ops = len(space.cells.ops)
        self.nodes = tuple(range(NUM_INPUT_NODES, NUM_INPUT_NODES + space.cells.num_nodes))
        #: (cell index, node) -> offset of its (node x num_ops) block, input-major
        self.node_offsets: dict[tuple[int, int], int] = {}
        offset = 0
        for c in range(len(CELL_TYPES)):
            for node in self.nodes:
                self.node_offsets[(c, node)] = offset
                offset += node * self.num_ops
        self.num_edge_features = offset
        self.accel_vocab = tuple(int(v) for v in space.vocab_sizes[space.num_dnn_decisions :])
        self.size = offset + sum(self.accel_vocab)

    def __len__(self) -> int:
        return self.size

    def hard(self, vectors: Any) -> np.ndarray:
        """``(n, size)`` encoding of encoded candidates (edge counts and accelerator one-hots)."""
        x = self.space.check(vectors)
        n, nd = len(x), self.space.num_dnn_decisions
        out = np.zeros((n, self.size))
        rows = np.arange(n)
        per_cell = len(self.nodes) * 4
        for c in range(len(CELL_TYPES)):
            for k, node in enumerate(self.nodes):
                in_a, op_a, in_b, op_b = (x[:, c * per_cell + 4 * k + f] for f in range(4))
                base = self.node_offsets[(c, node)]
                np.add.at(out, (rows, base + in_a * self.num_ops + op_a), 1.0)
                np.add.at(out, (rows, base + in_b * self.num_ops + op_b), 1.0)
        offset = self.num_edge_features
        for d, vocab in enumerate(self.accel_vocab):
            out[rows, offset + x[:, nd + d]] = 1.0
            offset += vocab
        return out

    def join(self, edges: list[torch.Tensor], accelerator: list[torch.Tensor]) -> torch.Tensor:
        """The encoding of a relaxed design as one tensor.

        ``edges``: per cell in :data:`CELL_TYPES` order, per node, its ``(node, num_ops)`` expected
        edge counts; ``accelerator``: each accelerator decision's choice probabilities. Leading batch
        dimensions are kept.
        """
        flat = [e.flatten(-2) for e in edges] + list(accelerator)
        out = torch.cat(flat, dim=-1)
        if out.shape[-1] != self.size:
            raise ValueError(f"relaxed encoding of width {out.shape[-1]}, expected {self.size}")
        return out


@dataclass(frozen=True)
class MLPSettings:
    """Width, depth and training of the cost MLP (full-batch Adam on standardised log targets)."""

    hidden: int = 256
    layers: int = 2
    epochs: int = 2000
    lr: float = 3e-3
    weight_decay: float = 1.0  # strong AdamW decay: held-out MAPE 4.3 % / 4.1 % vs 5.3 % / 6.3 % at 1e-4 (3000 samples)
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, prefix: str) -> MLPSettings:
        """Validated settings from a mapping of overrides (missing keys take the defaults); ConfigError on a bad one."""
        mlp = dict(cfg or {})
        check_keys(prefix, mlp, sorted(cls.__dataclass_fields__))
        for key, low in (("hidden", 1), ("layers", 1), ("epochs", 1), ("seed", 0)):
            if key in mlp:
                mlp[key] = check_int(f"{prefix}.{key}", mlp[key], low)
        for key in ("lr", "weight_decay"):
            if key in mlp:
                mlp[key] = check_float(f"{prefix}.{key}", mlp[key], at_least=0.0)
        return cls(**mlp)


class CostMLP(nn.Module):
    """``encoding -> (log energy mJ, log latency ms)``: an MLP on the relaxed encoding, standardised inside."""

    y_mean: torch.Tensor  # buffers (register_buffer)
    y_scale: torch.Tensor

    def __init__(self, encoding: RelaxedEncoding, settings: MLPSettings = MLPSettings()):
        super().__init__()
        self.encoding, self.settings = encoding, settings
        layers: list[nn.Module] = []
        width = len(encoding)
        for _ in range(settings.layers):
            layers += [nn.Linear(width, settings.hidden), nn.SiLU()]
            width = settings.hidden
        layers.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*layers)
        self.register_buffer("y_mean", torch.zeros(2))
        self.register_buffer("y_scale", torch.ones(2))

    def forward(self, encoding: torch.Tensor) -> torch.Tensor:
        """``(..., size)`` relaxed or hard encodings -> ``(..., 2)`` log-energy, log-latency."""
        return self.net(encoding) * self.y_scale + self.y_mean

    @torch.no_grad()
    def predict(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(energy_mj, latency_ms)`` of hard candidates, as the other hardware evaluators return them."""
        x = torch.as_tensor(self.encoding.hard(vectors), dtype=torch.float32, device=self.y_mean.device)
        logs = self(x).double().cpu().numpy()
        return np.exp(logs[:, 0]), np.exp(logs[:, 1])

    def fit(self, samples: SampleSet) -> CostMLP:
        """Train on a simulator sample set (deterministic for a given ``settings.seed``)."""
        s = self.settings
        torch.manual_seed(s.seed)
        for module in self.net:
            if isinstance(module, nn.Linear):
                module.reset_parameters()
        x = torch.as_tensor(self.encoding.hard(samples.vectors), dtype=torch.float32)
        y = torch.as_tensor(samples.targets, dtype=torch.float32)
        self.y_mean.copy_(y.mean(0))
        self.y_scale.copy_(y.std(0).clamp_min(1e-6))
        target = (y - self.y_mean) / self.y_scale
        opt = torch.optim.AdamW(self.net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.epochs)
        self.train()
        for _ in range(s.epochs):
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.mse_loss(self.net(x), target)
            loss.backward()
            opt.step()
            sched.step()
        self.eval()
        return self

    def errors(self, samples: SampleSet) -> dict[str, float]:
        """Mean absolute percentage error of energy and latency on ``samples`` (e.g. the held-out set)."""
        energy, latency = self.predict(samples.vectors)
        return {
            "energy_mape": float(np.mean(np.abs(energy / samples.energy_mj - 1)) * 100),
            "latency_mape": float(np.mean(np.abs(latency / samples.latency_ms - 1)) * 100),
        }


class MLPCostModel:
    """The cost MLP as a cost model: trained on the predictor's sample set (cached) on first use; differentiable."""

    name = "mlp"

    def __init__(self, setup: Any, settings: MLPSettings | Mapping[str, Any] | None = None):
        self.setup = setup
        self.settings = (
            settings if isinstance(settings, MLPSettings) else MLPSettings.from_config(settings, "cost_model.settings")
        )
        self._model: CostMLP | None = None

    @property
    def module(self) -> CostMLP:
        """The trained MLP (loaded from ``cache_dir/predictors`` or trained on the predictor's training samples)."""
        if self._model is None:
            self._model = self._load_or_train()
        return self._model

    def __call__(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.module.predict(vectors)

    def held_out_errors(self) -> dict[str, float]:
        """MAPE (%) of energy and latency on the predictor's held-out samples."""
        _, test = self.setup.samples(progress=False)
        return self.module.errors(test)

    def _load_or_train(self) -> CostMLP:
        train, _ = self.setup.samples(progress=False)
        model = CostMLP(RelaxedEncoding(self.setup.space), self.settings)
        key = {"samples": train.key, "mlp": asdict(self.settings), "version": RELAXED_VERSION}

        def build() -> CostMLP:
            start = time.perf_counter()
            model.fit(train)
            log.info(
                "trained the differentiable cost MLP on %d samples in %.1f s", len(train), time.perf_counter() - start
            )
            return model

        def load(path: Path) -> CostMLP:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.eval()

        return get_or_build(
            artifact_path(self.setup.predictor.cache_dir, "predictors", "mlp", key, ".pt"),
            build,
            load,
            lambda mlp, path: torch.save(mlp.state_dict(), path),
        )
