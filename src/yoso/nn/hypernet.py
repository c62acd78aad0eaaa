"""The one-shot HyperNet (paper §II.E) and the stand-alone network of one genotype."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import cast

import torch
from torch import nn

from yoso.nn.cells import Cell, CellOutput, CellPlan, MacroNet, SlotPreprocess
from yoso.nn.elastic import ActiveWidth, leading_slice, make_elastic
from yoso.nn.ops import FactorizedReduce, build_op
from yoso.space.genotype import NUM_INPUT_NODES, Genotype
from yoso.space.joint import CellSpace, PrecisionSpace, ScaleSpace, kept_cells, scaled_channels


def edge_key(node: int, input_node: int, op: str) -> str:
    """The HyperNet's name for the candidate op ``op`` applied to ``input_node`` in node ``node``."""
    return f"n{node}_i{input_node}_{op}"


class HyperCell(Cell):
    """A cell holding every candidate op of every (node, input, op) choice of the space."""

    def __init__(
        self,
        plan: CellPlan,
        prev_prev: tuple[int, int],
        prev: tuple[int, int],
        cells: CellSpace,
        affine: bool,
        stem: tuple[int, int] | None = None,
    ):
        super().__init__(plan, prev_prev, prev, affine, stem)
        self.space_ops = tuple(cells.ops)
        self.candidates = nn.ModuleDict()
        for node in range(NUM_INPUT_NODES, NUM_INPUT_NODES + cells.num_nodes):
            for input_node in range(node):
                for op in cells.ops:
                    module = build_op(op, plan.channels, self.stride(input_node), affine)
                    self.candidates[edge_key(node, input_node, op)] = module

    def edge(self, node: int, input_node: int, op: str, position: int) -> nn.Module:
        return self.candidates[edge_key(node, input_node, op)]

    def edge_modules(self) -> nn.Module:
        return self.candidates

    def run_relaxed(self, s0: CellOutput, s1: CellOutput, edges: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The DARTS mixed cell: node ``i`` is ``sum_{j,o} edges[i-2][j, o] * op_o(state_j)`` over every
        candidate; returns every computed node's tensor.

        With weights 1 on the genotype's two edges per node and 0 elsewhere each node equals that of
        :meth:`Cell.run`: the other candidates contribute exact zeros.
        """
        states = [self.pre0(*s0), self.pre1(*s1)]
        for k, weights in enumerate(edges):
            node = NUM_INPUT_NODES + k
            h = 0
            for j in range(node):
                for o, op in enumerate(self.space_ops):
                    h = h + weights[j, o] * self.candidates[edge_key(node, j, op)](states[j])
            states.append(h)
        return states[NUM_INPUT_NODES:]


class HyperNet(MacroNet):
    """Stem, ``num_cells`` HyperCells (reductions at 1/3 and 2/3), pool and classifier.

    ``forward(x, genotype)`` runs only the genotype's path. Cell outputs keep one weight slot
    per computed node in the layers that read them (see :mod:`yoso.nn.cells`). With a ``scale``
    (an elastic space) the HyperNet is the widest, deepest network: a genotype's width runs the
    leading channels of every layer (:mod:`yoso.nn.elastic`), its depth skips the last normal
    cells of each stage.
    """

    def __init__(
        self,
        cells: CellSpace,
        input_shape: Sequence[int],
        num_classes: int,
        channels: int = 16,
        num_cells: int = 6,
        stem_multiplier: int = 3,
        affine: bool = True,
        dirac_init: float | None = None,
        scale: ScaleSpace | None = None,
        precision: PrecisionSpace | None = None,
    ):
        self.space_cells, self.scale, self.space_precision = cells, scale, precision
        if scale is not None:
            num_cells = scale.cells
        super().__init__(
            input_shape, num_classes, channels, num_cells, stem_multiplier, affine, dirac_init, precision is not None
        )
        self.width: ActiveWidth | None = None
        self._kept: dict[float, list[HyperCell]] = {}
        if scale is not None:
            self.width = ActiveWidth(self.channels)
            make_elastic(self, self.width, {id(m.bn) for m in self.modules() if _halves_bn(m)})
            for m in self.modules():
                if isinstance(m, SlotPreprocess):
                    m.width = self.width

    @property
    def elastic(self) -> bool:
        return self.scale is not None

    def stem_inputs(self) -> set[int]:
        if self.scale is None:
            return set()
        chains = [kept_cells(self.num_cells, self.scale.depth_fraction(d)) for d in self.scale.depths]
        return {chain[1] for chain in chains if len(chain) > 1}

    def make_cell(
        self, plan: CellPlan, prev_prev: tuple[int, int], prev: tuple[int, int], stem: tuple[int, int] | None = None
    ) -> Cell:
        return HyperCell(plan, prev_prev, prev, self.space_cells, self.affine, stem)

    def hyper_cells(self) -> Sequence[HyperCell]:
        """Every cell, in order (:meth:`make_cell` builds HyperCells)."""
        return cast("Sequence[HyperCell]", self.cells)

    def active_cells(self, genotype: Genotype) -> Sequence[HyperCell]:
        cells = self.hyper_cells()
        if genotype.depth == 1.0:
            return cells
        if genotype.depth not in self._kept:
            self._kept[genotype.depth] = [cells[i] for i in kept_cells(self.num_cells, genotype.depth)]
        return self._kept[genotype.depth]

    def output_slots(self, plan: CellPlan) -> int:
        return self.space_cells.num_nodes

    def slot_of(self, plan: CellPlan, genotype: Genotype) -> Callable[[int], int]:
        return lambda node: node - NUM_INPUT_NODES

    def check(self, genotype: Genotype) -> Genotype:
        """``genotype`` if this HyperNet holds its path; a ValueError says why not."""
        if not isinstance(genotype, Genotype):
            raise TypeError(f"expected a Genotype, got {type(genotype).__name__}")
        if genotype.scaled and not self.elastic:
            raise ValueError(
                f"genotype has width {genotype.width}, depth {genotype.depth}; this HyperNet has no "
                "network-scale decisions (build it for an elastic space)"
            )
        if genotype.quantised and self.precision is None:
            raise ValueError(
                f"genotype has precision {list(genotype.precision)}; this HyperNet is not quantised "
                "(build it for a precision space)"
            )
        for cell in ("normal", "reduce"):
            if genotype.num_nodes(cell) != self.space_cells.num_nodes:
                raise ValueError(
                    f"{cell} cell has {genotype.num_nodes(cell)} computed nodes; the HyperNet has "
                    f"{self.space_cells.num_nodes} (train it stand-alone instead)"
                )
            foreign = sorted({op for op, _ in genotype.edges(cell)} - set(self.space_cells.ops))
            if foreign:
                raise ValueError(
                    f"{cell} cell uses ops {foreign} that the HyperNet does not hold; its ops: {list(self.space_cells.ops)}"
                )
        return genotype

    def forward(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        self.check(genotype)
        if self.width is not None:
            self.width.active = scaled_channels(self.channels, genotype.width)
        return self.run(x, genotype)

    def forward_relaxed(
        self, x: torch.Tensor, edges: Mapping[str, Sequence[torch.Tensor]], outputs: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """Logits of the continuous relaxation (DARTS) of the cells.

        Per cell type: ``edges``, each node's ``(inputs, ops)`` edge weights; ``outputs``, each node
        slot's weight in the cell output (how much that node is a loose end). Slots are weighted
        before the next cells' 1x1 pre-processing and after the classifier's per-slot BatchNorm, so
        with 0/1 weights the logits are exactly ``self(x, genotype)`` of the genotype they encode.
        """
        stem = self.stem(x)
        s0: CellOutput = ([stem], (0,))
        s1 = s0
        for cell in self.hyper_cells():
            weights = outputs[cell.plan.cell_type]
            nodes = cell.run_relaxed(s0, s1, edges[cell.plan.cell_type])
            slots = tuple(range(len(nodes)))
            s0, s1 = s1, ([h * weights[k] for k, h in enumerate(nodes)], slots)
        return self.classifier(nodes, slots, [weights[k] for k in slots])

    def child(self, genotype: Genotype) -> ChildNet:
        """The stand-alone network of ``genotype`` holding this HyperNet's weights for its path.

        Its forward pass equals ``self(x, genotype)``: the sub-network the evaluator measures
        is exactly the stand-alone network with inherited weights.
        """
        self.check(genotype)
        child = ChildNet(
            genotype,
            self.input_shape,
            self.num_classes,
            self.channels,
            self.num_cells,
            cast(nn.Conv2d, self.stem[0]).out_channels // self.channels,
            self.affine,
            self.dirac_init,
        )
        _load_leading(child.stem, self.stem.state_dict())
        # HyperNet slots feeding each cell's pre0 / pre1 (the stem: slot 0)
        prev_slots: list[tuple[int, ...]] = [(0,), (0,)]
        for k, (mine, theirs) in enumerate(zip(self.active_cells(genotype), child.child_cells())):
            pre0 = mine.pre0_stem if k == 1 and mine.pre0_stem is not None else mine.pre0
            for source, target, slots in ((pre0, theirs.pre0, prev_slots[0]), (mine.pre1, theirs.pre1, prev_slots[1])):
                _copy_slots(source, target, slots)
            cell = mine.plan.cell_type
            for position, (op, input_node) in enumerate(genotype.edges(cell)):
                node = NUM_INPUT_NODES + position // 2
                _load_leading(theirs.edges[position], mine.candidates[edge_key(node, input_node, op)].state_dict())
            prev_slots = [prev_slots[1], tuple(n - NUM_INPUT_NODES for n in genotype.concat(cell))]
        _copy_slots(self.classifier, child.classifier, prev_slots[1])
        return child


def _copy_slots(source: nn.Module, target: nn.Module, slots: Sequence[int]) -> None:
    """Copy a slot layer's weights: target slot ``j`` takes source slot ``slots[j]``; the rest as is."""
    state = {}
    for name, value in source.state_dict().items():
        parts = name.split(".")
        # per-slot entries: "weights.<slot>", "weights.<part>.<slot>", "bns.<slot>.<buffer>"
        at = len(parts) - 1 if parts[0] == "weights" else 1 if parts[0] == "bns" else None
        if at is None:
            state[name] = value
        elif int(parts[at]) in slots:
            parts[at] = str(slots.index(int(parts[at])))
            state[".".join(parts)] = value
    _load_leading(target, state)


def _halves_bn(module: nn.Module) -> bool:
    """Whether ``module``'s BatchNorm normalises two concatenated halves (a factorized reduce)."""
    return isinstance(module, FactorizedReduce) or (isinstance(module, SlotPreprocess) and module.reduce)


def _load_leading(target: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load ``state`` into ``target``, each tensor cut to its leading part of the target's shape (a narrower
    stand-alone network; a factorized reduce's BatchNorm: the leading part of each half)."""
    halves = tuple(f"{name}.bn." if name else "bn." for name, m in target.named_modules() if _halves_bn(m))
    own = target.state_dict()
    target.load_state_dict(
        {
            key: leading_slice(value, own[key].shape, key.startswith(halves) if halves else False)
            for key, value in state.items()
        }
    )


class ChildCell(Cell):
    """A stand-alone cell: only its genotype's edges, built from the op registry."""

    def __init__(
        self, plan: CellPlan, prev_prev: tuple[int, int], prev: tuple[int, int], genotype: Genotype, affine: bool
    ):
        super().__init__(plan, prev_prev, prev, affine)
        self.edges = nn.ModuleList(
            build_op(op, plan.channels, self.stride(input_node), affine)
            for op, input_node in genotype.edges(plan.cell_type)
        )

    def edge(self, node: int, input_node: int, op: str, position: int) -> nn.Module:
        return self.edges[position]

    def edge_modules(self) -> nn.Module:
        return self.edges


class ChildNet(MacroNet):
    """The stand-alone network of one genotype, with its own ops and its real concat lists.

    Any genotype (sampled or published, 4 or 5 nodes, DARTS ops) at any macro (width, cells); a scaled
    genotype keeps its fractions of the macro's channels and of each stage's normal cells.
    """

    def __init__(
        self,
        genotype: Genotype,
        input_shape: Sequence[int],
        num_classes: int,
        channels: int = 16,
        num_cells: int = 6,
        stem_multiplier: int = 3,
        affine: bool = True,
        dirac_init: float | None = None,
    ):
        self.genotype = genotype
        super().__init__(
            input_shape, num_classes, channels, num_cells, stem_multiplier, affine, dirac_init, genotype.quantised
        )

    def base_channels(self) -> int:
        return scaled_channels(self.channels, self.genotype.width)

    def kept_cells(self) -> list[int] | None:
        return None if self.genotype.depth == 1.0 else kept_cells(self.num_cells, self.genotype.depth)

    def make_cell(
        self, plan: CellPlan, prev_prev: tuple[int, int], prev: tuple[int, int], stem: tuple[int, int] | None = None
    ) -> Cell:
        return ChildCell(plan, prev_prev, prev, self.genotype, self.affine)

    def output_slots(self, plan: CellPlan) -> int:
        return len(self.genotype.concat(plan.cell_type))

    def slot_of(self, plan: CellPlan, genotype: Genotype) -> Callable[[int], int]:
        return self.genotype.concat(plan.cell_type).index

    def child_cells(self) -> Sequence[ChildCell]:
        """Every cell, in order (:meth:`make_cell` builds ChildCells)."""
        return cast("Sequence[ChildCell]", self.cells)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x, self.genotype)
