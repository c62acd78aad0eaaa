"""Technology constants of the simulator, loaded from package data (``yoso/hw/technologies/<name>.yaml``), validated.

The YAML is the one place for the numbers and their sources; this module only checks them
and derives per-accelerator access energies (buffer energy grows with buffer size).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from yoso.config import ConfigError, check_bool, check_choice, check_float, check_int, check_keys, required
from yoso.space.accelerator import Accelerator
from yoso.space.genotype import PRECISION_BITS

#: Memory levels, innermost first; energy breakdowns use these keys (plus "static").
LEVELS = ("mac", "rf", "noc", "glb", "dram")
#: What the mapper minimises per layer over its candidate mappings (``hw.mapping_objective``, docs/accelerator.md):
#: the layer's energy (least cycles among equals), its latency (least energy among equals) or their product.
MAPPING_OBJECTIVES = ("edp", "energy", "latency")
#: The technologies shipped with the package (``hw.tech`` names one of them).
TECH_DIR = files("yoso.hw") / "technologies"


@dataclass(frozen=True)
class UnitCosts:
    """Energy of one access (one 16-bit word) at each level, in units of one MAC."""

    mac: float
    rf: float
    noc: float
    glb: float
    dram: float

    def __post_init__(self) -> None:
        for f in fields(self):
            check_float(f"unit_costs.{f.name}", getattr(self, f.name), at_least=0.0)

    def vector(self) -> np.ndarray:
        """The costs in :data:`LEVELS` order."""
        return np.array([self.mac, self.rf, self.noc, self.glb, self.dram])

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], prefix: str = "unit_costs") -> UnitCosts:
        unknown = sorted(set(data) - set(LEVELS))
        if unknown:
            raise ConfigError(f"{prefix}.{unknown[0]}", data[unknown[0]], f"keys {list(LEVELS)}")
        return cls(**{k: check_float(f"{prefix}.{k}", required(data, prefix, k), at_least=0.0) for k in LEVELS})


@dataclass(frozen=True)
class Tech:
    """Technology: word size, MAC-normalised unit costs at reference sizes, pJ per unit, clock, DRAM, leakage; and
    the simulator's two modelling switches that every cached result depends on (on-chip feature maps, the mapper's
    objective: ``hw.mapping_objective`` sets it, a technology YAML does not)."""

    name: str
    word_bits: int
    unit_costs: UnitCosts
    mac_pj: float
    rf_ref_bytes: float
    glb_ref_kb: float
    rf_size_exponent: float
    glb_size_exponent: float
    noc_ref_pes: float
    noc_size_exponent: float
    clock_mhz: float
    dram_gb_s: float
    leak_uw_per_sram_kb: float
    leak_uw_per_pe: float
    mac_multiplier_share: float
    onchip_fmaps: bool = True
    mapping_objective: str = MAPPING_OBJECTIVES[0]

    def __post_init__(self) -> None:
        check_bool("tech.onchip_fmaps", self.onchip_fmaps)
        check_choice("hw.mapping_objective", self.mapping_objective, MAPPING_OBJECTIVES)
        check_choice("tech.word_bits", self.word_bits, (*PRECISION_BITS, 32))
        check_float("tech.mac_multiplier_share", self.mac_multiplier_share, at_least=0.0, at_most=1.0)
        for key in ("mac_pj", "rf_ref_bytes", "glb_ref_kb", "noc_ref_pes", "clock_mhz", "dram_gb_s"):
            check_float(f"tech.{key}", getattr(self, key), greater_than=0.0)
        nonnegative = (
            "rf_size_exponent",
            "glb_size_exponent",
            "noc_size_exponent",
            "leak_uw_per_sram_kb",
            "leak_uw_per_pe",
        )
        for key in nonnegative:
            check_float(f"tech.{key}", getattr(self, key), at_least=0.0)
        if not isinstance(self.unit_costs, UnitCosts):
            raise ConfigError("tech.unit_costs", self.unit_costs, "a mapping mac/rf/noc/glb/dram -> number")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Tech:
        """A Tech from a parsed YAML mapping; unknown or missing keys raise ConfigError."""
        if not isinstance(data, Mapping):
            raise ConfigError("tech", data, "a mapping of technology constants")
        names = [f.name for f in fields(cls) if f.name != "mapping_objective"]
        check_keys("tech", data, names)
        values = {k: required(data, "tech", k) for k in names if k != "onchip_fmaps"}
        values["onchip_fmaps"] = data.get("onchip_fmaps", True)
        costs = values["unit_costs"]
        if not isinstance(costs, Mapping):
            raise ConfigError("tech.unit_costs", costs, "a mapping mac/rf/noc/glb/dram -> number")
        values["unit_costs"] = UnitCosts.from_mapping(costs, "tech.unit_costs")
        values["word_bits"] = check_int("tech.word_bits", values["word_bits"], 1)
        return cls(**values)

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8

    @property
    def dram_words_per_cycle(self) -> float:
        """DRAM bandwidth in words per clock cycle."""
        return self.dram_gb_s * 1e9 / self.word_bytes / (self.clock_mhz * 1e6)

    def mac_energy_ratio(self, bits: int) -> float:
        """Energy of a MAC of ``bits``-bit operands over one of word-width operands: the multiplier's share scales
        with the product of the operand widths, the accumulate's with their width (Horowitz, ISSCC 2014)."""
        r = bits / self.word_bits
        return self.mac_multiplier_share * r * r + (1.0 - self.mac_multiplier_share) * r

    def costs(self, acc: Accelerator) -> UnitCosts:
        """Unit costs for ``acc``: RF, NoC and global-buffer access energy scaled with their sizes."""
        return UnitCosts(*map(float, self.unit_cost_vectors(acc.rbuf_bytes, acc.num_pes, acc.gbuf_kb)))

    def unit_cost_vectors(self, rbuf_bytes: Any, num_pes: Any, gbuf_kb: Any) -> np.ndarray:
        """Unit costs in :data:`LEVELS` order (``(..., 5)``) of accelerators given by their sizes (scalars or arrays
        of one shape): the one formula :meth:`costs` and the many-accelerator sweep (:mod:`yoso.hw.sweep`) use."""
        u = self.unit_costs
        rbuf, pes, gbuf = np.broadcast_arrays(
            *(np.asarray(v, dtype=np.float64) for v in (rbuf_bytes, num_pes, gbuf_kb))
        )
        return np.stack(
            [
                np.full(rbuf.shape, u.mac),
                u.rf * (rbuf / self.rf_ref_bytes) ** self.rf_size_exponent,
                u.noc * (pes / self.noc_ref_pes) ** self.noc_size_exponent,
                u.glb * (gbuf / self.glb_ref_kb) ** self.glb_size_exponent,
                np.full(rbuf.shape, u.dram),
            ],
            axis=-1,
        )

    def static_power_mw(self, acc: Accelerator) -> float:
        """Leakage power of ``acc`` in mW: SRAM (global buffer + all register files) and PEs."""
        return float(self.static_power_of(acc.rbuf_bytes, acc.num_pes, acc.gbuf_kb))

    def static_power_of(self, rbuf_bytes: Any, num_pes: Any, gbuf_kb: Any) -> Any:
        """Leakage power in mW of accelerators given by their sizes (scalars or arrays of one shape)."""
        sram_kb = np.asarray(gbuf_kb, dtype=np.float64) + np.asarray(num_pes) * np.asarray(rbuf_bytes) / 1024
        return (self.leak_uw_per_sram_kb * sram_kb + self.leak_uw_per_pe * np.asarray(num_pes)) / 1000


@cache
def at_bits(tech: Tech, bits: int | None) -> Tech:
    """``tech`` for operands of ``bits`` bits (None or its word: ``tech`` itself), the one place precision enters
    the cost model: buffer capacity and DRAM bandwidth count values of ``bits`` bits (a 4-bit design holds 4x the
    values of a 16-bit one in the same buffer), each access moves ``bits / word_bits`` of a word (values packed
    in words) and a MAC costs :meth:`Tech.mac_energy_ratio` of a word-width one. Compute throughput does not
    change: a PE does one MAC per cycle at any width (docs/accelerator.md, Precision)."""
    if bits is None or bits == tech.word_bits:
        return tech
    share, u = bits / tech.word_bits, tech.unit_costs
    costs = UnitCosts(u.mac * tech.mac_energy_ratio(bits), u.rf * share, u.noc * share, u.glb * share, u.dram * share)
    return replace(tech, name=f"{tech.name}@{bits}b", word_bits=bits, unit_costs=costs)


#: The technology of the paper's setting (65 nm, 16-bit, Eyeriss): the default of ``hw.tech`` and ``--tech``.
DEFAULT_TECH = "eyeriss_65nm"


@cache
def load_tech(name_or_path: str = DEFAULT_TECH) -> Tech:
    """The Tech named ``name_or_path`` (a technology of the package, e.g. ``eyeriss_65nm``, or a YAML path)."""
    path = Path(name_or_path) if Path(name_or_path).suffix else TECH_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        allowed = f"a technology of yoso/hw/technologies {technologies()} or a YAML path"
        raise ConfigError("hw.tech", name_or_path, allowed)
    return Tech.from_mapping(yaml.safe_load(path.read_text()))


def technologies() -> list[str]:
    """Names of the technologies shipped with the package."""
    return sorted(p.name.removesuffix(".yaml") for p in TECH_DIR.iterdir() if p.name.endswith(".yaml"))


def hw_tech(hw: Mapping[str, Any]) -> Tech:
    """The technology a run's ``hw`` node configures: ``hw.tech`` costed under ``hw.mapping_objective``."""
    objective = hw.get("mapping_objective", MAPPING_OBJECTIVES[0])
    tech = load_tech(str(hw.get("tech", DEFAULT_TECH)))
    return replace(tech, mapping_objective=check_choice("hw.mapping_objective", objective, MAPPING_OBJECTIVES))
