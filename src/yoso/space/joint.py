"""The joint search space: integer decisions encoding a (Genotype, Accelerator) pair (44 in the paper's space).

Decision order (paper §II.D; README, The search space): the normal cell, then the reduction cell, each
node ``i = 2..6`` as ``(input_a, op_a, input_b, op_b)`` with inputs in ``[0, i)``;
in an elastic space (``space=yoso_elastic``) then the network scale, ``net.width`` and
``net.depth``; then the accelerator's decisions in the order of its space (``accelerator=paper``: PE array,
global buffer, register file and dataflow; ``accelerator=naas``: rows, columns, global buffer, register
file, connectivity and loop order; :data:`yoso.space.accelerator.DECISION_KEYS`).
This module is the one place that order is defined; the controller, HyperNet, simulator and
predictor all go through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from yoso.config import ConfigError, check_bool, check_choice, check_float, check_int, check_nonempty_unique, required
from yoso.space.accelerator import Accelerator, AcceleratorSpace
from yoso.space.genotype import (
    CELL_TYPES,
    NUM_INPUT_NODES,
    NUM_STAGES,
    PRECISION_BITS,
    SCALE_FIELDS,
    Genotype,
    loose_ends,
)
from yoso.space.ops import OPS

#: The four decisions of each computed node, in encoding order.
NODE_FIELDS = ("input_a", "op_a", "input_b", "op_b")
#: Most computed nodes a cell may have (the paper's B = 7 nodes, two of them inputs).
MAX_NODES = 5


@dataclass(frozen=True)
class Decision:
    """One categorical decision of the encoding: its name and its vocabulary."""

    name: str
    choices: tuple[Any, ...]

    @property
    def vocab(self) -> int:
        return len(self.choices)


@dataclass(frozen=True)
class CellSpace:
    """The DNN half of the space: the candidate ops and the computed nodes per cell."""

    ops: tuple[str, ...]
    num_nodes: int = MAX_NODES

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], prefix: str = "space") -> CellSpace:
        """Validated op list and node count from the ``space`` config group."""
        listed = check_nonempty_unique(f"{prefix}.ops", required(cfg, prefix, "ops"))
        ops = tuple(check_choice(f"{prefix}.ops[{i}]", op, sorted(OPS)) for i, op in enumerate(listed))
        nodes = check_int(f"{prefix}.num_nodes", required(cfg, prefix, "num_nodes"), 1, MAX_NODES)
        return cls(ops=ops, num_nodes=nodes)


@dataclass(frozen=True)
class ScaleSpace:
    """The network-scale decisions of an elastic space: width multipliers and normal cells per stage.

    ``widths`` are fractions of the macro's channels (``model.channels``, ``hw.deploy.channels``);
    ``depths`` are normal cells per stage (between the stem and the two reductions) of the searched
    network, whose deepest choice is the macro: 3 x max(depths) + 2 cells. A genotype holds its
    depth as the fraction ``depth / max(depths)``, which the deployment macro scales alike.
    """

    widths: tuple[float, ...]
    depths: tuple[int, ...]

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], prefix: str = "space") -> ScaleSpace | None:
        """The scale decisions of a ``space`` group; None for a space without ``widths``/``depths``."""
        if cfg.get("widths") is None and cfg.get("depths") is None:
            return None
        widths = check_nonempty_unique(f"{prefix}.widths", required(cfg, prefix, "widths"))
        widths = [check_float(f"{prefix}.widths[{i}]", w, greater_than=0.0, at_most=1.0) for i, w in enumerate(widths)]
        depths = check_nonempty_unique(f"{prefix}.depths", required(cfg, prefix, "depths"))
        depths = [check_int(f"{prefix}.depths[{i}]", d, 1, MAX_DEPTH) for i, d in enumerate(depths)]
        return cls(tuple(sorted(round(w, 6) for w in widths)), tuple(sorted(depths)))

    @property
    def cells(self) -> int:
        """Cells of the deepest network: ``max(depths)`` normal cells per stage and two reductions."""
        return 3 * max(self.depths) + 2

    def depth_fraction(self, depth: int) -> float:
        """A genotype's depth field for ``depth`` normal cells per stage."""
        return round(depth / max(self.depths), 6)

    @property
    def choices(self) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """Vocabularies of the decisions, in encoding order (``net.width``, ``net.depth``)."""
        return self.widths, self.depths


#: The keys of a ``space`` group that make it a precision space (:class:`PrecisionSpace`).
PRECISION_KEYS = ("precisions", "first_last_bits")


@dataclass(frozen=True)
class PrecisionSpace:
    """The precision decisions of a precision space: one bit-width per stage (weights and activations alike).

    Per stage, not per cell type and stage: the HyperNet trains every combination it samples (4^3 = 64 with the
    default list, against 4^6 = 4096 per cell type), and a stage's reduction cell shares its normal cells' bits.
    The stem and the classifier run at ``first_last_bits`` (8 by default, as HAQ keeps them).
    """

    bits: tuple[int, ...]
    first_last_bits: int = 8

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], prefix: str = "space") -> PrecisionSpace | None:
        """The precision decisions of a ``space`` group; None for a space without ``precisions``."""
        if cfg.get("precisions") is None:
            return None
        listed = check_nonempty_unique(f"{prefix}.precisions", cfg["precisions"])
        bits = [check_choice(f"{prefix}.precisions[{i}]", b, PRECISION_BITS) for i, b in enumerate(listed)]
        edge = check_choice(
            f"{prefix}.first_last_bits", cfg.get("first_last_bits", cls.first_last_bits), PRECISION_BITS
        )
        return cls(tuple(sorted(bits)), edge)

    @property
    def names(self) -> tuple[str, ...]:
        """The decisions' names after ``net.``: one per stage."""
        return tuple(f"bits{stage}" for stage in range(NUM_STAGES))

    def genotype_bits(self, indices: Any) -> tuple[int, ...]:
        """A genotype's ``precision`` field from its per-stage decision indices."""
        return (self.first_last_bits, *(self.bits[int(i)] for i in indices))

    def to_dict(self) -> dict[str, Any]:
        return {"precisions": list(self.bits), "first_last_bits": self.first_last_bits}


def check_sandwich(sandwich: Any, distill: Any, scale: ScaleSpace | None) -> tuple[bool, bool]:
    """``model.sandwich`` and ``model.distill`` as bools; a ConfigError where one would be ignored (the sandwich
    rule needs width/depth decisions to train the largest and smallest scale, distillation needs the sandwich)."""
    sandwich, distill = check_bool("model.sandwich", sandwich), check_bool("model.distill", distill)
    if distill and not sandwich:
        raise ConfigError("model.distill", distill, "false unless model.sandwich=true (it distils the largest path)")
    if sandwich and scale is None:
        raise ConfigError(
            "model.sandwich",
            sandwich,
            "false in a space without width/depth decisions (space=yoso): "
            "the sandwich rule trains the largest and smallest scale",
        )
    return sandwich, distill


def scaled_channels(channels: int, width: float) -> int:
    """The first stage's channels of a macro of ``channels`` at ``width`` (later stages double them)."""
    return max(1, int(round(channels * width)))


def stage_depths(num_cells: int) -> tuple[int, int, int]:
    """Normal cells in each of the three stages of the DARTS macro of ``num_cells`` cells."""
    first, second = num_cells // 3, 2 * num_cells // 3
    return first, second - first - 1, num_cells - second - 1


def stage_of(index: int, num_cells: int) -> int:
    """The stage (0, 1, 2) of cell ``index`` of the macro: a reduction cell opens the stage it leads into."""
    if num_cells < 3:
        return 0
    return int(index >= num_cells // 3) + int(index >= 2 * num_cells // 3)


def kept_cells(num_cells: int, depth: float) -> list[int]:
    """Indices of the cells a network of ``depth`` (fraction) keeps: the reductions and the first
    ``round(depth x stage size)`` (at least one) normal cells of each stage."""
    if num_cells < 3:
        return list(range(num_cells))
    reductions = (num_cells // 3, 2 * num_cells // 3)
    starts = (0, reductions[0] + 1, reductions[1] + 1)
    kept = list(reductions)
    for start, size in zip(starts, stage_depths(num_cells)):
        keep = min(size, max(1, int(round(size * depth)))) if size else 0
        kept += range(start, start + keep)
    return sorted(kept)


#: Most normal cells per stage an elastic space may ask for.
MAX_DEPTH = 8


class JointSpace:
    """The joint DNN x accelerator space: decisions, sampling, decode/encode and validation."""

    def __init__(
        self,
        cells: CellSpace,
        accelerators: AcceleratorSpace,
        scale: ScaleSpace | None = None,
        precision: PrecisionSpace | None = None,
    ):
        self.cells = cells
        self.accelerators = accelerators
        self.scale = scale
        self.precision = precision
        decisions: list[Decision] = []
        for cell in CELL_TYPES:
            for node in range(NUM_INPUT_NODES, NUM_INPUT_NODES + cells.num_nodes):
                inputs = tuple(range(node))
                for field, choices in zip(NODE_FIELDS, (inputs, cells.ops, inputs, cells.ops)):
                    decisions.append(Decision(f"{cell}.node{node}.{field}", choices))
        if scale is not None:
            for field, choices in zip(SCALE_FIELDS, scale.choices):
                decisions.append(Decision(f"net.{field}", choices))
        if precision is not None:
            decisions += [Decision(f"net.{name}", precision.bits) for name in precision.names]
        for field, choices in zip(accelerators.fields, accelerators.choices):
            decisions.append(Decision(f"accel.{field}", tuple(choices)))
        self.decisions: tuple[Decision, ...] = tuple(decisions)
        self.vocab_sizes: np.ndarray = np.array([d.vocab for d in decisions], dtype=np.int64)
        self.vocab_sizes.setflags(write=False)
        self.num_cell_decisions = len(CELL_TYPES) * cells.num_nodes * len(NODE_FIELDS)
        self.num_scale_decisions = len(SCALE_FIELDS) if scale is not None else 0
        self.num_dnn_decisions = (
            self.num_cell_decisions + self.num_scale_decisions + (NUM_STAGES if precision is not None else 0)
        )
        self.num_accel_decisions = len(accelerators.fields)

    @classmethod
    def from_config(cls, space: Mapping[str, Any], accelerator: Mapping[str, Any]) -> JointSpace:
        """The space of a run's ``space`` and ``accelerator`` nodes (plain data: the HyperNet's hyperparameters
        hold them, so a saved HyperNet rebuilds its space)."""
        return cls(
            CellSpace.from_config(space),
            AcceleratorSpace.from_config(accelerator),
            ScaleSpace.from_config(space),
            PrecisionSpace.from_config(space),
        )

    @property
    def elastic(self) -> bool:
        """Whether the space holds network-scale (width/depth) decisions."""
        return self.scale is not None

    def __len__(self) -> int:
        """Number of decisions (44 for YOSO's space)."""
        return len(self.decisions)

    @cached_property
    def size(self) -> int:
        """Number of distinct encodings (exact integer)."""
        return int(np.prod([int(v) for v in self.vocab_sizes], dtype=object))

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.decisions)

    def __repr__(self) -> str:
        scale = f"; widths={list(self.scale.widths)}, depths={list(self.scale.depths)}" if self.scale else ""
        if self.precision:
            scale += f"; bits per stage {list(self.precision.bits)}, first/last {self.precision.first_last_bits}"
        return (
            f"JointSpace({len(self)} decisions: {self.num_dnn_decisions} DNN + {self.num_accel_decisions} "
            f"accelerator; ops={list(self.cells.ops)}{scale}; {self.accelerators.size} accelerators; "
            f"{float(self.size):.3g} encodings)"
        )

    # ----------------------------------------------------------------- sampling

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """``n`` candidates drawn uniformly per decision as an ``(n, D)`` int64 array.

        Uniform per decision is the paper's eq. 6 (each input with probability 1/i, each op
        1/|ops|): the HyperNet training distribution and the random-search baseline.
        """
        rng = np.random.default_rng(rng)
        return rng.integers(0, self.vocab_sizes, size=(int(n), len(self)), dtype=np.int64)

    # ----------------------------------------------------------------- validation

    def check(self, vectors: Any) -> np.ndarray:
        """``vectors`` as an ``(n, D)`` int64 array; a ValueError names the first bad entry."""
        arr = np.asarray(vectors)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != len(self):
            raise ValueError(f"expected candidates of {len(self)} decisions, got an array of shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise ValueError(f"candidate decisions must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        bad = (arr < 0) | (arr >= self.vocab_sizes)
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            raise ValueError(
                f"candidate {row}: decision {col} ({self.names[col]}) = {int(arr[row, col])}, "
                f"allowed [0, {int(self.vocab_sizes[col])})"
            )
        return arr

    # ----------------------------------------------------------------- decode / encode

    def decode(self, vector: Any) -> tuple[Genotype, Accelerator]:
        """The ``(Genotype, Accelerator)`` a single encoding stands for."""
        (vec,) = self.check(vector)
        ops = self.cells.ops
        cells = []
        for c in range(len(CELL_TYPES)):
            block = vec[c * self.cells.num_nodes * 4 : (c + 1) * self.cells.num_nodes * 4].reshape(-1, 4)
            cells.append([(int(a), ops[oa], int(b), ops[ob]) for a, oa, b, ob in block])
        width = depth = 1.0  # the full macro, without network-scale decisions
        at = self.num_cell_decisions
        if self.scale is not None:
            w, d = (int(i) for i in vec[at : at + self.num_scale_decisions])
            width, depth = self.scale.widths[w], self.scale.depth_fraction(self.scale.depths[d])
        bits = (
            ()
            if self.precision is None
            else self.precision.genotype_bits(vec[at + self.num_scale_decisions :][:NUM_STAGES])
        )
        normal, reduce = cells
        genotype = Genotype.from_nodes(normal, reduce, width, depth, bits)
        return genotype, self.accelerators.accelerator(*(int(i) for i in vec[self.num_dnn_decisions :]))

    def widest_bits(self, vectors: Any) -> np.ndarray | None:
        """Each candidate's widest precision, its accelerator's datapath width (None: a space without precision)."""
        if self.precision is None:
            return None
        at = self.num_cell_decisions + self.num_scale_decisions
        stages = np.asarray(self.precision.bits)[self.check(vectors)[:, at : at + NUM_STAGES]]
        widest: np.ndarray = np.maximum(stages.max(axis=1), self.precision.first_last_bits)
        return widest

    def decode_many(self, vectors: Any) -> list[tuple[Genotype, Accelerator]]:
        return [self.decode(v) for v in self.check(vectors)]

    def encode(self, genotype: Genotype, accelerator: Accelerator) -> np.ndarray:
        """The encoding of a pair; a ValueError says why a pair lies outside this space."""
        out: list[int] = []
        for cell in CELL_TYPES:
            if genotype.num_nodes(cell) != self.cells.num_nodes:
                raise ValueError(
                    f"{cell} cell has {genotype.num_nodes(cell)} computed nodes; this space has {self.cells.num_nodes}"
                )
            expected = loose_ends(genotype.edges(cell))
            if genotype.concat(cell) != expected:
                raise ValueError(
                    f"{cell} cell concatenates {list(genotype.concat(cell))}; this space always concatenates the "
                    f"nodes that feed no other node, {list(expected)}"
                )
            for in_a, op_a, in_b, op_b in genotype.nodes(cell):
                for op in (op_a, op_b):
                    if op not in self.cells.ops:
                        raise ValueError(f"{cell} cell uses op {op!r}, not in this space's ops {list(self.cells.ops)}")
                out += [in_a, self.cells.ops.index(op_a), in_b, self.cells.ops.index(op_b)]
        out += self._scale_indices(genotype)
        out += self._precision_indices(genotype)
        out += self.accelerators.indices(accelerator)
        return np.asarray(out, dtype=np.int64)

    def _scale_indices(self, genotype: Genotype) -> list[int]:
        """The ``net.width``/``net.depth`` decisions of ``genotype`` (none in a space without them)."""
        if self.scale is None:
            if genotype.scaled:
                raise ValueError(
                    f"genotype has width {genotype.width}, depth {genotype.depth}; this space has no "
                    "network-scale decisions (use an elastic space, e.g. space=yoso_elastic)"
                )
            return []
        depths = [self.scale.depth_fraction(d) for d in self.scale.depths]
        if genotype.width not in self.scale.widths or genotype.depth not in depths:
            raise ValueError(
                f"genotype has width {genotype.width}, depth {genotype.depth}; this space allows widths "
                f"{list(self.scale.widths)} and depths {depths} (fractions of {max(self.scale.depths)} "
                "cells per stage)"
            )
        return [self.scale.widths.index(genotype.width), depths.index(genotype.depth)]

    def _precision_indices(self, genotype: Genotype) -> list[int]:
        """The per-stage precision decisions of ``genotype`` (none in a space without them)."""
        if self.precision is None:
            if genotype.quantised:
                raise ValueError(
                    f"genotype has precision {list(genotype.precision)}; this space has no precision decisions "
                    "(use a precision space, e.g. space=yoso_elastic_precision)"
                )
            return []
        p = self.precision
        stages = genotype.precision[1:]
        if not genotype.quantised or genotype.precision[0] != p.first_last_bits or any(b not in p.bits for b in stages):
            raise ValueError(
                f"genotype has precision {list(genotype.precision)}; this space has first/last layers at "
                f"{p.first_last_bits} bits and stages of {list(p.bits)}"
            )
        return [p.bits.index(b) for b in stages]
