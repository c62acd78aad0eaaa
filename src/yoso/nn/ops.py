"""The modules of the cell ops: :func:`build_op` turns an op of the vocabulary
(:data:`yoso.space.ops.OPS`, torch-free) into its ``nn.Module``, by the op's kind."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from yoso.space.ops import (
    AVG_POOL,
    CONV,
    CONV_7X1_1X7,
    DIL_CONV,
    DWCONV,
    KINDS,
    MAX_POOL,
    SEP_CONV,
    SKIP,
    OpSpec,
    get_op,
    same_padding,
)


def build_op(name: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    """The op ``name`` as a module mapping ``channels`` to ``channels`` with ``stride``."""
    spec = get_op(name)
    return _BUILDERS[spec.kind](spec, channels, stride, affine)


# --------------------------------------------------------------------------- modules


class ReLUConvBN(nn.Module):
    """ReLU - conv - BatchNorm, the standard NAS conv block."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DWConv(nn.Module):
    """ReLU - depthwise KxK conv - pointwise 1x1 conv - BatchNorm (DARTS ``DilConv``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, dilation: int = 1, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in,
                c_in,
                kernel,
                stride=stride,
                padding=same_padding(kernel, dilation),
                dilation=dilation,
                groups=c_in,
                bias=False,
            ),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked depthwise-separable blocks, the first strided (DARTS ``SepConv``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            DWConv(c_in, c_in, kernel, stride, affine=affine),
            DWConv(c_in, c_out, kernel, 1, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Conv7x1x1x7(nn.Module):
    """ReLU - 1x7 conv - 7x1 conv - BatchNorm (NASNet/AmoebaNet ``conv_7x1_1x7``)."""

    def __init__(self, channels: int, stride: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
            nn.Conv2d(channels, channels, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
            nn.BatchNorm2d(channels, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """Halves the resolution with two offset strided 1x1 convs, concatenated (DARTS)."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def _build_conv(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return ReLUConvBN(channels, channels, spec.kernel, stride, spec.padding, affine)


def _build_dwconv(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return DWConv(channels, channels, spec.kernel, stride, spec.dilation, affine)


def _build_sep_conv(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return SepConv(channels, channels, spec.kernel, stride, affine)


def _build_conv_7x1_1x7(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return Conv7x1x1x7(channels, stride, affine)


def _build_max_pool(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return nn.MaxPool2d(spec.kernel, stride=stride, padding=spec.padding)


def _build_avg_pool(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return nn.AvgPool2d(spec.kernel, stride=stride, padding=spec.padding, count_include_pad=False)


def _build_skip(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine)


_BUILDERS: dict[str, Callable[[OpSpec, int, int, bool], nn.Module]] = {
    CONV: _build_conv,
    DWCONV: _build_dwconv,
    SEP_CONV: _build_sep_conv,
    DIL_CONV: _build_dwconv,
    CONV_7X1_1X7: _build_conv_7x1_1x7,
    MAX_POOL: _build_max_pool,
    AVG_POOL: _build_avg_pool,
    SKIP: _build_skip,
}
assert set(_BUILDERS) == set(KINDS)
