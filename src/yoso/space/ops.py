"""The op vocabulary of a cell: every candidate operation by name, with what it computes (no torch).

It holds YOSO's six ops (paper §II.E) and every op the known genotypes use (DARTS
vocabulary), each as an :class:`OpSpec` saying its kind, kernel and dilation. The hardware
model costs an op from these facts and :mod:`yoso.nn.ops` builds its module from them;
every other module takes op names from :data:`OPS`.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def padding(self) -> int:
        """The 'same' padding of the op's window: a stride-1 op keeps the map's size."""
        return same_padding(self.kernel, self.dilation)


def same_padding(kernel: int, dilation: int = 1) -> int:
    """Padding that keeps a map's size under a ``kernel`` window with ``dilation`` at stride 1."""
    return dilation * (kernel - 1) // 2


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
