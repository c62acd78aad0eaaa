"""Sub-network accuracy with inherited HyperNet weights (paper §II.E, DESIGN §1).

For each genotype: reset the BatchNorm statistics, recalibrate them on a few fixed training
batches (cumulative average, no gradients), then measure accuracy on the validation split in
eval mode. Inputs are fixed tensors, so the result is deterministic; results are cached by
genotype (valid until the HyperNet's weights change: build a new evaluator then).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from yoso.nn.hypernet import HyperNet
from yoso.space.genotype import Genotype


class SubnetEvaluator:
    """Accuracy of HyperNet sub-networks on fixed validation batches after BN recalibration."""

    def __init__(
        self,
        net: HyperNet,
        calibration: Sequence[torch.Tensor],
        validation: Sequence[tuple[torch.Tensor, torch.Tensor]],
        eval_batch_size: int = 512,
    ):
        if not validation:
            raise ValueError("sub-network evaluation needs at least one validation batch")
        self.net = net
        device = next(net.parameters()).device
        self.calibration = [x.to(device) for x in calibration]
        inputs = torch.cat([x for x, _ in validation]).to(device)
        labels = torch.cat([y for _, y in validation]).to(device)
        self.validation = list(zip(inputs.split(eval_batch_size), labels.split(eval_batch_size)))
        self.total = int(labels.numel())
        self.cache: dict[Genotype, int] = {}
        self._bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def correct(self, genotypes: Iterable[Genotype]) -> np.ndarray:
        """Number of correctly classified validation images per genotype (cached)."""
        genotypes = [self.net.check(g) for g in genotypes]
        todo = [g for g in dict.fromkeys(genotypes) if g not in self.cache]
        if todo:
            was_training = self.net.training
            saved = [(bn.momentum, _stats(bn)) for bn in self._bns]
            try:
                for g in todo:
                    self.cache[g] = self._measure(g)
            finally:
                for bn, (momentum, stats) in zip(self._bns, saved):
                    bn.momentum = momentum
                    _restore(bn, stats)
                self.net.train(was_training)
        return np.array([self.cache[g] for g in genotypes], dtype=np.int64)

    def accuracy(self, genotypes: Iterable[Genotype]) -> np.ndarray:
        """Validation accuracy in [0, 1] of each genotype's sub-network, as a float array."""
        return self.correct(genotypes) / self.total

    @torch.no_grad()
    def _measure(self, genotype: Genotype) -> int:
        if self.calibration:
            for bn in self._bns:
                bn.reset_running_stats()
                bn.momentum = None  # cumulative average over the calibration batches
            self.net.train()
            for x in self.calibration:
                self.net(x, genotype)
        self.net.eval()
        return int(sum((self.net(x, genotype).argmax(1) == y).sum() for x, y in self.validation))


def _stats(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, ...]:
    return tuple(t.clone() for t in (bn.running_mean, bn.running_var, bn.num_batches_tracked) if t is not None)


def _restore(bn: nn.modules.batchnorm._BatchNorm, stats: tuple[torch.Tensor, ...]) -> None:
    for target, value in zip((bn.running_mean, bn.running_var, bn.num_batches_tracked), stats):
        if target is not None:
            target.copy_(value)
