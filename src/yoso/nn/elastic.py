"""Once-for-All style width slicing: convs and BatchNorms that run on the leading channels of their weights.

An elastic HyperNet shares one :class:`ActiveWidth` among its layers. A layer of ``n`` full output
channels computes ``n * active // full`` of them with the leading rows of its weight, and reads as many
input channels as its input has. A sub-network of a smaller width therefore is a stand-alone network
whose every weight is the leading slice of the HyperNet's (:func:`leading_slice`).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from yoso.nn.quant import ActivePrecision, active_bits, fake_quantise


class ActiveWidth:
    """The width a sliced network runs at, as ``active`` of ``full`` first-stage channels (exact ratio)."""

    def __init__(self, full: int):
        self.full = self.active = int(full)

    def scale(self, channels: int) -> int:
        """The active part of a layer with ``channels`` full channels (a multiple of ``full``)."""
        return channels * self.active // self.full

    @property
    def sliced(self) -> bool:
        return self.active != self.full


class ElasticConv2d(nn.Conv2d):
    """A Conv2d on the leading channels: output ``width.scale(out_channels)``, input as given
    (a depthwise conv: as many groups as input channels); with a ``precision`` (:mod:`yoso.nn.quant`), its input
    and weight fake-quantised at the active bits."""

    width: ActiveWidth | None = None
    precision: ActivePrecision | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c_in = x.shape[1]
        weight, bias, groups = self.weight, self.bias, self.groups
        if (self.width is not None and self.width.sliced) or c_in != self.in_channels:
            if self.groups == 1:
                out = self.out_channels if self.width is None else self.width.scale(self.out_channels)
                weight = weight[:out, :c_in]
            else:  # depthwise: one group per channel
                out, weight, groups = c_in, weight[:c_in], c_in
            bias = None if bias is None else bias[:out]
        bits = active_bits(self.precision)
        if bits is not None:
            x, weight = fake_quantise(x, bits), fake_quantise(weight, bits, signed=True)
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, groups)


class ElasticBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d on the leading channels of its input; ``halves``: the input is two concatenated halves
    (a factorized reduce), each normalised by the leading channels of its half."""

    halves: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch = self.training or self.running_mean is None
        keep_stats = not self.training or self.track_running_stats
        h = c // 2
        ranges = [(0, 0, h), (h, self.num_features // 2, h)] if self.halves else [(0, 0, c)]
        parts = []
        for at, start, size in ranges:
            stop = start + size
            parts.append(
                F.batch_norm(
                    x[:, at : at + size],
                    self.running_mean[start:stop] if keep_stats and self.running_mean is not None else None,
                    self.running_var[start:stop] if keep_stats and self.running_var is not None else None,
                    None if self.weight is None else self.weight[start:stop],
                    None if self.bias is None else self.bias[start:stop],
                    use_batch,
                    factor,
                    self.eps,
                )
            )
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def make_elastic(module: nn.Module, width: ActiveWidth, halves: set[int]) -> None:
    """Turn every Conv2d and BatchNorm2d under ``module`` into its elastic kind (same parameters and buffers),
    sharing ``width``; the BatchNorms whose ``id`` is in ``halves`` normalise two concatenated halves."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):  # a plain one, or already elastic for quantisation (yoso.nn.quant)
            m.__class__ = ElasticConv2d
            cast(ElasticConv2d, m).width = width  # its class now
        elif type(m) is nn.BatchNorm2d:
            m.__class__ = ElasticBatchNorm2d
            cast(ElasticBatchNorm2d, m).halves = id(m) in halves


def leading_slice(value: torch.Tensor, shape: torch.Size, halves: bool = False) -> torch.Tensor:
    """The leading part of ``value`` of ``shape`` (``halves``: of a 1-D tensor of two halves, each half's
    leading part), the weight a sliced layer uses."""
    if value.shape == shape:
        return value
    if halves and value.dim() == 1:
        h, full = shape[0] // 2, value.shape[0] // 2
        return torch.cat([value[:h], value[full : full + h]])
    return value[tuple(slice(0, n) for n in shape)]
