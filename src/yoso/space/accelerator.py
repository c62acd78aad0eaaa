"""The hardware half of a candidate: a spatial PE-array accelerator and its discrete design space.

An accelerator is a PE array, a global buffer, a per-PE register file, its **dataflow** and
optionally the loop order of its global-buffer tiling. The dataflow is a named one (WS, OS,
RS, IS, NLR; docs/accelerator.md) or a **connectivity** ``ROWS-COLS``: the loop dimensions of
the convolution the array's rows and columns unroll (NAAS, e.g. ``C-K`` or ``PQ-K``).
The allowed sizes (:class:`Limits`) default to the paper's Table 1: PE array 8x8 .. 16x32,
global buffer 108 .. 1024 KB, per-PE register file 64 .. 1024 B; the ``accelerator`` config
group lists the discrete choices searched within them (``accelerator=paper``: the paper's four
decisions; ``accelerator=naas``: rows, columns, connectivity, buffers and loop order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from yoso.config import ConfigError, check_choice, check_int, check_nonempty_unique, required

#: Named dataflows (docs/accelerator.md): weight, output, row and input stationary, no local reuse.
DATAFLOWS: tuple[str, ...] = ("WS", "OS", "RS", "IS", "NLR")
#: The paper's dataflows (Table 1).
PAPER_DATAFLOWS: tuple[str, ...] = ("WS", "OS", "RS", "NLR")
#: Loop dimensions of a convolution an array axis can unroll: output channels K, input channels C,
#: output rows P and columns Q, filter rows R and columns S.
LOOP_DIMS = "KCPQRS"
#: The loops of the global-buffer tiling, whose order (outer to inner) is a NAAS decision.
TILING_LOOPS = "KCP"
#: What a connectivity or a loop order may be, for error messages.
CONNECTIVITY_TEXT = (
    f"a connectivity ROWS-COLS: each side one or more distinct loop dimensions of {LOOP_DIMS}, "
    "no dimension on both sides (e.g. 'C-K', 'PQ-K', 'R-P')"
)
LOOP_ORDER_TEXT = f"a permutation of {TILING_LOOPS!r} (outer to inner, e.g. 'KCP')"


@dataclass(frozen=True)
class Limits:
    """Inclusive ranges of an accelerator's sizes; an FPGA target states its own."""

    pe_rows: tuple[int, int] = (8, 16)
    pe_cols: tuple[int, int] = (8, 32)
    gbuf_kb: tuple[int, int] = (108, 1024)
    rbuf_bytes: tuple[int, int] = (64, 1024)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, prefix: str = "accelerator.limits") -> Limits:
        """Validated ranges (``[low, high]`` per key); None or a missing key keeps the paper's."""
        if cfg is None:
            return cls()
        unknown = sorted(set(cfg) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"{prefix}.{unknown[0]}", cfg[unknown[0]], f"keys {list(cls.__dataclass_fields__)}")
        out = {}
        for key, value in cfg.items():
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
                raise ConfigError(f"{prefix}.{key}", value, "a range [low, high] of positive integers")
            low = check_int(f"{prefix}.{key}[0]", value[0], 1)
            out[key] = (low, check_int(f"{prefix}.{key}[1]", value[1], low))
        return cls(**out)

    def check(self, acc: Accelerator) -> None:
        """A ConfigError naming the first size of ``acc`` outside these ranges."""
        check_pe_shape("pe_rows/pe_cols", (acc.pe_rows, acc.pe_cols), self)
        check_int("gbuf_kb", acc.gbuf_kb, *self.gbuf_kb)
        check_int("rbuf_bytes", acc.rbuf_bytes, *self.rbuf_bytes)


#: The paper's Table 1 ranges.
PAPER_LIMITS = Limits()


@dataclass(frozen=True)
class Accelerator:
    """One accelerator design: PE array shape, global buffer (KB), per-PE register file (B), dataflow, loop order.

    ``loop_order`` (a permutation of :data:`TILING_LOOPS`) fixes the global-buffer tiling's loop
    order; None lets the simulator choose it per layer. Sizes must lie in ``limits`` (the paper's
    Table 1 by default; None: any positive size, e.g. an external tool's 64 KB buffer).
    """

    pe_rows: int
    pe_cols: int
    gbuf_kb: int
    rbuf_bytes: int
    dataflow: str
    loop_order: str | None = None
    limits: Limits | None = field(default=PAPER_LIMITS, kw_only=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        for key in ("pe_rows", "pe_cols", "gbuf_kb", "rbuf_bytes"):
            check_int(key, getattr(self, key), 1)
        if self.limits is not None:
            self.limits.check(self)
        object.__setattr__(self, "dataflow", check_dataflow("dataflow", self.dataflow))
        if self.loop_order is not None:
            object.__setattr__(self, "loop_order", check_loop_order("loop_order", self.loop_order))

    @property
    def num_pes(self) -> int:
        return self.pe_rows * self.pe_cols

    def to_dict(self) -> dict[str, Any]:
        out = {
            "pe_rows": self.pe_rows,
            "pe_cols": self.pe_cols,
            "gbuf_kb": self.gbuf_kb,
            "rbuf_bytes": self.rbuf_bytes,
            "dataflow": self.dataflow,
        }
        return out if self.loop_order is None else out | {"loop_order": self.loop_order}

    @classmethod
    def from_dict(cls, data: dict[str, Any], limits: Limits | None = PAPER_LIMITS) -> Accelerator:
        keys = ("pe_rows", "pe_cols", "gbuf_kb", "rbuf_bytes", "dataflow")
        return cls(**{k: data[k] for k in keys}, loop_order=data.get("loop_order"), limits=limits)

    def __str__(self) -> str:
        """The paper's Table 2 notation, e.g. ``16x32/512KB/128B/OS`` (``.../C-K/KCP`` with a loop order)."""
        order = "" if self.loop_order is None else f"/{self.loop_order}"
        return f"{self.pe_rows}x{self.pe_cols}/{self.gbuf_kb}KB/{self.rbuf_bytes}B/{self.dataflow}{order}"


def parse_connectivity(key: str, value: Any) -> tuple[str, str]:
    """``(rows, cols)`` loop dimensions of a connectivity ``"ROWS-COLS"`` (e.g. ``"PQ-K"``); a ConfigError otherwise."""
    if isinstance(value, str) and value.count("-") == 1:
        rows, cols = value.upper().split("-")
        sides_ok = all(side and set(side) <= set(LOOP_DIMS) and len(set(side)) == len(side) for side in (rows, cols))
        if sides_ok and not set(rows) & set(cols):
            return "".join(sorted(rows, key=LOOP_DIMS.index)), "".join(sorted(cols, key=LOOP_DIMS.index))
    raise ConfigError(key, value, CONNECTIVITY_TEXT)


def check_dataflow(key: str, value: Any) -> str:
    """A named dataflow, or a connectivity in canonical form (dimensions in :data:`LOOP_DIMS` order per side)."""
    if isinstance(value, str) and value in DATAFLOWS:
        return value
    try:
        return "-".join(parse_connectivity(key, value))
    except ConfigError:
        raise ConfigError(key, value, f"a named dataflow {list(DATAFLOWS)} or {CONNECTIVITY_TEXT}") from None


def check_loop_order(key: str, value: Any) -> str:
    """``value`` if it is a permutation of :data:`TILING_LOOPS`."""
    if not isinstance(value, str) or sorted(value.upper()) != sorted(TILING_LOOPS):
        raise ConfigError(key, value, LOOP_ORDER_TEXT)
    return value.upper()


def parse_pe_shape(key: str, value: Any, limits: Limits | None = PAPER_LIMITS) -> tuple[int, int]:
    """A PE array shape from ``"16x32"`` or ``[16, 32]`` as ``(rows, cols)``."""
    if isinstance(value, str):
        parts = value.lower().split("x")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
            return check_pe_shape(key, (int(parts[0]), int(parts[1])), limits)
    elif isinstance(value, Sequence) and len(value) == 2:
        return check_pe_shape(key, tuple(value), limits)
    raise ConfigError(key, value, "a PE array shape 'ROWSxCOLS' or [rows, cols]")


def check_pe_shape(key: str, shape: tuple[Any, Any], limits: Limits | None = PAPER_LIMITS) -> tuple[int, int]:
    """``shape`` as ``(rows, cols)`` if both lie in ``limits`` (None: any positive sizes)."""
    rows, cols = shape
    (rlo, rhi), (clo, chi) = (limits.pe_rows, limits.pe_cols) if limits is not None else ((1, None), (1, None))
    allowed = (
        f"rows in [{rlo}, {rhi}] and cols in [{clo}, {chi}] (PE arrays {rlo}x{clo} .. {rhi}x{chi})"
        if limits is not None
        else "positive rows and cols"
    )
    try:
        rows = check_int(key, rows, rlo, rhi)
        cols = check_int(key, cols, clo, chi)
    except ConfigError:
        raise ConfigError(key, f"{shape[0]}x{shape[1]}", allowed) from None
    return rows, cols


#: Config keys of the ``accelerator`` group -> the decision each list feeds, in encoding order.
#: A space has ``pe_arrays`` or ``pe_rows`` + ``pe_cols``, and ``dataflows`` or ``connectivity``.
DECISION_KEYS = {
    "pe_arrays": "pe_array",
    "pe_rows": "pe_rows",
    "pe_cols": "pe_cols",
    "gbuf_kb": "gbuf_kb",
    "rbuf_bytes": "rbuf_bytes",
    "dataflows": "dataflow",
    "connectivity": "connectivity",
    "loop_orders": "loop_order",
}


@dataclass(frozen=True)
class AcceleratorSpace:
    """The discrete accelerator choices searched: one decision per listed key of the ``accelerator`` group."""

    fields: tuple[str, ...]  # decision names, in encoding order (values of DECISION_KEYS)
    choices: tuple[tuple[Any, ...], ...]
    limits: Limits = PAPER_LIMITS

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], prefix: str = "accelerator") -> AcceleratorSpace:
        """Validated choices from the ``accelerator`` config group; bad entries raise ConfigError."""
        limits = Limits.from_config(cfg.get("limits"), f"{prefix}.limits")
        listed = [k for k in DECISION_KEYS if cfg.get(k) is not None]
        for a, b in (("pe_arrays", "pe_rows"), ("pe_arrays", "pe_cols"), ("dataflows", "connectivity")):
            if a in listed and b in listed:
                raise ConfigError(f"{prefix}.{b}", cfg[b], f"null when {prefix}.{a} is given (one or the other)")
        needed = ["pe_rows", "pe_cols"] if "pe_rows" in listed or "pe_cols" in listed else ["pe_arrays"]
        needed += ["gbuf_kb", "rbuf_bytes", "connectivity" if "connectivity" in listed else "dataflows"]
        for key in needed:
            required(cfg, prefix, key)
        checks = {
            "pe_arrays": lambda k, v: parse_pe_shape(k, v, limits),
            "pe_rows": lambda k, v: check_int(k, v, *limits.pe_rows),
            "pe_cols": lambda k, v: check_int(k, v, *limits.pe_cols),
            "gbuf_kb": lambda k, v: check_int(k, v, *limits.gbuf_kb),
            "rbuf_bytes": lambda k, v: check_int(k, v, *limits.rbuf_bytes),
            "dataflows": lambda k, v: check_choice(k, v, DATAFLOWS),
            "connectivity": check_dataflow,  # NAAS's connectivities; a named dataflow is one more point
            "loop_orders": check_loop_order,
        }
        keys = [k for k in DECISION_KEYS if k in needed or k in listed]
        choices = []
        for key in keys:
            values = check_nonempty_unique(f"{prefix}.{key}", cfg[key])
            values = [checks[key](f"{prefix}.{key}[{i}]", v) for i, v in enumerate(values)]
            check_nonempty_unique(f"{prefix}.{key}", values)  # e.g. 'K-C' and 'k-c' are one connectivity
            choices.append(tuple(values))
        return cls(tuple(DECISION_KEYS[k] for k in keys), tuple(choices), limits)

    @property
    def size(self) -> int:
        """Number of distinct accelerators."""
        out = 1
        for c in self.choices:
            out *= len(c)
        return out

    def options(self, name: str) -> tuple[Any, ...]:
        """The choices of decision ``name`` (e.g. ``"gbuf_kb"``); a KeyError for a decision this space lacks."""
        if name not in self.fields:
            raise KeyError(f"accelerator space has no decision {name!r}; it has {list(self.fields)}")
        return self.choices[self.fields.index(name)]

    def values(self, *indices: int) -> dict[str, Any]:
        """The decision values at the given choice indices, by decision name."""
        return {name: options[i] for name, options, i in zip(self.fields, self.choices, indices)}

    def accelerator(self, *indices: int) -> Accelerator:
        """The accelerator at the given choice indices."""
        v = self.values(*indices)
        rows, cols = v["pe_array"] if "pe_array" in v else (v["pe_rows"], v["pe_cols"])
        dataflow = v["dataflow"] if "dataflow" in v else v["connectivity"]  # a space has one or the other
        return Accelerator(rows, cols, v["gbuf_kb"], v["rbuf_bytes"], dataflow, v.get("loop_order"), limits=self.limits)

    def all(self) -> list[Accelerator]:
        """Every accelerator of the space, in encoding order."""
        return [self.accelerator(*idx) for idx in product(*(range(len(c)) for c in self.choices))]

    def indices(self, acc: Accelerator) -> tuple[int, ...]:
        """Choice indices of ``acc``; a ValueError says which value is not among the choices."""
        values = {
            "pe_array": (acc.pe_rows, acc.pe_cols),
            "pe_rows": acc.pe_rows,
            "pe_cols": acc.pe_cols,
            "gbuf_kb": acc.gbuf_kb,
            "rbuf_bytes": acc.rbuf_bytes,
            "dataflow": acc.dataflow,
            "connectivity": acc.dataflow,
            "loop_order": acc.loop_order,
        }
        if "loop_order" not in self.fields and acc.loop_order is not None:
            raise ValueError(f"accelerator {acc}: has a loop order, this space has no loop_order decision")
        out = []
        for name, options in zip(self.fields, self.choices):
            if values[name] not in options:
                raise ValueError(
                    f"accelerator {acc}: {name} value {values[name]} is not among the choices {list(options)}"
                )
            out.append(options.index(values[name]))
        return tuple(out)
