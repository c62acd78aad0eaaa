"""Sub-network accuracy with inherited HyperNet weights (paper §II.E; docs/architecture.md §3).

For each genotype: reset the BatchNorm statistics, recalibrate them on a few fixed training
batches (cumulative average, no gradients), then measure accuracy on the validation split in
eval mode. Inputs are fixed tensors, so the result is deterministic; results are cached by
genotype (valid until the HyperNet's weights change: build a new evaluator then).

Racing (:meth:`SubnetEvaluator.race`): a candidate is measured on growing prefixes of the
validation split (``looks``, e.g. its first 500, then 2000 images, then all) and stops at the
first look where even the upper end of its accuracy's 95 % interval is below the accuracy it
needs (e.g. to enter the top of a search's history). The result is a pure function of the
genotype and the accuracy needed.
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
        looks: Sequence[int] = (),
    ):
        if not validation:
            raise ValueError("sub-network evaluation needs at least one validation batch")
        self.net = net
        device = next(net.parameters()).device
        self.calibration = [x.to(device) for x in calibration]
        inputs = torch.cat([x for x, _ in validation]).to(device)
        labels = torch.cat([y for _, y in validation]).to(device)
        self.total = int(labels.numel())
        #: images measured at each look of a race, the whole split last
        self.bounds = sorted({int(n) for n in looks if 0 < int(n) < self.total} | {self.total})
        starts = [0, *self.bounds[:-1]]
        self.segments = [
            list(zip(inputs[a:b].split(eval_batch_size), labels[a:b].split(eval_batch_size)))
            for a, b in zip(starts, self.bounds)
        ]
        self.counts: dict[Genotype, list[int]] = {}  # correct predictions within each look measured so far
        self.cache: dict[Genotype, int] = {}  # correct predictions on the whole split
        self._bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def clear(self) -> None:
        """Forget every measured genotype (e.g. to time the same work twice)."""
        self.counts.clear()
        self.cache.clear()

    def correct(self, genotypes: Iterable[Genotype]) -> np.ndarray:
        """Number of correctly classified validation images per genotype, on the whole split (cached)."""
        genotypes = [self.net.check(g) for g in genotypes]
        self._measure_all({g: None for g in genotypes if g not in self.cache})
        return np.array([self.cache[g] for g in genotypes], dtype=np.int64)

    def accuracy(self, genotypes: Iterable[Genotype]) -> np.ndarray:
        """Validation accuracy in [0, 1] of each genotype's sub-network, as a float array."""
        return self.correct(genotypes) / self.total

    def race(self, genotypes: Iterable[Genotype], needed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(accuracy, images)`` per genotype, measured up to the first look whose upper 95 % bound is below
        ``needed`` (the whole split if none is)."""
        genotypes = [self.net.check(g) for g in genotypes]
        needed = np.broadcast_to(np.asarray(needed, dtype=float), (len(genotypes),))
        least: dict[Genotype, float] = {}  # a genotype asked twice goes as far as either ask needs
        for g, n in zip(genotypes, needed):
            least[g] = min(least.get(g, np.inf), float(n))
        self._measure_all(least)
        accuracy, images = np.empty(len(genotypes)), np.empty(len(genotypes), dtype=np.int64)
        for i, (g, n) in enumerate(zip(genotypes, needed)):
            look = self._stop(g, float(n))
            assert look is not None, "measured until it stops (_measure_all)"
            accuracy[i], images[i] = self.counts[g][look] / self.bounds[look], self.bounds[look]
        return accuracy, images

    def _stop(self, genotype: Genotype, needed: float | None) -> int | None:
        """The look at which ``genotype`` stops for ``needed`` (None: more looks must be measured to tell)."""
        counts = self.counts.get(genotype, [])
        for look, images in enumerate(self.bounds):
            if look >= len(counts):
                return None
            if look == len(self.bounds) - 1:
                return look
            if needed is not None and wilson_interval(counts[look] / images, images)[1] < needed:
                return look
        return None

    def _measure_all(self, needed: Mapping[Genotype, float | None]) -> None:
        """Measure each genotype look by look until it stops for its ``needed`` accuracy (None: the whole
        split); one BN recalibration each; BN state restored after."""
        todo = [(g, need) for g, need in needed.items() if self._stop(g, need) is None]
        if not todo:
            return
        was_training = self.net.training
        saved = [(bn.momentum, _stats(bn)) for bn in self._bns]
        try:
            for g, need in todo:
                self._calibrate(g)
                counts = self.counts.setdefault(g, [])
                while self._stop(g, need) is None:
                    counts.append(self._count(g, self.segments[len(counts)]) + (counts[-1] if counts else 0))
                if len(counts) == len(self.bounds):
                    self.cache[g] = counts[-1]
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
