"""The DNN half of a candidate: a cell-based network genotype (paper §II.E, DARTS format)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from yoso.space.ops import OPS

#: Nodes 0 and 1 of every cell are the outputs of the two previous cells.
NUM_INPUT_NODES = 2
#: The two cell types, in the order their decisions appear in the joint encoding.
CELL_TYPES = ("normal", "reduce")
#: The network-scale fields of a genotype (fractions of a macro's channels and of its normal cells per stage).
SCALE_FIELDS = ("width", "depth")
#: Stages of the DARTS macro: the two reduction cells open the second and the third.
NUM_STAGES = 3
#: Bit-widths a precision may take: even widths from 2 to 16. The MAC datapath is built of 2-bit slices
#: (BitFusion's BitBricks, Sharma et al. ISCA 2018) and 16 bits is the technologies' word.
PRECISION_BITS = tuple(range(2, 17, 2))

Edge = tuple[str, int]  # (op name, input node)
NodeChoice = tuple[int, str, int, str]  # (input_a, op_a, input_b, op_b)


class GenotypeError(ValueError):
    """A genotype that is not a valid cell graph."""


@dataclass(frozen=True)
class Genotype:
    """A pair of cells, each two ``(op, input)`` edges per computed node plus its output concat.

    Field names and layout follow DARTS (``normal``, ``normal_concat``, ``reduce``,
    ``reduce_concat``), so published genotypes are held exactly as written: node
    ``i = 2 + k`` of a cell is ``op(edges[2k]) + op(edges[2k+1])``; the cell output is the
    channel concatenation of the nodes in its concat list. Frozen and hashable.
    """

    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]
    #: Network scale (the elastic space): the fraction of a macro's channels and of each stage's normal cells
    #: kept; 1.0 is the macro as configured (every published genotype).
    width: float = 1.0
    depth: float = 1.0
    #: Weight and activation bits (a precision space): the first and last layers' (stem and classifier), then each
    #: stage's (its normal cells and the reduction that opens it); empty: unquantised, the technology's word.
    precision: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for cell in CELL_TYPES:
            edges = tuple((str(op), int(node)) for op, node in getattr(self, cell))
            object.__setattr__(self, cell, edges)
            object.__setattr__(self, f"{cell}_concat", tuple(int(n) for n in getattr(self, f"{cell}_concat")))
        for key in SCALE_FIELDS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) <= 1.0:
                raise GenotypeError(f"{key} = {value!r}: a network-scale fraction must lie in (0, 1]")
            object.__setattr__(self, key, round(float(value), 6))
        bits = tuple(self.precision)
        if bits and (
            len(bits) != 1 + NUM_STAGES
            or any(isinstance(b, bool) or not isinstance(b, int) or b not in PRECISION_BITS for b in bits)
        ):
            raise GenotypeError(
                f"precision = {list(bits)}: the first/last layers' bits then one per stage ({1 + NUM_STAGES} "
                f"integers), each of {list(PRECISION_BITS)}"
            )
        object.__setattr__(self, "precision", bits)
        self.validate()

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_nodes(
        cls,
        normal: Sequence[NodeChoice],
        reduce: Sequence[NodeChoice],
        width: float = 1.0,
        depth: float = 1.0,
        precision: tuple[int, ...] = (),
    ) -> Genotype:
        """A YOSO genotype from per-node ``(input_a, op_a, input_b, op_b)`` choices (and its network scale).

        The output concat is derived as the paper defines it: the computed nodes that feed
        no other node.
        """
        cells: dict[str, Any] = {"width": width, "depth": depth, "precision": tuple(precision)}
        for cell, nodes in zip(CELL_TYPES, (normal, reduce)):
            edges = tuple(edge for in_a, op_a, in_b, op_b in nodes for edge in ((op_a, in_a), (op_b, in_b)))
            cells[cell] = edges
            cells[f"{cell}_concat"] = loose_ends(edges)
        return cls(**cells)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Genotype:
        """Inverse of :meth:`to_dict`."""
        missing = [f for f in ("normal", "normal_concat", "reduce", "reduce_concat") if f not in data]
        if missing:
            raise GenotypeError(f"genotype mapping lacks {missing}; got keys {sorted(data)}")
        scale = {k: data[k] for k in SCALE_FIELDS if k in data}
        if data.get("precision"):
            scale["precision"] = tuple(data["precision"])
        return cls(**{k: data[k] for k in ("normal", "normal_concat", "reduce", "reduce_concat")}, **scale)

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_yaml(cls, text: str) -> Genotype:
        return cls.from_dict(yaml.safe_load(text))

    # ----------------------------------------------------------------- views

    def edges(self, cell: str) -> tuple[Edge, ...]:
        """The ``(op, input)`` edges of ``cell`` ('normal' or 'reduce')."""
        return self.normal if _check_cell(cell) == "normal" else self.reduce

    def concat(self, cell: str) -> tuple[int, ...]:
        """The nodes of ``cell`` concatenated at its output."""
        return self.normal_concat if _check_cell(cell) == "normal" else self.reduce_concat

    def num_nodes(self, cell: str) -> int:
        """Number of computed nodes of ``cell`` (YOSO: always 5; published cells: 4 or 5)."""
        return len(self.edges(cell)) // 2

    def nodes(self, cell: str) -> tuple[NodeChoice, ...]:
        """The computed nodes of ``cell`` as ``(input_a, op_a, input_b, op_b)``."""
        e = self.edges(cell)
        return tuple((e[i][1], e[i][0], e[i + 1][1], e[i + 1][0]) for i in range(0, len(e), 2))

    def ops(self) -> set[str]:
        """Every op name the genotype uses."""
        return {op for cell in CELL_TYPES for op, _ in self.edges(cell)}

    @property
    def scaled(self) -> bool:
        """Whether the network scale differs from the full macro (an elastic-space genotype)."""
        return self.width != 1.0 or self.depth != 1.0

    @property
    def quantised(self) -> bool:
        """Whether the network runs at searched precisions (a precision space) rather than the technology's word."""
        return bool(self.precision)

    def stage_bits(self, stage: int) -> int | None:
        """Bits of ``stage``'s layers (None: unquantised)."""
        return self.precision[1 + stage] if self.precision else None

    @property
    def widest_bits(self) -> int | None:
        """The widest precision the network runs (its accelerator's datapath width; None: unquantised)."""
        return max(self.precision) if self.precision else None

    @property
    def first_last_bits(self) -> int | None:
        """Bits of the stem and the classifier (None: unquantised)."""
        return self.precision[0] if self.precision else None

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and ints, for JSON/YAML (the scale fractions only when not the full macro)."""
        out: dict[str, Any] = {}
        for cell in CELL_TYPES:
            out[cell] = [[op, node] for op, node in self.edges(cell)]
            out[f"{cell}_concat"] = list(self.concat(cell))
        if self.scaled:
            out.update({k: getattr(self, k) for k in SCALE_FIELDS})
        if self.precision:
            out["precision"] = list(self.precision)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), default_flow_style=None, sort_keys=False)

    def __str__(self) -> str:
        lines = []
        for cell in CELL_TYPES:
            nodes = "  ".join(
                f"n{NUM_INPUT_NODES + k}={op_a}(n{in_a})+{op_b}(n{in_b})"
                for k, (in_a, op_a, in_b, op_b) in enumerate(self.nodes(cell))
            )
            lines.append(f"{cell:6s}: {nodes}  -> concat{list(self.concat(cell))}")
        if self.scaled:
            lines.append(
                f"scale : width x{self.width:g}, depth x{self.depth:.3g} (of the macro's channels, cells per stage)"
            )
        if self.precision:
            stages = "/".join(str(b) for b in self.precision[1:])
            lines.append(f"bits  : stages {stages}, first/last layers {self.precision[0]} (weights and activations)")
        return "\n".join(lines)

    # ----------------------------------------------------------------- validation

    def validate(self) -> None:
        """Raise :class:`GenotypeError` unless both cells are valid DAGs over registered ops."""
        for cell in CELL_TYPES:
            edges, concat = self.edges(cell), self.concat(cell)
            if not edges or len(edges) % 2:
                raise GenotypeError(f"{cell}: needs two edges per computed node, got {len(edges)} edges")
            for k, (op, node) in enumerate(edges):
                target = NUM_INPUT_NODES + k // 2
                if op not in OPS:
                    raise GenotypeError(f"{cell}: node {target} uses unknown op {op!r}; registered: {sorted(OPS)}")
                if not 0 <= node < target:
                    raise GenotypeError(f"{cell}: node {target} takes input {node}, allowed [0, {target})")
            last = NUM_INPUT_NODES + len(edges) // 2
            if not concat or len(set(concat)) != len(concat):
                raise GenotypeError(f"{cell}: concat {list(concat)} must be non-empty without repeats")
            bad = [n for n in concat if not NUM_INPUT_NODES <= n < last]
            if bad:
                raise GenotypeError(f"{cell}: concat {list(concat)} names {bad}, computed nodes are [2, {last})")
            used = {node for _, node in edges} | set(concat)
            dead = [n for n in range(NUM_INPUT_NODES, last) if n not in used]
            if dead:
                raise GenotypeError(f"{cell}: computed nodes {dead} feed neither another node nor the output")


def loose_ends(edges: Iterable[Edge]) -> tuple[int, ...]:
    """The computed nodes that feed no other node: YOSO's cell output concat."""
    edges = tuple(edges)
    used = {node for _, node in edges}
    return tuple(n for n in range(NUM_INPUT_NODES, NUM_INPUT_NODES + len(edges) // 2) if n not in used)


def _check_cell(cell: str) -> str:
    if cell not in CELL_TYPES:
        raise ValueError(f"unknown cell type {cell!r}; allowed {list(CELL_TYPES)}")
    return cell
