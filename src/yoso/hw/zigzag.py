"""yoso's layers and accelerators in ZigZag's terms (zigzag-dse 3.9.1), and the cost of a layer under ZigZag.

The translation (docs/accelerator.md, "ZigZag as a reference cost"): a :class:`~yoso.hw.layers.Layer` becomes one
ZigZag workload layer (:func:`workload`); an :class:`~yoso.space.accelerator.Accelerator` a memory hierarchy of
per-PE register files, one global buffer serving the whole array and DRAM, with unit costs from the technology
(:func:`hardware`); its dataflow or connectivity a fixed spatial unrolling and the operands the RF holds
(:func:`spatial_mapping`). ZigZag's LOMA then searches the temporal mapping. zigzag-dse is optional
(``make install-zigzag``): this module imports without it, :func:`available` says whether it is there.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import itertools
import logging
import math
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from yoso.hw.dataflow import NAMED, Unrolling, unrollings
from yoso.hw.layers import Deploy, Layer, deployment_layers
from yoso.hw.simulator import _acc_constants, _dram_tiling, _objective_keys
from yoso.hw.tech import LEVELS, Tech
from yoso.space.accelerator import Accelerator
from yoso.space.genotype import Genotype

#: The distribution and version the translation was written and validated against (the ``zigzag`` extra's pin).
ZIGZAG_PACKAGE = "zigzag-dse"
ZIGZAG_VERSION = "3.9.1"
#: How to install it into the project venv (the ConfigError of ``reference_cost=zigzag`` without it says this).
INSTALL_HINT = "make install-zigzag (pip install -c requirements.lock -c requirements-zigzag.lock -e '.[zigzag]')"
#: Bumped when the translation changes what ZigZag is asked (it keys the GP's ZigZag-labelled sample sets).
TRANSLATION_VERSION = 1
#: yoso's loop dimensions (docs/accelerator.md) as ZigZag's: P = output rows (batch folded in by yoso), Q = output
#: columns, R/S = filter rows/columns.
ZIGZAG_DIM = {"K": "K", "C": "C", "P": "OY", "Q": "OX", "R": "FY", "S": "FX"}
#: ZigZag's memory operands of the layer operands (weights I2, inputs I1, outputs O).
MEM_OPERAND = {"W": "I2", "I": "I1", "O": "O"}
#: The levels ZigZag models; yoso's array network ("noc") has no ZigZag counterpart and reads 0 here.
ZIGZAG_LEVELS = ("mac", "rf", "glb", "dram")
#: DRAM capacity in bits (unbounded for any layer here).
DRAM_BITS = 2**40
#: ZigZag's names of yoso's mapping objectives (``hw.mapping_objective``).
OBJECTIVE = {"edp": "EDP", "energy": "energy", "latency": "latency"}
#: Global-buffer port width: words per cycle per PE on the array's edge (rows + columns).
GLB_PORT_WORDS_PER_EDGE_PE = 8
#: Register-file port width per held operand, in words per cycle (wide enough that it never stalls the MAC).
RF_PORT_WORDS_PER_OPERAND = 16
#: How many layers (shape, accelerator) needed each fallback of :func:`zigzag_layer` in this process.
FALLBACKS: Counter[str] = Counter()
#: Loop-prime-factor limit of LOMA's temporal-mapping search (ZigZag's default).
LPF_LIMIT = 6


def available() -> bool:
    """Whether zigzag-dse can be imported (it is an optional extra)."""
    try:
        importlib.import_module("zigzag.api")
    except ImportError:
        return False
    return True


def installed_version() -> str | None:
    """The installed zigzag-dse version, None when it is not installed."""
    try:
        return version(ZIGZAG_PACKAGE)
    except PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- workload


def workload(layer: Layer, word_bits: int) -> list[dict[str, Any]]:
    """ZigZag's workload of one layer: a convolution, per group (depthwise, pooling: C = K = groups) or whole.

    Pooling has no weight-free operator in ZigZag's YAML workload: it is a depthwise layer whose constant R x S
    kernel has no bits (no accesses, no energy). The residual add is elementwise: its second summand is the
    "weight" operand, indexed as the output (two words in and one out per operation, as yoso's simulator counts).
    """
    l = layer
    precision = {"O": word_bits, "O_final": word_bits, "W": word_bits, "I": word_bits}
    common: dict[str, Any] = {"id": 0, "name": l.name or l.kind, "operator_type": "Conv"}
    if l.kind == "add":
        return [
            common
            | {
                "equation": "O[b][g][oy][ox]+=W[b][g][oy][ox]*I[b][g][oy][ox]",
                "loop_dims": ["B", "G", "OY", "OX"],
                "loop_sizes": [l.N, l.K, l.H, l.W],
                "operand_precision": precision,
                "operand_source": {"I": 0},
            }
        ]
    sh, sw = l.stride
    ph, pw = l.padding
    if l.kind in ("pool_max", "pool_avg"):
        precision["W"] = 0
    if l.groups > 1 and l.C == l.groups and l.K == l.groups:
        eq, dims, sizes = (
            "O[b][g][oy][ox]+=W[g][fy][fx]*I[b][g][iy][ix]",
            ["B", "G", "OY", "OX", "FY", "FX"],
            [l.N, l.groups, l.out_h, l.out_w, l.R, l.S],
        )
    elif l.groups > 1:
        eq = "O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]"
        dims = ["B", "G", "K", "C", "OY", "OX", "FY", "FX"]
        sizes = [l.N, l.groups, l.K // l.groups, l.C // l.groups, l.out_h, l.out_w, l.R, l.S]
    else:
        eq, dims = "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]", ["B", "K", "C", "OY", "OX", "FY", "FX"]
        sizes = [l.N, l.K, l.C, l.out_h, l.out_w, l.R, l.S]
    return [
        common
        | {
            "equation": eq,
            "dimension_relations": [f"ix={sw}*ox+{l.dilation}*fx", f"iy={sh}*oy+{l.dilation}*fy"],
            "loop_dims": dims,
            "loop_sizes": [int(s) for s in sizes],
            "operand_precision": precision,
            "operand_source": {"I": 0},
            "pr_loop_dims": ["IX", "IY"],
            "padding": [[ph, ph], [pw, pw]],
        }
    ]


def loop_sizes(layer: Layer) -> dict[str, int]:
    """The layer's ZigZag loop sizes by dimension name (those of :func:`workload`)."""
    wl = workload(layer, 16)[0]
    return dict(zip(wl["loop_dims"], wl["loop_sizes"]))


# --------------------------------------------------------------------------- spatial mapping


def _axis_unrolling(dims: str, sizes: Mapping[str, int], pes: int, divisors: bool = False) -> list[tuple[str, int]]:
    """Factors of ``dims`` (yoso's fused dimensions of one array axis) unrolled over ``pes`` PEs: the fewest temporal
    trips ``prod(ceil(size / f))``, then the most PEs used, as yoso's flattened unrolling folds them; ``divisors``:
    only factors that divide their dimension."""
    names = [ZIGZAG_DIM[d] for d in dims if sizes.get(ZIGZAG_DIM[d], 1) > 1]
    if not names:
        return []
    options = [[f for f in range(1, min(sizes[n], pes) + 1) if not divisors or sizes[n] % f == 0] for n in names]
    best: tuple[int, int] | None = None
    choice: tuple[int, ...] = ()
    for factors in itertools.product(*options):
        used = math.prod(factors)
        if used > pes:
            continue
        key = (math.prod(-(-sizes[n] // f) for n, f in zip(names, factors)), -used)
        if best is None or key < best:
            best, choice = key, factors
    return [(n, f) for n, f in zip(names, choice) if f > 1]


@dataclass(frozen=True)
class SpatialMapping:
    """One fixed spatial unrolling: ``(dimension, factor)`` pairs on the rows (D1) and columns (D2), and the layer
    operands the per-PE register file holds (empty: no RF, every operand from the global buffer)."""

    rows: tuple[tuple[str, int], ...]
    cols: tuple[tuple[str, int], ...]
    held: str

    def to_zigzag(self) -> list[dict[str, Any]]:
        """ZigZag's mapping YAML (one default entry)."""
        axis = {"D1": self.rows, "D2": self.cols}
        return [
            {
                "name": "default",
                "spatial_mapping": {d: [f"{n}, {f}" for n, f in pairs] or ["B, 1"] for d, pairs in axis.items()},
                "memory_operand_links": {"O": "O", "W": MEM_OPERAND["W"], "I": MEM_OPERAND["I"]},
            }
        ]


def held_operands(u: Unrolling, loop_order: str | None, dataflow: str) -> str:
    """The operands the RF holds: the dataflow's (row stationary: all three); a connectivity without a loop order
    holds any of them, ZigZag's temporal mapping choosing, as yoso's simulator tries all three per layer."""
    if u.array == "tree":
        return ""
    if u.array == "row" or (loop_order is None and dataflow not in NAMED):
        return "WIO"
    return u.stationary


def spatial_mappings(layer: Layer, acc: Accelerator, divisors: bool = False) -> tuple[SpatialMapping, ...]:
    """The fixed spatial mappings of ``acc``'s dataflow for ``layer`` (OS: the systolic one and ShiDianNao's);
    ``divisors``: each factor divides its dimension (ZigZag's LOMA fails on some uneven ones)."""
    sizes = loop_sizes(layer)
    if layer.kind == "add":  # elementwise: the whole array in parallel, no reuse to hold, as yoso's simulator
        rows, cols = _axis_unrolling("K", {"K": sizes["G"]}, acc.pe_rows), _axis_unrolling("Q", sizes, acc.pe_cols)
        return (SpatialMapping(tuple(("G", f) for _, f in rows), tuple(cols), ""),)
    out = []
    for u in unrollings(acc.dataflow, acc.loop_order):
        # Eyeriss's PE sets (R x P) are replicated over filters to fill the rows, as yoso's row model replicates them
        rows = _axis_unrolling(u.rows + ("K" if u.array == "row" else ""), sizes, acc.pe_rows, divisors)
        cols = _axis_unrolling(u.cols, sizes, acc.pe_cols, divisors)
        out.append(SpatialMapping(tuple(rows), tuple(cols), held_operands(u, acc.loop_order, acc.dataflow)))
    return tuple(dict.fromkeys(out))


# --------------------------------------------------------------------------- hardware


#: ZigZag's data directions of a memory operand: from/to the level above (h) and below (l); outputs move four ways.
DIRECTIONS = {"I1": ("fh", "tl"), "I2": ("fh", "tl"), "O": ("fh", "tl", "fl", "th")}


def _memory(
    name: str, bits: int, cost_pj: float, operands: list[str], served: list[str], word_bits: int, port_words: int
) -> dict[str, Any]:
    """One ZigZag memory, charged ``cost_pj`` per word it moves (accesses rounded up to whole words): a port
    ``port_words`` wide per operand and direction, so that transfers of different operands never queue on one port
    (ZigZag serialises the transfers that share a port; yoso's buffers are banked per operand)."""
    port = word_bits * port_words
    ports = [
        {
            "name": f"{'w' if d[0] == 'f' else 'r'}_port_{i}",
            "type": "write" if d[0] == "f" else "read",
            "bandwidth_min": word_bits,
            "bandwidth_max": port,
            "allocation": [f"{o}, {d}"],
        }
        for i, (o, d) in enumerate((o, d) for o in operands for d in DIRECTIONS[o])
    ]
    return {
        name: {
            "size": int(bits),
            "r_cost": cost_pj * port_words,
            "w_cost": cost_pj * port_words,
            "area": 0,
            "latency": 1,
            "operands": operands,
            "ports": ports,
            "served_dimensions": served,
        }
    }


def dram_port_words(tech: Tech) -> int:
    """DRAM words per cycle (the technology's bandwidth at its clock, at least one)."""
    return max(1, round(tech.dram_words_per_cycle))


def fmaps_on_chip(layer: Layer, acc: Accelerator, tech: Tech) -> bool:
    """Whether yoso's simulator keeps the layer's feature maps in the global buffer (``tech.onchip_fmaps`` and they
    fit beside a minimal weight tile): its own rule, so both models fetch the same operands from DRAM."""
    glb_words = _acc_constants(acc, tech)[3]
    return bool(_dram_tiling(layer.shape(), glb_words, tech.onchip_fmaps, acc.loop_order)[1].get("onchip_fmaps"))


def dram_operands(layer: Layer, acc: Accelerator, tech: Tech) -> str:
    """The layer operands fetched from DRAM: all, or with its feature maps on chip the weights only (none for the
    add, whose operands are all feature maps)."""
    if not fmaps_on_chip(layer, acc, tech):
        return "IWO"
    return "" if layer.kind == "add" else "W"


def hardware(acc: Accelerator, tech: Tech, held: str, from_dram: str = "IWO") -> dict[str, Any]:
    """ZigZag's accelerator: ``rows x cols`` MACs; per PE an RF of ``rbuf_bytes`` for the ``held`` operands (shared
    among them, :data:`RF_PORT_WORDS_PER_OPERAND` words per operand and cycle); one global buffer of ``gbuf_kb``
    for all operands, multicast over the array (:data:`GLB_PORT_WORDS_PER_EDGE_PE` words per edge PE and cycle, as
    yoso's GLB never stalls the array); DRAM at the technology's bandwidth for the ``from_dram`` operands (none: no
    DRAM level). Unit costs (pJ per word): the technology's, scaled with the accelerator's sizes."""
    unit = tech.costs(acc)
    w = tech.word_bits
    memories: dict[str, Any] = {}
    if held:
        ops = [MEM_OPERAND[o] for o in held]
        memories |= _memory(
            "rf", acc.rbuf_bytes * 8, unit.rf * tech.mac_pj, ops, [], w, RF_PORT_WORDS_PER_OPERAND * len(held)
        )
    every = [MEM_OPERAND[o] for o in "IWO"]
    glb_words = GLB_PORT_WORDS_PER_EDGE_PE * (acc.pe_rows + acc.pe_cols)
    memories |= _memory("glb", acc.gbuf_kb * 8192, unit.glb * tech.mac_pj, every, ["D1", "D2"], w, glb_words)
    if from_dram:
        ops = [MEM_OPERAND[o] for o in from_dram]
        memories |= _memory("dram", DRAM_BITS, unit.dram * tech.mac_pj, ops, ["D1", "D2"], w, dram_port_words(tech))
    return {
        "name": "yoso",
        "memories": memories,
        "operational_array": {
            "unit_energy": unit.mac * tech.mac_pj,
            "unit_area": 1,
            "dimensions": ["D1", "D2"],
            "sizes": [acc.pe_rows, acc.pe_cols],
        },
    }


# --------------------------------------------------------------------------- cost


@dataclass(frozen=True)
class ZigZagLayer:
    """One layer under ZigZag: energy (pJ) and word accesses per level of :data:`LEVELS` ("noc": 0, not modelled),
    cycles, and the spatial mapping it was given."""

    energy_pj: dict[str, float]
    accesses: dict[str, float]
    cycles: float
    mapping: SpatialMapping
    from_dram: str  # the operands fetched from DRAM ("W": the feature maps stayed on chip)

    @property
    def energy_total_pj(self) -> float:
        return float(sum(self.energy_pj.values()))


def _run(layer: Layer, acc: Accelerator, tech: Tech, m: SpatialMapping, lpf_limit: int, from_dram: str) -> ZigZagLayer:
    """One ZigZag run: the layer, the hardware holding ``m.held`` in the RF, the fixed spatial mapping ``m``."""
    api = importlib.import_module("zigzag.api")
    unit = tech.costs(acc)
    per_word = {"mac": unit.mac, "rf": unit.rf, "glb": unit.glb, "dram": unit.dram}
    logging.disable(logging.CRITICAL)  # ZigZag logs every stage at INFO through the root logger
    try:
        with tempfile.TemporaryDirectory(prefix="yoso-zigzag-") as tmp:
            d = Path(tmp)
            (d / "hw.yaml").write_text(yaml.safe_dump(hardware(acc, tech, m.held, from_dram), sort_keys=False))
            (d / "map.yaml").write_text(yaml.safe_dump(m.to_zigzag(), sort_keys=False))
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                _, latency, cmes = api.get_hardware_performance_zigzag(
                    workload(layer, tech.word_bits),
                    str(d / "hw.yaml"),
                    str(d / "map.yaml"),
                    opt=OBJECTIVE[tech.mapping_objective],
                    dump_folder=str(d / "out"),
                    lpf_limit=lpf_limit,
                    loma_show_progress_bar=False,
                )
    finally:
        logging.disable(logging.NOTSET)
    cme = cmes[0][1][0][0]
    energy = dict.fromkeys(LEVELS, 0.0)
    energy["mac"] = float(cme.mac_energy)
    for op, parts in cme.mem_energy_breakdown.items():
        levels = cme.accelerator.memory_hierarchy.get_memory_levels(mem_op=cme.memory_operand_links.layer_to_mem_op(op))
        for e, level in zip(parts, levels):
            energy[level.name] += float(e)
    accesses = {k: energy[k] / (per_word[k] * tech.mac_pj) if k in per_word and per_word[k] else 0.0 for k in LEVELS}
    return ZigZagLayer(energy, accesses, float(latency), m, from_dram)


@lru_cache(maxsize=65536)
def zigzag_layer(layer: Layer, acc: Accelerator, tech: Tech, lpf_limit: int = LPF_LIMIT) -> ZigZagLayer:
    """ZigZag's cost of ``layer`` on ``acc``: the best (by ``tech.mapping_objective``) of the dataflow's spatial
    mappings, each with LOMA's best temporal mapping; cached by (layer shape, accelerator, tech)."""
    if not available():
        raise ImportError(f"zigzag-dse is not installed: {INSTALL_HINT}")
    shape = layer.shape()
    runs, errors = [], []
    # where LOMA finds no valid temporal mapping: the feature maps from DRAM (the GLB may be too full with them on
    # chip), then spatial factors that divide their dimensions, then the RF open to every operand (LOMA's greedy
    # allocation can fill a large RF with the held operand and leave the GLB no room)
    tries = (
        ("", spatial_mappings(shape, acc)),
        ("divisors", spatial_mappings(shape, acc, divisors=True)),
        ("rf for all operands", tuple(replace(m, held="WIO") for m in spatial_mappings(shape, acc) if m.held)),
    )
    for fallback, mappings in tries:
        for m in mappings:
            for from_dram in dict.fromkeys((dram_operands(shape, acc, tech), "IWO")):
                try:
                    runs.append(_run(shape, acc, tech, m, lpf_limit, from_dram))
                    break
                except Exception as err:  # ZigZag's NoValidLoopOrderingFoundException and its failed validations
                    errors.append(f"{type(err).__name__}: {str(err).splitlines()[0]}")
        if runs:
            if fallback:
                FALLBACKS[fallback] += 1
            break
    if not runs:
        raise RuntimeError(f"ZigZag found no mapping of {shape} on {acc}: {'; '.join(errors)}")
    return min(runs, key=lambda r: _objective_keys(tech.mapping_objective, r.energy_total_pj, r.cycles))


def network_cost(
    pairs: Sequence[tuple[Genotype, Accelerator]], tech: Tech, deploy: Deploy, lpf_limit: int = LPF_LIMIT
) -> tuple[np.ndarray, np.ndarray]:
    """Energy (mJ) and latency (ms) of (genotype, accelerator) pairs under ZigZag: the sum over the deployment
    network's layers of ZigZag's energy and cycles, plus the technology's leakage over that latency (ZigZag has no
    leakage model; yoso's simulator charges the same)."""
    out = np.empty((len(pairs), 2))
    for j, (g, acc) in enumerate(pairs):
        counts = Counter(deployment_layers(g, deploy, names=False))
        runs = [(n, zigzag_layer(shape, acc, tech, lpf_limit)) for shape, n in counts.items()]
        pj = sum(n * r.energy_total_pj for n, r in runs)
        cycles = sum(n * r.cycles for n, r in runs)
        static_pj = tech.static_power_mw(acc) * 1e9 / (tech.clock_mhz * 1e6) * cycles
        out[j] = (pj + static_pj) * 1e-9, cycles / (tech.clock_mhz * 1e3)
    return out[:, 0].copy(), out[:, 1].copy()
