"""FPGA targets (docs/targets.md): a board's device resources, the exact resource use of an accelerator, power and FPS.

A :class:`Board` (the ``target`` config group, ``conf/target/<board>.yaml``, every figure cited
there) maps an accelerator onto DSP slices, block RAM, UltraRAM, LUTs and flip-flops:

* **DSP**: one PE is one MAC; a DSP slice holds ``macs_per_dsp[bits]`` MACs at the datapath's width ``bits``
  (``word_bits``, or the widest precision of a precision-space network): one 16-bit MAC per DSP48E1/E2; two
  8-bit MACs sharing an operand per DSP48E2 (Xilinx WP486); four 4-bit ones (Xilinx WP521).
* **Global buffer**: one port of ``(pe_rows + pe_cols) * bits`` bits (the array's edge:
  a value per row and per column each cycle), packed into BRAM36 blocks in the aspect ratio
  that needs fewest (512x72, 1Kx36, 2Kx18, 4Kx9, 8Kx4, 16Kx2, 32Kx1: ``ceil(width / w) *
  ceil(depth / d)``), or into UltraRAM (4Kx72) where the device has enough of it.
* **Register files**: up to ``lutram_max_bytes`` per PE in LUTRAM (64 bits per LUT), larger
  ones in one BRAM18 (half a BRAM36, 16 Kb at x16) per 2 KB per PE.
* **LUT/FF**: a fixed shell (DMA, AXI, control) plus a per-PE share (operand registers,
  muxes, control), plus the LUTRAM. These are assumptions stated in the board YAML.

Latency comes from the simulator's mapping at the board's clock, bandwidth and word size
(:meth:`Board.tech`); energy = DRAM traffic x pJ/bit (the simulator's DRAM words) + board
power x latency, power = device static + per-resource dynamic power of the resources used.
A design that does not fit the device has infinite energy and latency: every consumer
(strategies, the final step) treats it as infeasible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from yoso.config import ConfigError, check_choice, check_float, check_int
from yoso.hw.tech import Tech, UnitCosts
from yoso.space.accelerator import Accelerator

#: BRAM36 aspect ratios (depth, width) of UltraScale+ and 7-series block RAM (UG573, UG473).
BRAM36_SHAPES = ((512, 72), (1024, 36), (2048, 18), (4096, 9), (8192, 4), (16384, 2), (32768, 1))
#: UltraRAM: one fixed 4K x 72 shape (UG573).
URAM_SHAPE = (4096, 72)
#: Bits of a BRAM18 at x16 (the half block a register file takes), and bits of distributed RAM per LUT (RAM64X1).
BRAM18_DATA_BITS = 16 * 1024
LUTRAM_BITS_PER_LUT = 64
#: The resources of a device, in the order of :class:`Usage`'s counts and of the history columns.
RESOURCES = ("dsp", "bram36", "uram", "lut", "ff")
#: Columns a search on a board adds to history.csv: each resource's count and % of the device, and the fit.
USAGE_COLUMNS = (*RESOURCES, *(f"{r}_pct" for r in RESOURCES), "fits")


@dataclass(frozen=True)
class Usage:
    """Resource use of accelerators on one board: counts ``(n, 5)`` in :data:`RESOURCES` order and their fraction."""

    counts: np.ndarray
    fraction: np.ndarray  # counts / device capacity (0 where the device has none of a resource and none is used)

    @property
    def fits(self) -> np.ndarray:
        """Whether each design fits the device (no resource over 100 %)."""
        return np.asarray((self.fraction <= 1.0).all(axis=1))

    def row(self, i: int) -> dict[str, float]:
        """Design ``i``'s counts, percentages and fit by :data:`USAGE_COLUMNS` name."""
        pct = 100.0 * self.fraction[i]
        return {
            **dict(zip(RESOURCES, map(float, self.counts[i]))),
            **{f"{r}_pct": float(p) for r, p in zip(RESOURCES, pct)},
            "fits": float(self.fits[i]),
        }


def _check_count(key: str, value: Any) -> int:
    return check_int(f"target.{key}", value, 0)


@dataclass(frozen=True)
class Board:
    """An FPGA board: device resources, the clock the accelerator runs at, off-chip bandwidth, power figures.

    Facts and assumptions come from ``conf/target/<board>.yaml`` (sources cited there); the
    constructor checks each value (a bad one raises a ConfigError naming ``target.<key>``).
    """

    name: str
    device: str
    dsp: int
    bram36: int
    uram: int
    lut: int
    ff: int
    clock_mhz: float
    dram_gb_s: float
    dram_pj_per_bit: float
    static_w: float
    dsp_uw_per_mhz: float
    bram36_uw_per_mhz: float
    uram_uw_per_mhz: float
    lut_uw_per_mhz: float
    macs_per_dsp: Mapping[int, float]
    word_bits: int = 16
    lutram_max_bytes: int = 256
    shell_lut: int = 20000
    shell_ff: int = 30000
    lut_per_pe: int = 60
    ff_per_pe: int = 100

    def __post_init__(self) -> None:
        """The range checks of the ``target`` group (the one place they are made)."""
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("target.name", self.name, "a non-empty board name")
        check_int("target.dsp", self.dsp, 1)
        check_int("target.bram36", self.bram36, 1)
        for key in ("uram", "lutram_max_bytes", "shell_lut", "shell_ff", "lut_per_pe", "ff_per_pe"):
            _check_count(key, getattr(self, key))
        check_int("target.lut", self.lut, 1)
        check_int("target.ff", self.ff, 1)
        for key in ("clock_mhz", "dram_gb_s", "dram_pj_per_bit"):
            object.__setattr__(self, key, check_float(f"target.{key}", getattr(self, key), greater_than=0.0))
        for key in ("static_w", "dsp_uw_per_mhz", "bram36_uw_per_mhz", "uram_uw_per_mhz", "lut_uw_per_mhz"):
            object.__setattr__(self, key, check_float(f"target.{key}", getattr(self, key), at_least=0.0))
        check_choice("target.word_bits", self.word_bits, (8, 16))
        if not isinstance(self.macs_per_dsp, Mapping) or self.word_bits not in self.macs_per_dsp:
            raise ConfigError(
                "target.macs_per_dsp",
                self.macs_per_dsp,
                f"a mapping word_bits -> MACs per DSP slice with an entry for {self.word_bits}",
            )
        for bits, macs in self.macs_per_dsp.items():
            check_float(f"target.macs_per_dsp.{bits}", macs, greater_than=0.0)
        object.__setattr__(self, "macs_per_dsp", {int(k): float(v) for k, v in self.macs_per_dsp.items()})

    def __hash__(self) -> int:  # macs_per_dsp is a dict
        return hash(
            tuple(
                tuple(sorted(self.macs_per_dsp.items())) if f == "macs_per_dsp" else getattr(self, f)
                for f in self.__dataclass_fields__
            )
        )

    @property
    def capacity(self) -> np.ndarray:
        """The device's resources in :data:`RESOURCES` order."""
        return np.array([self.dsp, self.bram36, self.uram, self.lut, self.ff], dtype=np.float64)

    def tech(self, base: Tech) -> Tech:
        """The simulator's technology on this board: its clock, bandwidth and word size; energy = DRAM traffic only.

        Every on-chip unit cost and leakage is 0 and one DRAM word costs ``word_bits x dram_pj_per_bit``
        pJ, so the simulator's energy is the DRAM energy; :meth:`cost` adds the board's power x latency.
        """
        return replace(
            base,
            name=f"{base.name}@{self.name}",
            word_bits=self.word_bits,
            clock_mhz=self.clock_mhz,
            dram_gb_s=self.dram_gb_s,
            unit_costs=UnitCosts(0.0, 0.0, 0.0, 0.0, 1.0),
            mac_pj=self.word_bits * self.dram_pj_per_bit,
            leak_uw_per_sram_kb=0.0,
            leak_uw_per_pe=0.0,
        )

    def check_precisions(self, bits: Sequence[int], key: str = "space.precisions") -> None:
        """A ConfigError unless the DSP packing table has an entry for each of ``bits`` (a precision space's)."""
        missing = sorted(set(bits) - set(self.macs_per_dsp))
        if missing:
            raise ConfigError(
                "target.macs_per_dsp",
                dict(self.macs_per_dsp),
                f"an entry for every precision of {key} {sorted(set(bits))} (lacks {missing}; "
                f"set target.macs_per_dsp.{missing[0]}=<MACs per DSP slice>)",
            )

    def datapath_bits(self, bits: Any, n: int) -> np.ndarray:
        """The datapath width of ``n`` designs: ``bits`` (one per design or one for all; None: ``word_bits``)."""
        if bits is None:
            return np.full(n, self.word_bits, dtype=np.int64)
        values = [self.word_bits if b is None else int(b) for b in np.broadcast_to(np.asarray(bits, dtype=object), n)]
        return np.asarray(values, dtype=np.int64)

    def usage(self, accelerators: Sequence[Accelerator], bits: Any = None) -> Usage:
        """Exact resource use of each accelerator on this device (vectorised over the list), its datapath ``bits``
        wide (one per accelerator or one for all; None: ``word_bits``)."""
        a = np.array([(x.pe_rows, x.pe_cols, x.gbuf_kb, x.rbuf_bytes) for x in accelerators], dtype=np.float64)
        a = a.reshape(-1, 4)
        rows, cols, gbuf_kb, rbuf = a.T
        pes = rows * cols
        width_bits = self.datapath_bits(bits, len(a))
        dsp = np.ceil(pes / np.array([self.macs_per_dsp[int(b)] for b in width_bits]))
        glb_bits = gbuf_kb * 1024 * 8
        # the port: one value per array row and column per cycle. A narrower datapath may read through the port of
        # a wider precision of the table (values packed in its words), so the GLB takes the fewest blocks over
        # those ports and fewer bits never need more block RAM or UltraRAM.
        glb_bram = glb_uram = np.full(len(a), np.inf)
        for port_bits in sorted({*self.macs_per_dsp, *width_bits.tolist()}):
            port = (rows + cols) * np.maximum(port_bits, width_bits)
            depth = np.ceil(glb_bits / port)
            blocks = np.min([np.ceil(port / w) * np.ceil(depth / d) for d, w in BRAM36_SHAPES], axis=0)
            glb_bram = np.minimum(glb_bram, blocks)
            glb_uram = np.minimum(glb_uram, np.ceil(port / URAM_SHAPE[1]) * np.ceil(depth / URAM_SHAPE[0]))
        in_uram = (self.uram > 0) & (glb_uram <= self.uram)
        lutram = rbuf <= self.lutram_max_bytes
        rf_bram = np.where(lutram, 0.0, np.ceil(pes * np.ceil(rbuf * 8 / BRAM18_DATA_BITS) / 2))
        rf_lut = np.where(lutram, pes * np.ceil(rbuf * 8 / LUTRAM_BITS_PER_LUT), 0.0)
        bram = np.where(in_uram, 0.0, glb_bram) + rf_bram
        uram = np.where(in_uram, glb_uram, 0.0)
        lut = self.shell_lut + self.lut_per_pe * pes + rf_lut
        ff = self.shell_ff + self.ff_per_pe * pes
        counts = np.stack([dsp, bram, uram, lut, ff], axis=1)
        cap = self.capacity
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(cap > 0, counts / np.where(cap > 0, cap, 1.0), np.where(counts > 0, np.inf, 0.0))
        return Usage(counts, fraction)

    def power_w(self, usage: Usage) -> np.ndarray:
        """Board power of each design (W): device static plus the dynamic power of the resources it uses."""
        per_mhz = np.array(
            [self.dsp_uw_per_mhz, self.bram36_uw_per_mhz, self.uram_uw_per_mhz, self.lut_uw_per_mhz, 0.0]
        )
        power: np.ndarray = self.static_w + usage.counts @ per_mhz * self.clock_mhz * 1e-6
        return power

    def cost(
        self, accelerators: Sequence[Accelerator], dram_mj: Any, latency_ms: Any, bits: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(energy_mj, latency_ms)`` on the board from the simulator's DRAM energy and latency (of :meth:`tech`),
        each design's datapath ``bits`` wide (:meth:`usage`).

        Energy adds power x latency (W x ms = mJ); a design that does not fit gets ``inf`` for both.
        """
        usage = self.usage(accelerators, bits)
        latency = np.asarray(latency_ms, dtype=np.float64)
        energy = np.asarray(dram_mj, dtype=np.float64) + self.power_w(usage) * latency
        fits = usage.fits
        return np.where(fits, energy, np.inf), np.where(fits, latency, np.inf)


def fps(latency_ms: Any) -> np.ndarray:
    """Frames per second of a latency per frame (ms): the deployment network runs one image at a time."""
    with np.errstate(divide="ignore"):
        return 1000.0 / np.asarray(latency_ms, dtype=np.float64)
