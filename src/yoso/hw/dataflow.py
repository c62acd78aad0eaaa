"""Spatial dataflows as one description: the loop dimensions each array axis unrolls and the operand the PEs hold.

A convolution is the loop nest over output channels K, input channels C, output rows P (the
batch folded in), output columns Q, filter rows R and filter columns S (per group). An array
**unrolls** some of these dimensions along its rows and others along its columns; the rest run
in time. From which operands depend on an axis's dimensions follows what happens along it
(docs/accelerator.md): an operand that does not depend on the axis is multicast or forwarded
along it (the same word serves every PE), a partial sum whose output does not depend on it
is reduced along it. The **stationary** operand stays in each PE's register file while the
temporal loops it does not depend on run; which one that is follows from the loop order
(the innermost tiling loop: P keeps weights, C keeps outputs, K keeps inputs).

The named dataflows are points of this description (:data:`NAMED`); an accelerator with a
connectivity ``ROWS-COLS`` (NAAS) is costed by the same systolic model for any dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

from yoso.space.accelerator import DATAFLOWS, LOOP_DIMS, check_loop_order, parse_connectivity

#: The loop dimensions each operand is indexed by (the input through the sliding window: P with R, Q with S).
RELEVANT = {"W": frozenset("KCRS"), "I": frozenset("CPQRS"), "O": frozenset("KPQ")}
#: The operand a PE holds when a tiling loop is innermost: the one that loop does not index.
STATIONARY_OF_INNERMOST = {"P": "W", "C": "O", "K": "I"}
#: How an array moves data (the cycle and access model of :mod:`yoso.hw.simulator` it is costed by):
#: systolic forwarding (SCALE-Sim), an adder tree without local reuse (DianNao), Eyeriss's
#: row-stationary PE sets, ShiDianNao's 2-D output-pixel array.
ARRAYS = ("systolic", "tree", "row", "pixels2d")


@dataclass(frozen=True)
class Unrolling:
    """One spatial mapping: dimensions on the rows and on the columns, the operands the PEs hold, the array type."""

    rows: str  # loop dimensions the array's rows unroll, e.g. "CRS"
    cols: str  # ... and its columns, e.g. "K"
    stationary: str  # operands held in the RF: "W", "I", "O", "" (none) or "WIO" (row stationary)
    array: str = "systolic"

    def __post_init__(self) -> None:
        parse_connectivity("unrolling", f"{self.rows}-{self.cols}")
        if self.array not in ARRAYS:
            raise ValueError(f"unrolling array {self.array!r}: allowed one of {list(ARRAYS)}")
        if self.array == "systolic" and self.stationary not in RELEVANT:
            raise ValueError(f"a systolic unrolling holds one operand of {list(RELEVANT)}, not {self.stationary!r}")

    def relevant(self, operand: str) -> tuple[bool, bool]:
        """Whether ``operand`` depends on the rows' and on the columns' dimensions."""
        return bool(RELEVANT[operand] & set(self.rows)), bool(RELEVANT[operand] & set(self.cols))

    @property
    def temporal(self) -> str:
        """The loop dimensions that run in time."""
        return "".join(d for d in LOOP_DIMS if d not in self.rows + self.cols)

    def __str__(self) -> str:
        return f"{self.rows}-{self.cols}/{self.stationary or '-'}"


#: The named dataflows as points of the description (OS also has ShiDianNao's mapping; the simulator takes the faster).
NAMED: dict[str, tuple[Unrolling, ...]] = {
    "WS": (Unrolling("CRS", "K", "W"),),  # TPU-like: weights held, inputs forwarded along rows, psums reduced down
    "OS": (Unrolling("PQ", "K", "O"), Unrolling("P", "Q", "O", "pixels2d")),
    "RS": (Unrolling("R", "P", "WIO", "row"),),  # Eyeriss: filter rows x output rows, 1-D convolutions per PE
    "IS": (Unrolling("CRS", "PQ", "I"),),  # SCALE-Sim's input stationary: im2col windows held, weights forwarded
    "NLR": (Unrolling("CRS", "K", "", "tree"),),  # DianNao-like: no RF, weights from the GLB, adder tree
}
assert tuple(NAMED) == DATAFLOWS


def unrollings(dataflow: str, loop_order: str | None = None) -> tuple[Unrolling, ...]:
    """The spatial mappings an accelerator's dataflow allows: a named dataflow's, or a connectivity's systolic
    mapping holding the operand its loop order keeps (all three, for the simulator to choose per layer, without)."""
    if dataflow in NAMED:
        return NAMED[dataflow]
    rows, cols = parse_connectivity("dataflow", dataflow)
    if loop_order is None:
        return tuple(Unrolling(rows, cols, s) for s in ("W", "I", "O"))
    innermost = check_loop_order("loop_order", loop_order)[-1]
    return (Unrolling(rows, cols, STATIONARY_OF_INNERMOST[innermost]),)
