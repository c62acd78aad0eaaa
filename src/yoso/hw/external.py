"""yoso's simulator against the external reference data (package data ``yoso/reference/external_reference.json``).

Shared by ``tests/test_hw_external.py`` and ``benchmarks/bench_simulator.py``; reads the JSON
only (the external tools themselves live in ``.venv-ext``, benchmarks/external/README.md).
Three comparisons (issue 4 item 5):

* cycles vs SCALE-Sim (WS, OS): yoso's systolic array mapping (``mappings=("systolic",)``),
  the one SCALE-Sim models; yoso's default OS search may pick ShiDianNao's mapping instead;
* energy vs nn-dataflow (RS) and ZigZag (WS/OS/RS-like unrollings): the same MAC-normalised
  unit costs, each layer alone from DRAM to DRAM (``onchip_fmaps=False``), total energy;
* Eyeriss ISCA'16 Fig. 10 (nn-dataflow's ``test_eyeriss_isca16``): AlexNet conv1-conv5 in
  nn-dataflow's 2-group layout, batch 16, 16x16 PEs, 128 KB GLB, 512 B RF, RS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yoso.hw.layers import Layer, layer_from_record
from yoso.hw.simulator import simulate_layer
from yoso.hw.tech import UnitCosts
from yoso.reference import EXTERNAL
from yoso.space.accelerator import Accelerator

#: Eyeriss ISCA'16 Fig. 10 / nn-dataflow keys -> yoso's level names.
EYERISS_KEYS = {"alu": "mac", "dram": "dram", "buf": "glb", "array": "noc", "rf": "rf"}


def load_reference(path: Path | str | None = None) -> dict[str, Any]:
    """The stored external reference data (the package's, or the JSON at ``path``)."""
    data: dict[str, Any] = json.loads((EXTERNAL if path is None else Path(path)).read_text())
    return data


def unit_costs(ref: Mapping[str, Any]) -> UnitCosts:
    """The reference's unit costs (MAC 1, RF 1, array 2, GLB 6, DRAM 200) as yoso's UnitCosts."""
    u = ref["unit_costs"]
    return UnitCosts(mac=u["mac"], rf=u["rf"], noc=u["noc"], glb=u["glb"], dram=u["dram"])


def hardware(rec: Mapping[str, Any]) -> Accelerator:
    """The accelerator of a reference record or setup (external tools' sizes lie outside the paper's ranges)."""
    return Accelerator(rec["pe_rows"], rec["pe_cols"], rec["gbuf_kb"], rec["rbuf_bytes"], rec["dataflow"], limits=None)


def _spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 1 else float("nan")


@dataclass(frozen=True)
class Agreement:
    """yoso vs a reference on a set of records: relative errors and rank correlation."""

    label: str
    ids: tuple[str, ...]
    yoso: np.ndarray
    reference: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def rel_error(self) -> np.ndarray:
        """|yoso - ref| / ref per record."""
        error: np.ndarray = np.abs(self.yoso - self.reference) / self.reference
        return error

    @property
    def median_error(self) -> float:
        return float(np.median(self.rel_error))

    @property
    def max_error(self) -> float:
        return float(np.max(self.rel_error))

    @property
    def spearman(self) -> float:
        return _spearman(self.yoso, self.reference)

    def line(self) -> str:
        return (
            f"{self.label:28s} n={self.n:3d}  median rel. err {100 * self.median_error:6.1f}%  "
            f"max {100 * self.max_error:6.1f}%  Spearman {self.spearman:.3f}"
        )


def cycle_agreement(ref: Mapping[str, Any], dataflow: str | None = None) -> Agreement:
    """Compute cycles of yoso's systolic WS/OS mapping vs SCALE-Sim's "Total Cycles" (``dataflow``: one, or all)."""
    recs = [r for r in ref["cycles"] if dataflow in (None, r["dataflow"])]
    yoso = [simulate_layer(layer_from_record(r), hardware(r), mappings=("systolic",)).compute_cycles for r in recs]
    label = f"cycles vs SCALE-Sim {dataflow or 'WS+OS'}"
    ref_cycles = np.array([r["cycles"] for r in recs], float)
    return Agreement(label, tuple(r["id"] for r in recs), np.array(yoso, float), ref_cycles)


def energy_agreement(ref: Mapping[str, Any], tool: str, dataflow: str | None = None) -> Agreement:
    """Total energy (MAC units, reference unit costs, DRAM to DRAM) vs ``tool`` (nn_dataflow | zigzag).

    Known gap: nn-dataflow (``no_time_mux=False``) treats a layer's filters as resident when
    they all fit in its GLB and fetches none from DRAM, so on the small FC records yoso's
    energy (which fetches every weight once) is up to ~14x higher; ZigZag has no array level.
    """
    costs = unit_costs(ref)
    recs = [r for r in ref["energy"] if r["tool"] == tool and dataflow in (None, r["dataflow"])]
    yoso = []
    for r in recs:
        res = simulate_layer(layer_from_record(r), hardware(r), costs=costs, onchip_fmaps=False)
        yoso.append(sum(res.energy_units.values()))
    label = f"energy vs {tool} {dataflow or 'all'}"
    ref_e = np.array([r["energy"]["total"] for r in recs], float)
    return Agreement(label, tuple(r["id"] for r in recs), np.array(yoso, float), ref_e)


def alexnet_isca16_layers(batch: int = 16) -> dict[str, list[Layer]]:
    """AlexNet conv1-conv5 as nn-dataflow's ``alex_net`` defines them: two halves per layer (``_a``, ``_b``).

    nn-dataflow's ConvLayer(C, K, out, R, stride) reads an unpadded input of
    (out - 1) * stride + R; conv1/conv3 halves read all input channels, conv2/4/5 halves one
    group's (48/192/192). The reference's ALU counts (1e9 MAC units) confirm these shapes.
    """
    spec = {
        "conv1": (3, 48, 55, 11, 4),
        "conv2": (48, 128, 27, 5, 1),
        "conv3": (256, 192, 13, 3, 1),
        "conv4": (192, 192, 13, 3, 1),
        "conv5": (192, 128, 13, 3, 1),
    }
    out = {}
    for name, (c, k, ho, r, s) in spec.items():
        h = (ho - 1) * s + r
        out[name] = [Layer("conv", c, k, h, h, r, r, s, 0, N=batch, name=f"{name}_{x}") for x in "ab"]
    return out


def eyeriss_table(ref: Mapping[str, Any]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per AlexNet conv layer and level (alu, dram, buf, array, rf): (yoso, reference) in 1e9 MAC units.

    The reference is the test's ``major_cost_bkdn_ref`` for ALU/DRAM/RF and nn-dataflow's
    computed value for the GLB (buf) and array levels, which the test does not pin.
    """
    eye = ref["eyeriss_isca16"]
    s = eye["setup"]
    hw = hardware(s)
    costs = unit_costs(ref)
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for name, layers in alexnet_isca16_layers(s["batch"]).items():
        res = [simulate_layer(l, hw, costs=costs, onchip_fmaps=False) for l in layers]
        row = {}
        for key, level in EYERISS_KEYS.items():
            yoso = sum(r.energy_units[level] for r in res) / 1e9
            pinned = eye["layers"][name][key]
            row[key] = (yoso, pinned if pinned is not None else eye["nn_dataflow_computed"][name][key])
        table[name] = row
    return table


def whole_network_reference(ref: Mapping[str, Any], search: str = "nn_dataflow_exhaustive") -> dict[str, Any]:
    """nn-dataflow's whole-network (DARTS_V2) timing record: seconds (wall), cpu_seconds, accelerator."""
    record: dict[str, Any] = ref["whole_network"][search]
    return record


#: Eyeriss ISCA'16 §VI-B: every dataflow gets the storage area of 256 PEs x a 512 B RF plus a 128 KB global buffer.
#: The area per byte of a 512 B RF relative to the global buffer's, from the paper's own figures for it: the global
#: buffers differ by up to 2.6x and the total storage by up to 80 KB (NLR: no RF, 128 (1 + a) KB; RS: 128 + 128 KB),
#: so 128 (1 + a) - 256 = 80 gives a = 1.625 (Fig. 7a's curve itself is not published as numbers).
EYERISS_RF_AREA_PER_BYTE = 1.625
#: Each dataflow's RF per PE in the paper's models (§VI-A): RS 512 B (fixed, §VI-B); WS one weight and OS one psum
#: at a time (a 16-bit word; yoso's systolic models also keep the streamed word: 2 words); NLR none (yoso's
#: Accelerator needs a size: 1 B, which the adder-tree model never uses).
EYERISS_RF_BYTES = {"RS": 512, "WS": 4, "OS": 4, "NLR": 1}


def eyeriss_equal_area(pes: int = 256, batch: int = 16) -> dict[str, Accelerator]:
    """Eyeriss ISCA'16's equal-area designs: per dataflow, its RF, and the global buffer the rest of the baseline
    storage area buys (RF bytes at :data:`EYERISS_RF_AREA_PER_BYTE` global-buffer bytes each)."""
    side = int(np.sqrt(pes))
    baseline_kb = pes * 512 / 1024 * (1 + EYERISS_RF_AREA_PER_BYTE)  # in global-buffer KB of area
    designs = {}
    for dataflow, rf in EYERISS_RF_BYTES.items():
        rf_area = pes * (rf if dataflow != "NLR" else 0) / 1024 * EYERISS_RF_AREA_PER_BYTE
        designs[dataflow] = Accelerator(side, side, int(baseline_kb - rf_area), rf, dataflow, limits=None)
    return designs


def eyeriss_dataflow_energy(
    designs: Mapping[str, Accelerator], costs: UnitCosts | None, batch: int = 16, tech: Any = None
) -> dict[str, dict[str, float]]:
    """AlexNet CONV1-5 (batch ``batch``, each layer DRAM to DRAM) on each design: dynamic energy per level in 1e9 MAC
    units (``costs``: one unit cost per level for every design, as the paper charges; None: the technology's,
    scaled with each design's buffer sizes)."""
    layers = [l for pair in alexnet_isca16_layers(batch).values() for l in pair]
    out = {}
    for dataflow, acc in designs.items():
        res = [simulate_layer(l, acc, tech, costs=costs, onchip_fmaps=False) for l in layers]
        out[dataflow] = {level: sum(r.energy_units[level] for r in res) / 1e9 for level in EYERISS_KEYS.values()}
    return out
