"""The hardware half of a candidate: a spatial PE-array accelerator and its discrete design space.

The allowed ranges are the paper's Table 1: PE array 8x8 .. 16x32, global buffer
108 .. 1024 KB, per-PE register file 64 .. 1024 B, dataflow WS/OS/RS/NLR. The
discrete choices searched within them come from the ``accelerator`` config group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from yoso.config import ConfigError, check_choice, check_int, check_nonempty_unique, required

#: Dataflows (README, Hardware cost): weight stationary, output stationary, row stationary, no local reuse.
DATAFLOWS: tuple[str, ...] = ("WS", "OS", "RS", "NLR")
#: Allowed ranges (paper Table 1), inclusive.
PE_ROWS_RANGE = (8, 16)
PE_COLS_RANGE = (8, 32)
GBUF_KB_RANGE = (108, 1024)
RBUF_BYTES_RANGE = (64, 1024)


@dataclass(frozen=True)
class Accelerator:
    """One accelerator design: PE array shape, global buffer (KB), per-PE register file (B), dataflow.

    Sizes must lie in the paper's Table 1 ranges unless ``paper_ranges=False``: an accelerator of
    an external tool's setup (e.g. a 64 KB global buffer) that the simulator costs alike.
    """

    pe_rows: int
    pe_cols: int
    gbuf_kb: int
    rbuf_bytes: int
    dataflow: str
    paper_ranges: bool = field(default=True, kw_only=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.paper_ranges:
            check_pe_shape("pe_rows/pe_cols", (self.pe_rows, self.pe_cols))
            check_int("gbuf_kb", self.gbuf_kb, *GBUF_KB_RANGE)
            check_int("rbuf_bytes", self.rbuf_bytes, *RBUF_BYTES_RANGE)
        else:
            for key in ("pe_rows", "pe_cols", "gbuf_kb", "rbuf_bytes"):
                check_int(key, getattr(self, key), 1)
        check_choice("dataflow", self.dataflow, DATAFLOWS)

    @property
    def num_pes(self) -> int:
        return self.pe_rows * self.pe_cols

    def to_dict(self) -> dict[str, Any]:
        return {
            "pe_rows": self.pe_rows,
            "pe_cols": self.pe_cols,
            "gbuf_kb": self.gbuf_kb,
            "rbuf_bytes": self.rbuf_bytes,
            "dataflow": self.dataflow,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Accelerator":
        return cls(**{k: data[k] for k in ("pe_rows", "pe_cols", "gbuf_kb", "rbuf_bytes", "dataflow")})

    def __str__(self) -> str:
        """The paper's Table 2 notation, e.g. ``16x32/512KB/128B/OS``."""
        return f"{self.pe_rows}x{self.pe_cols}/{self.gbuf_kb}KB/{self.rbuf_bytes}B/{self.dataflow}"


def parse_pe_shape(key: str, value: Any) -> tuple[int, int]:
    """A PE array shape from ``"16x32"`` or ``[16, 32]`` as ``(rows, cols)``."""
    if isinstance(value, str):
        parts = value.lower().split("x")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
            return check_pe_shape(key, (int(parts[0]), int(parts[1])))
    elif isinstance(value, Sequence) and len(value) == 2:
        return check_pe_shape(key, tuple(value))
    raise ConfigError(key, value, "a PE array shape 'ROWSxCOLS' or [rows, cols]")


def check_pe_shape(key: str, shape: tuple[Any, Any]) -> tuple[int, int]:
    """``shape`` as ``(rows, cols)`` if both lie in the paper's 8x8 .. 16x32 range."""
    rows, cols = shape
    allowed = (
        f"rows in [{PE_ROWS_RANGE[0]}, {PE_ROWS_RANGE[1]}] and cols in [{PE_COLS_RANGE[0]}, {PE_COLS_RANGE[1]}]"
        f" (PE arrays {PE_ROWS_RANGE[0]}x{PE_COLS_RANGE[0]} .. {PE_ROWS_RANGE[1]}x{PE_COLS_RANGE[1]})"
    )
    try:
        rows = check_int(key, rows, *PE_ROWS_RANGE)
        cols = check_int(key, cols, *PE_COLS_RANGE)
    except ConfigError:
        raise ConfigError(key, f"{shape[0]}x{shape[1]}", allowed) from None
    return rows, cols


@dataclass(frozen=True)
class AcceleratorSpace:
    """The discrete accelerator choices searched: one list per accelerator decision."""

    pe_arrays: tuple[tuple[int, int], ...]
    gbuf_kb: tuple[int, ...]
    rbuf_bytes: tuple[int, ...]
    dataflows: tuple[str, ...]

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], prefix: str = "accelerator") -> "AcceleratorSpace":
        """Validated choices from the ``accelerator`` config group; bad entries raise ConfigError."""
        pe, gbuf, rbuf, flows = (
            check_nonempty_unique(f"{prefix}.{name}", required(cfg, prefix, name))
            for name in ("pe_arrays", "gbuf_kb", "rbuf_bytes", "dataflows")
        )
        return cls(
            pe_arrays=tuple(parse_pe_shape(f"{prefix}.pe_arrays[{i}]", v) for i, v in enumerate(pe)),
            gbuf_kb=tuple(check_int(f"{prefix}.gbuf_kb[{i}]", v, *GBUF_KB_RANGE) for i, v in enumerate(gbuf)),
            rbuf_bytes=tuple(
                check_int(f"{prefix}.rbuf_bytes[{i}]", v, *RBUF_BYTES_RANGE) for i, v in enumerate(rbuf)
            ),
            dataflows=tuple(check_choice(f"{prefix}.dataflows[{i}]", v, DATAFLOWS) for i, v in enumerate(flows)),
        )

    @property
    def choices(self) -> tuple[tuple[Any, ...], ...]:
        """The choice lists in decision order: PE array, global buffer, register file, dataflow."""
        return (self.pe_arrays, self.gbuf_kb, self.rbuf_bytes, self.dataflows)

    @property
    def size(self) -> int:
        """Number of distinct accelerators."""
        return len(self.pe_arrays) * len(self.gbuf_kb) * len(self.rbuf_bytes) * len(self.dataflows)

    def accelerator(self, pe: int, gbuf: int, rbuf: int, dataflow: int) -> Accelerator:
        """The accelerator at the given choice indices."""
        rows, cols = self.pe_arrays[pe]
        return Accelerator(rows, cols, self.gbuf_kb[gbuf], self.rbuf_bytes[rbuf], self.dataflows[dataflow])

    def indices(self, acc: Accelerator) -> tuple[int, int, int, int]:
        """Choice indices of ``acc``; a ValueError says which value is not among the choices."""
        values = ((acc.pe_rows, acc.pe_cols), acc.gbuf_kb, acc.rbuf_bytes, acc.dataflow)
        names = ("pe_arrays", "gbuf_kb", "rbuf_bytes", "dataflows")
        out = []
        for name, value, options in zip(names, values, self.choices):
            if value not in options:
                raise ValueError(f"accelerator {acc}: {name} value {value} is not among the choices {list(options)}")
            out.append(options.index(value))
        return tuple(out)  # type: ignore[return-value]

