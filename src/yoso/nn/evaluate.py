"""Sub-network accuracy with inherited HyperNet weights (paper §II.E, DESIGN §1).

For each genotype: reset the BatchNorm statistics, recalibrate them on a few fixed training
batches (cumulative average, no gradients), then measure accuracy on the validation split in
eval mode. Inputs are fixed tensors, so the result is deterministic; results are cached by
genotype (valid until the HyperNet's weights change: build a new evaluator then).

Racing (:meth:`SubnetEvaluator.race`): a candidate is first measured on the validation split's
first ``first_images`` images; it is finished on all of them only if the upper end of that
estimate's 95 % interval reaches the accuracy it needs (e.g. to enter the top of a search's
history). The result is a pure function of the genotype and the accuracy needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from yoso.nn.hypernet import HyperNet
from yoso.space.genotype import Genotype
from yoso.stats import wilson_interval


class SubnetEvaluator:
    """Accuracy of HyperNet sub-networks on fixed validation batches after BN recalibration."""

    def __init__(
        self,
        net: HyperNet,
        calibration: Sequence[torch.Tensor],
        validation: Sequence[tuple[torch.Tensor, torch.Tensor]],
        eval_batch_size: int = 500,
        first_images: int | None = None,
    ):
        if not validation:
            raise ValueError("sub-network evaluation needs at least one validation batch")
        self.net = net
        device = next(net.parameters()).device
        self.calibration = [x.to(device) for x in calibration]
        inputs = torch.cat([x for x, _ in validation]).to(device)
        labels = torch.cat([y for _, y in validation]).to(device)
        self.total = int(labels.numel())
        #: images of a race's first look (the whole split when None or larger)
        self.first_images = self.total if first_images is None else min(int(first_images), self.total)
        cut = self.first_images
        self.first = list(zip(inputs[:cut].split(eval_batch_size), labels[:cut].split(eval_batch_size)))
        self.rest = list(zip(inputs[cut:].split(eval_batch_size), labels[cut:].split(eval_batch_size)))
        self.cache: dict[Genotype, int] = {}  # correct of the whole split
        self.first_cache: dict[Genotype, int] = {}  # correct of the first look
        self._bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def correct(self, genotypes: Iterable[Genotype]) -> np.ndarray:
        """Number of correctly classified validation images per genotype, on the whole split (cached)."""
        genotypes = [self.net.check(g) for g in genotypes]
        self._measure_all({g: None for g in genotypes if g not in self.cache})
        return np.array([self.cache[g] for g in genotypes], dtype=np.int64)

    def accuracy(self, genotypes: Iterable[Genotype]) -> np.ndarray:
        """Validation accuracy in [0, 1] of each genotype's sub-network, as a float array."""
        return self.correct(genotypes) / self.total

    def race(self, genotypes: Iterable[Genotype], needed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(accuracy, images)`` per genotype: on the first look alone when even the upper end of its 95 %
        interval is below ``needed``, else on the whole split."""
        genotypes = [self.net.check(g) for g in genotypes]
        needed = np.broadcast_to(np.asarray(needed, dtype=float), (len(genotypes),))
        least: dict[Genotype, float] = {}  # a genotype asked twice is finished if either ask needs it
        for g, n in zip(genotypes, needed):
            if g not in self.cache:
                least[g] = min(least.get(g, np.inf), float(n))
        self._measure_all(least)
        accuracy, images = np.empty(len(genotypes)), np.empty(len(genotypes), dtype=np.int64)
        for i, (g, n) in enumerate(zip(genotypes, needed)):
            if self._stops(g, n):
                accuracy[i], images[i] = self.first_cache[g] / self.first_images, self.first_images
            else:
                accuracy[i], images[i] = self.cache[g] / self.total, self.total
        return accuracy, images

    def _stops(self, genotype: Genotype, needed: float) -> bool:
        """Whether the first look rules the genotype out (its accuracy's upper 95 % bound < ``needed``)."""
        if self.first_images >= self.total or genotype not in self.first_cache:
            return False
        _, high = wilson_interval(self.first_cache[genotype] / self.first_images, self.first_images)
        return bool(high < needed)

    def _measure_all(self, needed: Mapping[Genotype, float | None]) -> None:
        """Measure each genotype on the first look, then on the rest unless it does not reach its ``needed``
        accuracy (None: always the rest); one BN recalibration each; BN state restored after."""
        if not needed:
            return
        was_training = self.net.training
        saved = [(bn.momentum, _stats(bn)) for bn in self._bns]
        try:
            for g, need in needed.items():
                if need is not None and self._stops(g, need):
                    continue  # the cached first look already rules it out
                self._calibrate(g)
                if g not in self.first_cache:
                    self.first_cache[g] = self._count(g, self.first)
                if need is None or not self._stops(g, need):
                    self.cache[g] = self.first_cache[g] + self._count(g, self.rest)
        finally:
            for bn, (momentum, stats) in zip(self._bns, saved):
                bn.momentum = momentum
                _restore(bn, stats)
            self.net.train(was_training)

    @torch.inference_mode()
    def _calibrate(self, genotype: Genotype) -> None:
        """Re-estimate every BN layer's statistics for ``genotype`` on the calibration batches."""
        if not self.calibration:
            return
        for bn in self._bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
        self.net.train()
        for x in self.calibration:
            self.net(x, genotype)

    @torch.inference_mode()
    def _count(self, genotype: Genotype, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> int:
        """Correct predictions of ``genotype`` (BN calibrated for it) on ``batches``, in eval mode."""
        self.net.eval()
        return int(sum(int((self.net(x, genotype).argmax(1) == y).sum()) for x, y in batches))


def _stats(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, ...]:
    return tuple(t.clone() for t in (bn.running_mean, bn.running_var, bn.num_batches_tracked) if t is not None)


def _restore(bn: nn.modules.batchnorm._BatchNorm, stats: tuple[torch.Tensor, ...]) -> None:
    for target, value in zip((bn.running_mean, bn.running_var, bn.num_batches_tracked), stats):
        if target is not None:
            target.copy_(value)
