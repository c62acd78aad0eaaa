"""Deployment layers: a genotype at the deployment macro as a flat list of layer records.

The macro is DARTS' ``NetworkCIFAR`` (quark0/darts ``cnn/model.py``), auxiliary head
excluded: stem conv, ``cells`` cells with reductions at 1/3 and 2/3 of the depth, global
average pooling and a linear classifier. A scaled genotype (elastic space) keeps its width
fraction of the channels and its depth fraction of each stage's normal cells. Each op is expanded from its registry entry
(:data:`yoso.space.ops.OPS` kind/kernel/dilation), never from its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from yoso.config import ConfigError, check_int, check_shape, required
from yoso.space import ops as O
from yoso.space.genotype import NUM_INPUT_NODES, PRECISION_BITS, Genotype
from yoso.space.joint import kept_cells, scaled_channels, stage_of

#: Layer kinds the simulator costs.
LAYER_KINDS = ("conv", "dwconv", "pool_max", "pool_avg", "add", "fc")


@dataclass(frozen=True)
class Layer:
    """One layer: ``C`` input channels of an ``H`` x ``W`` *input* map to ``K`` output channels.

    ``R`` x ``S`` kernel (rows x cols), ``stride``/``padding`` as ``(rows, cols)`` (an int
    means both), ``groups`` (= C for depthwise and pooling), ``dilation``; ``bn`` says a
    BatchNorm follows (its 2*K affine parameters are counted apart, see :attr:`bn_params`);
    ``bits``: the width of its weights and activations (None: the technology's word).
    """

    kind: str
    C: int
    K: int
    H: int
    W: int
    R: int = 1
    S: int = 1
    stride: Any = 1
    padding: Any = 0
    groups: int = 1
    dilation: int = 1
    N: int = 1
    bn: bool = False
    bits: int | None = None
    name: str = field(default="", compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"unknown layer kind {self.kind!r}; allowed {list(LAYER_KINDS)}")
        for key in ("stride", "padding"):
            v = getattr(self, key)
            object.__setattr__(self, key, (int(v), int(v)) if isinstance(v, int) else tuple(int(x) for x in v))
        for key in ("C", "K", "H", "W", "R", "S", "groups", "dilation", "N"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"layer {self.name or self.kind}: {key}={getattr(self, key)} must be >= 1")
        if self.bits is not None and self.bits not in PRECISION_BITS:
            raise ValueError(f"layer {self.name or self.kind}: bits={self.bits}, allowed {list(PRECISION_BITS)}")
        if self.C % self.groups or self.K % self.groups:
            raise ValueError(f"layer {self.name}: groups={self.groups} must divide C={self.C} and K={self.K}")

    @property
    def out_h(self) -> int:
        """Output rows (PyTorch's conv/pool formula)."""
        padding: tuple[int, int] = self.padding
        stride: tuple[int, int] = self.stride
        return (self.H + 2 * padding[0] - self.dilation * (self.R - 1) - 1) // stride[0] + 1

    @property
    def out_w(self) -> int:
        """Output columns."""
        padding: tuple[int, int] = self.padding
        stride: tuple[int, int] = self.stride
        return (self.W + 2 * padding[1] - self.dilation * (self.S - 1) - 1) // stride[1] + 1

    @property
    def macs(self) -> int:
        """Multiply-accumulates (pooling: window ops; add: one op per output element)."""
        if self.kind == "add":
            return self.N * self.K * self.H * self.W
        return self.N * self.K * self.out_h * self.out_w * (self.C // self.groups) * self.R * self.S

    @property
    def params(self) -> int:
        """Conv/linear weights (plus the FC bias); BatchNorm excluded."""
        if self.kind in ("conv", "dwconv"):
            return self.K * (self.C // self.groups) * self.R * self.S
        if self.kind == "fc":
            return self.C * self.K + self.K
        return 0

    @property
    def bn_params(self) -> int:
        """BatchNorm affine parameters (weight and bias) of the BN that follows, if any."""
        return 2 * self.K if self.bn else 0

    @property
    def has_weights(self) -> bool:
        return self.kind in ("conv", "dwconv", "fc")

    def shape(self) -> Layer:
        """The same layer without its name (the cache key: equal shapes cost the same)."""
        return self if not self.name else Layer(**{**self.__dict__, "name": ""})


# --------------------------------------------------------------------------- deploy macro


@dataclass(frozen=True)
class Deploy:
    """The deployment macro: input shape, classes, width C, number of cells, stem multiplier, batch."""

    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    channels: int = 36
    cells: int = 20
    stem_multiplier: int = 3
    batch: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", check_shape("hw.deploy.input_shape", self.input_shape))
        for key in ("num_classes", "channels", "cells", "stem_multiplier", "batch"):
            check_int(f"hw.deploy.{key}", getattr(self, key), 1)
        if self.channels % 2:  # FactorizedReduce halves the channels
            raise ConfigError("hw.deploy.channels", self.channels, "an even integer >= 2")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], prefix: str = "hw.deploy") -> Deploy:
        """The macro from the ``hw.deploy`` config group, validated."""
        keys = ("input_shape", "num_classes", "channels", "cells", "stem_multiplier")
        values = {k: required(cfg, prefix, k) for k in keys}
        return cls(**values, batch=cfg.get("batch", cls.batch))


def _relu_conv_bn(
    name: str, c_in: int, c_out: int, h: int, w: int, k: int, stride: int, n: int, make: Any = Layer
) -> list[Layer]:
    return [make("conv", c_in, c_out, h, w, k, k, stride, k // 2, N=n, bn=True, name=name)]


def _factorized_reduce(name: str, c_in: int, c_out: int, h: int, w: int, n: int, make: Any = Layer) -> list[Layer]:
    """Two 1x1 stride-2 convs to c_out/2 each (the second on the shifted input), one BN over both."""
    return [make("conv", c_in, c_out // 2, h, w, 1, 1, 2, 0, N=n, bn=True, name=f"{name}.fr{i}") for i in (1, 2)]


def op_layers(op: str, channels: int, h: int, w: int, stride: int, n: int = 1, name: str = "") -> list[Layer]:
    """The layers of registry op ``op`` on a ``channels`` x h x w input with ``stride``."""
    spec = O.get_op(op)
    kind, k, d, c = spec.kind, spec.kernel, spec.dilation, channels
    name = name or op
    if kind == O.CONV:
        return _relu_conv_bn(name, c, c, h, w, k, stride, n)
    if kind in (O.DWCONV, O.DIL_CONV, O.SEP_CONV):
        pad = spec.padding
        dw = Layer("dwconv", c, c, h, w, k, k, stride, pad, groups=c, dilation=d, N=n, name=f"{name}.dw")
        out = [dw, Layer("conv", c, c, dw.out_h, dw.out_w, N=n, bn=True, name=f"{name}.pw")]
        if kind == O.SEP_CONV:
            h2, w2 = dw.out_h, dw.out_w
            dw2 = Layer("dwconv", c, c, h2, w2, k, k, 1, pad, groups=c, N=n, name=f"{name}.dw2")
            out += [dw2, Layer("conv", c, c, h2, w2, N=n, bn=True, name=f"{name}.pw2")]
        return out
    if kind == O.CONV_7X1_1X7:
        a = Layer("conv", c, c, h, w, 1, k, (1, stride), (0, k // 2), N=n, name=f"{name}.1x{k}")
        b = Layer("conv", c, c, a.out_h, a.out_w, k, 1, (stride, 1), (k // 2, 0), N=n, bn=True, name=f"{name}.{k}x1")
        return [a, b]
    if kind in (O.MAX_POOL, O.AVG_POOL):
        pk = "pool_max" if kind == O.MAX_POOL else "pool_avg"
        return [Layer(pk, c, c, h, w, k, k, stride, spec.padding, groups=c, N=n, name=name)]
    if kind == O.SKIP:
        return [] if stride == 1 else _factorized_reduce(name, c, c, h, w, n)
    raise ValueError(f"op {op!r} has kind {kind!r} that the layer model does not know")  # pragma: no cover


@lru_cache(maxsize=1 << 14)
def _cached_layer(*args: Any, **kwargs: Any) -> Layer:
    return Layer(*args, **kwargs)


@lru_cache(maxsize=1 << 14)
def _op_shapes(op: str, channels: int, h: int, w: int, stride: int, n: int) -> list[Layer]:
    return [l.shape() for l in op_layers(op, channels, h, w, stride, n)]


def _unnamed(*args: Any, name: str = "", **kwargs: Any) -> Layer:
    return _cached_layer(*args, **kwargs)


def _unnamed_op(op: str, c: int, h: int, w: int, stride: int, n: int, name: str = "") -> list[Layer]:
    return _op_shapes(op, c, h, w, stride, n)


def deployment_layers(genotype: Genotype, deploy: Deploy | None = None, names: bool = True) -> list[Layer]:
    """The deployment network of ``genotype`` (DARTS NetworkCIFAR macro) as layer records, in order.

    ``names=False`` gives unnamed, cached and shared layer shapes: the fast path of the batch API.
    """
    return _build(genotype, deploy or Deploy(), Layer if names else _unnamed, op_layers if names else _unnamed_op)


def _build(genotype: Genotype, d: Deploy, make: Any, make_op: Any) -> list[Layer]:
    layers, cells = _build_layers(genotype, d, make, make_op)
    if not genotype.quantised:
        return layers
    # each layer at its precision: the stem, the global pool and the classifier at the first/last layers' bits,
    # a cell's layers at its stage's (a reduction cell opens its stage)
    bits = [genotype.first_last_bits if c < 0 else genotype.stage_bits(stage_of(c, d.cells)) for c in cells]
    return [replace(layer, bits=b) if layer.name else _with_bits(layer, b) for layer, b in zip(layers, bits)]


@lru_cache(maxsize=1 << 14)
def _with_bits(shape: Layer, bits: int | None) -> Layer:
    """An unnamed layer shape at ``bits``, cached and shared as the shapes themselves (a named layer would
    come back under the name of the first equal one)."""
    return replace(shape, bits=bits)


def _build_layers(genotype: Genotype, d: Deploy, make: Any, make_op: Any) -> tuple[list[Layer], list[int]]:
    """The layers of the deployment network and the cell each belongs to (-1: the stem, pool and classifier)."""
    n, (c_img, h, w) = d.batch, d.input_shape
    base = scaled_channels(d.channels, genotype.width)  # a scaled genotype keeps its fractions of the macro
    c_curr = d.stem_multiplier * base
    layers = [make("conv", c_img, c_curr, h, w, 3, 3, 1, 1, N=n, bn=True, name="stem")]
    cells = [-1]
    # (channels, height, width) of the two previous cells' outputs
    s0 = s1 = (c_curr, h, w)
    c_curr, reduction_prev = base, False
    reductions = {d.cells // 3, 2 * d.cells // 3}
    kept = set(kept_cells(d.cells, genotype.depth))
    for i in range(d.cells):
        reduction = i in reductions
        if reduction:
            c_curr *= 2
        if i not in kept:
            continue
        cell = "reduce" if reduction else "normal"
        tag = f"cell{i}"
        # preprocessing of the two inputs to c_curr channels at s1's resolution
        if reduction_prev:
            layers += _factorized_reduce(f"{tag}.pre0", s0[0], c_curr, s0[1], s0[2], n, make)
        else:
            layers += _relu_conv_bn(f"{tag}.pre0", s0[0], c_curr, s0[1], s0[2], 1, 1, n, make)
        layers += _relu_conv_bn(f"{tag}.pre1", s1[0], c_curr, s1[1], s1[2], 1, 1, n, make)
        hw_in = (s1[1], s1[2])
        hw_out = ((hw_in[0] + 1) // 2, (hw_in[1] + 1) // 2) if reduction else hw_in
        res = {0: hw_in, 1: hw_in}
        for k, (in_a, op_a, in_b, op_b) in enumerate(genotype.nodes(cell)):
            node = NUM_INPUT_NODES + k
            for side, (src, op) in zip("ab", ((in_a, op_a), (in_b, op_b))):
                stride = 2 if reduction and src < NUM_INPUT_NODES else 1
                layers += make_op(op, c_curr, *res[src], stride, n, name=f"{tag}.n{node}{side}.{op}")
            res[node] = hw_out
            layers.append(make("add", c_curr, c_curr, *hw_out, groups=c_curr, N=n, name=f"{tag}.n{node}.add"))
        s0, s1 = s1, (len(genotype.concat(cell)) * c_curr, *hw_out)
        reduction_prev = reduction
        cells += [i] * (len(layers) - len(cells))
    c, h, w = s1
    layers.append(make("pool_avg", c, c, h, w, h, w, 1, 0, groups=c, N=n, name="global_pool"))
    layers.append(make("fc", c, d.num_classes, 1, 1, N=n, name="classifier"))
    return layers, cells + [-1, -1]


def layer_from_record(rec: Mapping[str, Any]) -> Layer:
    """A Layer from an external-reference record (benchmarks/external/README.md: N, C, K, h_in, w_in, R, S, ...)."""
    kind = {"depthwise": "dwconv", "pointwise": "conv", "fc": "fc", "add": "add"}.get(rec.get("kind", "conv"), "conv")
    if kind == "conv" and rec.get("groups", 1) > 1:
        kind = "dwconv"
    return Layer(
        kind,
        rec["C"],
        rec["K"],
        rec["h_in"],
        rec["w_in"],
        rec.get("R", 1),
        rec.get("S", 1),
        rec.get("stride", 1),
        rec.get("pad", 0),
        rec.get("groups", 1),
        rec.get("dilation", 1),
        rec.get("N", 1),
        name=str(rec.get("id", "")),
    )


def count_params(layers: list[Layer], bn: bool = True) -> int:
    """Parameters of a layer list (as DARTS' ``count_parameters_in_MB``: BN affine included if ``bn``)."""
    return sum(l.params + (l.bn_params if bn else 0) for l in layers)
