"""Cells and macro network shared by the HyperNet and the stand-alone network (paper §II.E, §III.A).

A cell's output is the channel concatenation of its loose-end nodes, so its width varies with
the genotype. The layers that read a cell output (the next cells' 1x1 pre-processing and the
classifier) keep their weights **per node slot**: reading a concat of nodes ``(3, 6)`` uses the
weight columns of slots 3 and 6 concatenated, which is exactly a 1x1 conv (or linear layer)
over that concat. The HyperNet keeps one slot per computed node, a stand-alone network one slot
per concatenated node; a sub-network therefore inherits exactly the weights a stand-alone
network of its genotype has, and unused slots receive no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from yoso.nn.elastic import ActiveWidth
from yoso.nn.ops import FactorizedReduce
from yoso.nn.quant import ActivePrecision, active_bits, fake_quantise, make_quantised
from yoso.space.genotype import NUM_INPUT_NODES, Genotype
from yoso.space.joint import stage_of

#: A cell's output as handed to the next layers: the concatenated node tensors and their slots.
CellOutput = tuple[list[torch.Tensor], tuple[int, ...]]


def _slot_weights(count: int, shape: tuple[int, ...], fan_in: int) -> nn.ParameterList:
    """``count`` weights of ``shape``, initialised as PyTorch initialises one layer of ``fan_in`` inputs."""
    bound = 1.0 / math.sqrt(fan_in)
    return nn.ParameterList(nn.Parameter(torch.empty(shape).uniform_(-bound, bound)) for _ in range(count))


def dirac_(weight: torch.Tensor, noise: float, groups: int = 1, shift: int = 0) -> None:
    """Make a conv weight an identity (Dirac delta at the kernel centre) plus ``noise`` times its current value.

    Output channel ``o`` reads input channel ``(o + shift) % in_channels`` (a depthwise weight: its own
    channel). Applied to PyTorch's default initialisation, ``noise`` scales the random part that breaks
    the symmetry between channels.
    """
    out_channels, in_per_group, kh, kw = weight.shape
    delta = torch.zeros_like(weight)
    if groups > 1:
        delta[:, 0, kh // 2, kw // 2] = 1.0
    else:
        rows = torch.arange(out_channels)
        delta[rows, (rows + shift) % in_per_group, kh // 2, kw // 2] = 1.0
    with torch.no_grad():
        weight.mul_(noise).add_(delta)


def _gather(
    weights: nn.ParameterList,
    slots: Sequence[int],
    inputs: Sequence[torch.Tensor] | None = None,
    rows: int | None = None,
) -> torch.Tensor:
    """The slots' weights side by side (dim 1); sliced to ``rows`` and each input's channels when given."""
    parts = [weights[s] for s in slots]
    if inputs is not None:
        parts = [w[:rows, : x.shape[1]] for w, x in zip(parts, inputs)]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def _cat(inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    return inputs[0] if len(inputs) == 1 else torch.cat(list(inputs), dim=1)


class SlotPreprocess(nn.Module):
    """ReLU - 1x1 conv - BN (or DARTS' factorized reduce when ``reduce``) over a concat of node slots.

    Weights are kept per slot (``num_slots`` slots of ``slot_channels`` each); the forward pass
    uses the slots it is given, in order. ``reduce`` halves the resolution with two offset
    strided 1x1 convs as :class:`yoso.nn.ops.FactorizedReduce` does.
    """

    def __init__(self, num_slots: int, slot_channels: int, c_out: int, reduce: bool = False, affine: bool = True):
        super().__init__()
        if reduce and c_out % 2:
            raise ValueError(f"a factorized reduce needs an even number of output channels, got {c_out}")
        self.reduce = reduce
        parts = 2 if reduce else 1
        fan_in = num_slots * slot_channels
        self.weights = nn.ModuleList(
            _slot_weights(num_slots, (c_out // parts, slot_channels, 1, 1), fan_in) for _ in range(parts)
        )
        self.bn = nn.BatchNorm2d(c_out, affine=affine)
        self.width: ActiveWidth | None = None  # set by an elastic HyperNet: run on the leading channels
        self.precision: ActivePrecision | None = None  # set by a quantised network: fake-quantise input and weights

    def _part(self, part: int) -> nn.ParameterList:
        """The slot weights of conv ``part`` (two for a factorized reduce)."""
        return cast(nn.ParameterList, self.weights[part])

    def _weight(self, part: int, inputs: Sequence[torch.Tensor], slots: Sequence[int]) -> torch.Tensor:
        weights = self._part(part)
        if self.width is None or not self.width.sliced:
            weight = _gather(weights, slots)
        else:
            weight = _gather(weights, slots, inputs, self.width.scale(weights[slots[0]].shape[0]))
        return fake_quantise(weight, active_bits(self.precision), signed=True)

    def forward(self, inputs: Sequence[torch.Tensor], slots: Sequence[int]) -> torch.Tensor:
        x = fake_quantise(F.relu(_cat(inputs)), active_bits(self.precision), signed=False)
        if not self.reduce:
            return self.bn(F.conv2d(x, self._weight(0, inputs, slots)))
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        y = torch.cat(
            [
                F.conv2d(x, self._weight(0, inputs, slots), stride=2),
                F.conv2d(shifted, self._weight(1, inputs, slots), stride=2),
            ],
            dim=1,
        )
        return self.bn(y)

    def dirac_(self, noise: float) -> None:
        """Identity initialisation: output channel ``o`` starts as the sum over slots of their channel ``o``
        (a factorized reduce: its first half reads channels ``[0, c/2)``, its second half ``[c/2, c)``)."""
        for part in range(len(self.weights)):
            for w in self._part(part):
                dirac_(w, noise, shift=part * w.shape[0])


class SlotClassifier(nn.Module):
    """BatchNorm, global average pooling and a linear classifier over a concat of node slots (all per slot).

    The BatchNorm matters for the HyperNet: a node summing two pooling (or identity) edges
    doubles its input's scale, so a chain of them scales a cell output by up to 2^nodes and
    the scale of the classifier's input would change from path to path. Normalising each
    slot keeps logits on one scale for every path (and costs a stand-alone network nothing).
    """

    def __init__(self, num_slots: int, slot_channels: int, num_classes: int, affine: bool = True):
        super().__init__()
        self.bns = nn.ModuleList(nn.BatchNorm2d(slot_channels, affine=affine) for _ in range(num_slots))
        fan_in = num_slots * slot_channels
        self.weights = _slot_weights(num_slots, (num_classes, slot_channels), fan_in)
        bound = 1.0 / math.sqrt(fan_in)
        self.bias = nn.Parameter(torch.empty(num_classes).uniform_(-bound, bound))
        self.precision: ActivePrecision | None = None  # set by a quantised network: fake-quantise input and weights

    def forward(
        self, inputs: Sequence[torch.Tensor], slots: Sequence[int], scales: Sequence[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Logits of a concat of node slots; ``scales`` (one per input) weight each normalised slot (a relaxed cell)."""
        pooled = [F.adaptive_avg_pool2d(self.bns[s](x), 1).flatten(1) for x, s in zip(inputs, slots)]
        if scales is not None:
            pooled = [p * w for p, w in zip(pooled, scales)]
        bits = active_bits(self.precision)
        weight = fake_quantise(_gather(self.weights, slots, pooled), bits, signed=True)
        return F.linear(fake_quantise(_cat(pooled), bits), weight, self.bias)


@dataclass(frozen=True)
class CellPlan:
    """One cell of the macro network: its type, width and whether it or its predecessor reduces."""

    index: int
    reduction: bool
    reduction_prev: bool
    channels: int

    @property
    def cell_type(self) -> str:
        return "reduce" if self.reduction else "normal"


def macro_plan(num_cells: int, channels: int, kept: Sequence[int] | None = None) -> list[CellPlan]:
    """The DARTS/NASNet macro: reductions (doubling the width) at 1/3 and 2/3 of the depth;
    ``kept``: only those cells (the reductions and the leading normal cells of each stage)."""
    if num_cells < 1 or channels < 1:
        raise ValueError(f"a network needs >= 1 cell and >= 1 channel, got {num_cells} cells, {channels} channels")
    reductions = {num_cells // 3, 2 * num_cells // 3} if num_cells >= 3 else set()
    built = set(range(num_cells)) if kept is None else set(kept)
    plans, width, reduction_prev = [], channels, False
    for i in range(num_cells):
        reduction = i in reductions
        width = width * 2 if reduction else width
        if i in built:
            plans.append(CellPlan(i, reduction, reduction_prev, width))
            reduction_prev = reduction
    return plans


class Cell(nn.Module):
    """One cell: pre-processing of the two previous outputs, then nodes ``op_a(I_a) + op_b(I_b)``.

    ``make_op(node, input, op, stride)`` returns the module of that edge; the HyperNet keys its
    candidates by ``(node, input, op)`` and builds all of them, a stand-alone cell builds only its
    genotype's edges. The two inputs are pre-processed only when a node reads them.
    """

    def __init__(
        self,
        plan: CellPlan,
        prev_prev: tuple[int, int],
        prev: tuple[int, int],
        affine: bool,
        stem: tuple[int, int] | None = None,
    ):
        super().__init__()
        self.plan = plan
        self.pre0 = SlotPreprocess(*prev_prev, plan.channels, reduce=plan.reduction_prev, affine=affine)
        self.pre1 = SlotPreprocess(*prev, plan.channels, affine=affine)
        # an elastic HyperNet's cell whose first input is the stem when the cells before it are skipped
        self.pre0_stem = None if stem is None else SlotPreprocess(*stem, plan.channels, affine=affine)

    def stride(self, input_node: int) -> int:
        return 2 if self.plan.reduction and input_node < NUM_INPUT_NODES else 1

    def edge(self, node: int, input_node: int, op: str, position: int) -> nn.Module:
        raise NotImplementedError

    def edge_modules(self) -> nn.Module:
        """The module holding every edge op of this cell."""
        raise NotImplementedError

    def dirac_(self, noise: float) -> None:
        """Identity ("Dirac"/delta-orthogonal style) initialisation of every conv of the cell.

        Every candidate conv starts as the identity map plus ``noise`` x PyTorch's random init, the
        pre-processing as the channel-wise sum of its slots: a deep chain of randomly chosen ops then
        starts close to an identity map (the signal propagates) and every candidate starts with the same
        channel meaning, so the ops a path combines agree from the first step.
        """
        for pre in (self.pre0, self.pre1, self.pre0_stem):
            if pre is not None:
                pre.dirac_(noise)
        reduces = [m for m in self.edge_modules().modules() if isinstance(m, FactorizedReduce)]
        second = {id(m.conv_2) for m in reduces}
        for module in self.edge_modules().modules():
            if isinstance(module, nn.Conv2d):
                shift = module.out_channels if id(module) in second else 0
                dirac_(module.weight, noise, groups=module.groups, shift=shift)

    def run(
        self,
        s0: CellOutput,
        s1: CellOutput,
        genotype: Genotype,
        slot_of: Callable[[int], int],
        s0_is_stem: bool = False,
    ) -> CellOutput:
        cell = self.plan.cell_type
        states: list[torch.Tensor | None] = [None, None]
        pre0 = self.pre0_stem if s0_is_stem and self.pre0_stem is not None else self.pre0
        pre = (lambda: pre0(*s0), lambda: self.pre1(*s1))

        def state(i: int) -> torch.Tensor:
            if states[i] is None:
                states[i] = pre[i]()
            return states[i]  # type: ignore[return-value]

        for k, (in_a, op_a, in_b, op_b) in enumerate(genotype.nodes(cell)):
            node = NUM_INPUT_NODES + k
            h = self.edge(node, in_a, op_a, 2 * k)(state(in_a)) + self.edge(node, in_b, op_b, 2 * k + 1)(state(in_b))
            states.append(h)
        concat = genotype.concat(cell)
        return [states[n] for n in concat], tuple(slot_of(n) for n in concat)  # type: ignore[misc]


class MacroNet(nn.Module):
    """Stem conv - cells - global pool - linear classifier; cells built by :meth:`make_cell`."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        channels: int,
        num_cells: int,
        stem_multiplier: int = 3,
        affine: bool = True,
        dirac_init: float | None = None,
        quantised: bool = False,
    ):
        super().__init__()
        self.input_shape = tuple(int(v) for v in input_shape)
        self.num_classes, self.channels, self.num_cells = int(num_classes), int(channels), int(num_cells)
        self.affine = affine
        base = self.base_channels()
        stem_width = stem_multiplier * base
        self.stem = nn.Sequential(
            nn.Conv2d(self.input_shape[0], stem_width, 3, padding=1, bias=False), nn.BatchNorm2d(stem_width)
        )
        plans = macro_plan(num_cells, base, self.kept_cells())
        shapes = [(1, stem_width), (1, stem_width)]  # (slots, channels per slot) of the last two outputs
        from_stem = self.stem_inputs()
        cells = []
        for plan in plans:
            stem = (1, stem_width) if plan.index in from_stem and len(shapes) > 3 else None
            cell = self.make_cell(plan, shapes[-2], shapes[-1], stem)
            cells.append(cell)
            shapes.append((self.output_slots(plan), plan.channels))
        self.cells = nn.ModuleList(cells)
        self.classifier = SlotClassifier(*shapes[-1], num_classes, affine)
        self.dirac_init = None if dirac_init is None else float(dirac_init)
        if self.dirac_init is not None:
            for cell in cells:  # the cells of self.cells
                cell.dirac_(self.dirac_init)
        # a network at searched precisions: every conv and slot layer quantised at the bits run() sets
        self.precision: ActivePrecision | None = None
        if quantised:
            self.precision = ActivePrecision()
            make_quantised(self, self.precision)

    def base_channels(self) -> int:
        """The first stage's channels of the cells this network builds."""
        return self.channels

    def kept_cells(self) -> list[int] | None:
        """Indices of the macro's cells this network builds (None: all)."""
        return None

    def stem_inputs(self) -> set[int]:
        """Cells that may read the stem as their first input without doing so in the full macro (elastic depth)."""
        return set()

    def make_cell(
        self, plan: CellPlan, prev_prev: tuple[int, int], prev: tuple[int, int], stem: tuple[int, int] | None = None
    ) -> Cell:
        raise NotImplementedError

    def output_slots(self, plan: CellPlan) -> int:
        raise NotImplementedError

    def slot_of(self, plan: CellPlan, genotype: Genotype) -> Callable[[int], int]:
        raise NotImplementedError

    def active_cells(self, genotype: Genotype) -> Sequence[Cell]:
        """The cells ``genotype``'s network runs, in order."""
        return cast("Sequence[Cell]", self.cells)  # a ModuleList of the Cells make_cell built

    def _set_bits(self, bits: int | None) -> None:
        if self.precision is not None:
            self.precision.bits = bits

    def run(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        self._set_bits(genotype.first_last_bits)
        stem = self.stem(x)
        s0: CellOutput = ([stem], (0,))
        s1 = s0
        for k, cell in enumerate(self.active_cells(genotype)):
            self._set_bits(genotype.stage_bits(stage_of(cell.plan.index, self.num_cells)))
            s0, s1 = s1, cell.run(s0, s1, genotype, self.slot_of(cell.plan, genotype), s0_is_stem=k < 2)
        self._set_bits(genotype.first_last_bits)
        return self.classifier(*s1)
