"""The one op registry: every candidate operation of a cell, by name.

It holds YOSO's six ops (paper §II.E) and every op the known genotypes use (DARTS
vocabulary), each as an :class:`OpSpec` that says what the op computes (so the
hardware model can cost it) and builds its ``nn.Module``. Every other module takes op
names from :data:`OPS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

# Op kinds: what an op computes, independent of its name.
CONV = "conv"  # ReLU - KxK conv - BN
DWCONV = "dwconv"  # ReLU - KxK depthwise conv - 1x1 conv - BN (depthwise separable)
SEP_CONV = "sep_conv"  # two stacked dwconv blocks, the first carries the stride (DARTS)
DIL_CONV = "dil_conv"  # dwconv with dilation 2 (DARTS)
CONV_7X1_1X7 = "conv_7x1_1x7"  # ReLU - 1x7 conv - 7x1 conv - BN (NASNet/AmoebaNet)
MAX_POOL = "max_pool"
AVG_POOL = "avg_pool"
SKIP = "skip"  # identity, or a factorized reduce when strided

KINDS = (CONV, DWCONV, SEP_CONV, DIL_CONV, CONV_7X1_1X7, MAX_POOL, AVG_POOL, SKIP)


@dataclass(frozen=True)
class OpSpec:
    """What a cell op computes: its kind, kernel size and dilation."""

    name: str
    kind: str
    kernel: int = 1
    dilation: int = 1

    def build(self, channels: int, stride: int, affine: bool = True) -> nn.Module:
        """The op as a module mapping ``channels`` to ``channels`` with ``stride``."""
        return _BUILDERS[self.kind](self, channels, stride, affine)


def _register(*specs: OpSpec) -> dict[str, OpSpec]:
    return {spec.name: spec for spec in specs}


OPS: dict[str, OpSpec] = _register(
    # YOSO's six ops (paper §II.E).
    OpSpec("conv3x3", CONV, 3),
    OpSpec("conv5x5", CONV, 5),
    OpSpec("dwconv3x3", DWCONV, 3),
    OpSpec("dwconv5x5", DWCONV, 5),
    OpSpec("maxpool3x3", MAX_POOL, 3),
    OpSpec("avgpool3x3", AVG_POOL, 3),
    # The DARTS vocabulary used by the known genotypes (quark0/darts cnn/operations.py).
    OpSpec("sep_conv_3x3", SEP_CONV, 3),
    OpSpec("sep_conv_5x5", SEP_CONV, 5),
    OpSpec("sep_conv_7x7", SEP_CONV, 7),
    OpSpec("dil_conv_3x3", DIL_CONV, 3, dilation=2),
    OpSpec("dil_conv_5x5", DIL_CONV, 5, dilation=2),
    OpSpec("conv_7x1_1x7", CONV_7X1_1X7, 7),
    OpSpec("skip_connect", SKIP),
    OpSpec("max_pool_3x3", MAX_POOL, 3),
    OpSpec("avg_pool_3x3", AVG_POOL, 3),
)

#: YOSO's op set, in the order of the op decision's vocabulary (paper §II.E).
YOSO_OPS: tuple[str, ...] = ("conv3x3", "conv5x5", "dwconv3x3", "dwconv5x5", "maxpool3x3", "avgpool3x3")


def get_op(name: str) -> OpSpec:
    """The registered op called ``name``; a clear error names the known ones otherwise."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; registered ops: {sorted(OPS)}") from None


# --------------------------------------------------------------------------- modules


def _same_padding(kernel: int, dilation: int = 1) -> int:
    return dilation * (kernel - 1) // 2


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
                padding=_same_padding(kernel, dilation),
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
    return ReLUConvBN(channels, channels, spec.kernel, stride, _same_padding(spec.kernel), affine)


def _build_dwconv(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return DWConv(channels, channels, spec.kernel, stride, spec.dilation, affine)


def _build_sep_conv(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return SepConv(channels, channels, spec.kernel, stride, affine)


def _build_conv_7x1_1x7(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return Conv7x1x1x7(channels, stride, affine)


def _build_max_pool(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return nn.MaxPool2d(spec.kernel, stride=stride, padding=_same_padding(spec.kernel))


def _build_avg_pool(spec: OpSpec, channels: int, stride: int, affine: bool) -> nn.Module:
    return nn.AvgPool2d(spec.kernel, stride=stride, padding=_same_padding(spec.kernel), count_include_pad=False)


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
