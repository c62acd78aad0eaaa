"""One network on many accelerators as array operations: the simulator's cost path, vectorised over accelerators.

:func:`yoso.hw.simulator.evaluate` costs (network, accelerator) pairs one at a time. A sweep fixes the accelerators
(a space's, a board's) and costs a network on all of them at once, for an exhaustive search of the accelerator
(two-stage, NAAS's inner loop). It gives the figures :func:`~yoso.hw.simulator.evaluate` gives (the same mapping
objective, the same candidates), because the per-layer choice only depends on a few numbers per candidate mapping:

* accelerators that share their array (rows, columns, register file, dataflow and the loop order where it changes
  the array's mapping) share their candidate mappings; a candidate's energy is its array energy (MAC, RF, NoC), its
  GLB accesses at the accelerator's GLB unit cost, the DRAM words of the accelerator's GLB tiling, and leakage
  over its latency, which is its compute cycles bounded by DRAM bandwidth;
* so a candidate with no less array energy, GLB accesses and cycles than another is never chosen on any of them
  (:func:`pareto_candidates`), which leaves one or two candidates per layer and array;
* per layer shape, the sweep keeps the surviving candidates of every array and the DRAM words of every GLB size and
  loop order; costing a network is then a gather and a few array operations per distinct layer shape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from yoso.hw.dataflow import NAMED
from yoso.hw.layers import Deploy, Layer
from yoso.hw.simulator import (
    DRAM,
    GLB,
    _array_candidates,
    _array_energy,
    _dram_tiling,
    _layer_energy,
    _network,
    _objective_keys,
)
from yoso.hw.tech import Tech, load_tech
from yoso.space.accelerator import Accelerator
from yoso.space.genotype import Genotype


def pareto_candidates(array_energy: np.ndarray, glb: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """Indices of the candidates no other one matches or beats in array energy, GLB accesses and cycles (one of
    each set of equal ones): the only ones a mapping objective can choose, whatever the GLB, DRAM and leakage."""
    order = np.lexsort((glb, array_energy, cycles))  # by cycles, then array energy, then GLB accesses
    t, a, b = cycles[order], array_energy[order], glb[order]
    distinct = np.ones(len(t), bool)
    distinct[1:] = (t[1:] != t[:-1]) | (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    order, t, a, b = order[distinct], t[distinct], a[distinct], b[distinct]
    kept: list[np.ndarray] = []
    stair_a, stair_b = np.empty(0), np.empty(0)  # the (array energy, GLB) staircase of the faster candidates
    bounds = np.flatnonzero(np.diff(t)) + 1
    for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(t)]])):
        ga, gb = a[lo:hi], b[lo:hi]  # one cycle count, sorted by array energy then GLB
        before = np.concatenate([[np.inf], np.minimum.accumulate(gb)[:-1]])
        keep = gb < before  # not matched by a cheaper-or-equal array energy of the same cycles
        if len(stair_a):
            k = np.searchsorted(stair_a, ga, side="right")
            keep &= gb < np.where(k > 0, stair_b[np.maximum(k - 1, 0)], np.inf)
        if keep.any():
            kept.append(order[lo:hi][keep])
            pa, pb = np.concatenate([stair_a, ga[keep]]), np.concatenate([stair_b, gb[keep]])
            by_a = np.lexsort((pb, pa))
            pa, pb = pa[by_a], np.minimum.accumulate(pb[by_a])
            stair_a, stair_b = pa, pb
    return np.sort(np.concatenate(kept)) if kept else np.arange(0)


@dataclass(frozen=True)
class _ShapeTable:
    """One layer shape on every accelerator of a sweep: the surviving candidates of every array (flat), which of
    them each accelerator chooses among, and the DRAM words of each GLB key."""

    array_energy: np.ndarray  # (candidates,): every array's survivors, one after another
    glb: np.ndarray
    cycles: np.ndarray
    rows: np.ndarray  # (entries,) the candidate of each (accelerator, candidate) entry, accelerators in order
    owner: np.ndarray  # (entries,) the accelerator of each entry
    starts: np.ndarray | None  # first entry of each accelerator; None when every accelerator has one candidate
    dram: np.ndarray  # (glb keys,) words


class AcceleratorSweep:
    """``sweep(network) -> (energy_mj, latency_ms)``, each ``(len(accelerators),)``: a network on every accelerator,
    as :func:`yoso.hw.simulator.evaluate` costs it, with the layer shapes' tables kept for the next network."""

    def __init__(self, accelerators: Sequence[Accelerator], tech: Tech | None = None, deploy: Deploy | None = None):
        self.accelerators = list(accelerators)
        if not self.accelerators:
            raise ValueError("AcceleratorSweep: no accelerators to sweep")
        self.tech, self.deploy = tech or load_tech(), deploy or Deploy()
        accs, t = self.accelerators, self.tech
        rbuf = np.array([a.rbuf_bytes for a in accs], dtype=np.float64)
        gbuf = np.array([a.gbuf_kb for a in accs], dtype=np.float64)
        pes = np.array([a.num_pes for a in accs], dtype=np.float64)
        self.unit = t.unit_cost_vectors(rbuf, pes, gbuf)  # (n, 5)
        self.static = t.static_power_of(rbuf, pes, gbuf) * 1e9 / (t.clock_mhz * 1e6)  # pJ per cycle
        arrays = [(a.pe_rows, a.pe_cols, a.rbuf_bytes, a.dataflow, _array_loop_order(a)) for a in accs]
        glbs = [(int(a.gbuf_kb * 1024 // t.word_bytes), a.loop_order) for a in accs]
        self.array_keys, self.array_of = _index(arrays)
        self.glb_keys, self.glb_of = _index(glbs)
        first = np.unique(self.array_of, return_index=True)[1]
        self.array_unit = self.unit[first]  # (array keys, 5): the MAC, RF and NoC costs an array fixes
        self._tables: dict[Layer, _ShapeTable] = {}
        self._largest_rf: dict[tuple[Any, ...], int] = {}  # the largest RF (words) of each array but its RF
        for rows, cols, rbuf, dataflow, order in self.array_keys:
            kind, words = (rows, cols, dataflow, order), int(rbuf // t.word_bytes)
            self._largest_rf[kind] = max(words, self._largest_rf.get(kind, 0))

    def __len__(self) -> int:
        return len(self.accelerators)

    def __call__(self, network: Genotype | Sequence[Layer]) -> tuple[np.ndarray, np.ndarray]:
        """Energy (mJ) and latency (ms) of ``network`` (a genotype's deployment network, or layers) on each one."""
        if isinstance(network, Genotype):
            shapes = _network(network, self.deploy)[1]
        else:
            shapes = tuple(Counter(layer.shape() for layer in network).items())
        energy, cycles = np.zeros(len(self)), np.zeros(len(self))
        for shape, count in shapes:
            e, c = self.layer(shape)
            energy += count * e
            cycles += count * c
        return energy * 1e-9, cycles / (self.tech.clock_mhz * 1e3)

    def layer(self, shape: Layer) -> tuple[np.ndarray, np.ndarray]:
        """Energy (pJ) and cycles of one layer shape on each accelerator, at the mapping its objective picks."""
        table = self._tables.get(shape)
        if table is None:
            table = self._tables[shape] = self._table(shape)
        t = self.tech
        dram = table.dram[self.glb_of]
        dram_cycles = dram / t.dram_words_per_cycle
        unit_glb, unit_dram = self.unit[:, GLB], self.unit[:, DRAM]
        if table.starts is None:  # one candidate each: no choice to make
            latency = np.maximum(table.cycles[table.rows], dram_cycles)
            a, b = table.array_energy[table.rows], table.glb[table.rows]
            return _layer_energy(a, b, unit_glb, dram, unit_dram, t.mac_pj, self.static, latency), latency
        who, rows = table.owner, table.rows
        latency = np.maximum(table.cycles[rows], dram_cycles[who])
        a, b = table.array_energy[rows], table.glb[rows]
        energy = _layer_energy(a, b, unit_glb[who], dram[who], unit_dram[who], t.mac_pj, self.static[who], latency)
        tied = np.ones(len(rows), bool)
        for key in _objective_keys(t.mapping_objective, energy, latency):
            masked = np.where(tied, key, np.inf)
            tied &= masked == np.minimum.reduceat(masked, table.starts)[who]
        entry = np.where(tied, np.arange(len(rows)), len(rows))
        chosen = np.minimum.reduceat(entry, table.starts)  # the first entry that wins, as the simulator picks
        return energy[chosen], latency[chosen]

    def _candidates(
        self, shape: Layer, rows: int, cols: int, words: int, dataflow: str, order: str | None
    ) -> tuple[Any, np.ndarray]:
        """An array's candidate mappings of ``shape`` and each one's ``m`` (the held words of a forwarded stream its
        RF keeps side by side). Outside row stationary, for the largest RF of the sweep's arrays of this kind: a
        smaller RF of ``words`` has the candidates with ``m <= max(words - 2, 1)`` (its only use of the RF's size)."""
        if dataflow != "RS":
            words = self._largest_rf[(rows, cols, dataflow, order)]
        cand = _array_candidates(shape, rows, cols, words, dataflow, order)
        m = np.concatenate([params.get("m", np.ones(len(params["mapping"]))) for _, _, params in cand.parts])
        return cand, m

    def _table(self, shape: Layer) -> _ShapeTable:
        """The surviving candidates of every array and the DRAM words of every GLB key, for one layer shape."""
        t = self.tech
        parts, sizes = [], []
        for key, unit in zip(self.array_keys, self.array_unit):
            rows, cols, rbuf, dataflow, order = key
            rf_words = int(rbuf // t.word_bytes)
            cand, m = self._candidates(shape, rows, cols, rf_words, dataflow, order)
            fits = np.flatnonzero(m <= max(rf_words - 2, 1)) if dataflow != "RS" else np.arange(len(m))
            a = _array_energy(cand.counts[fits], unit)
            survivors = pareto_candidates(a, cand.counts[fits, GLB], cand.cycles[fits])
            keep = fits[survivors]
            parts.append((a[survivors], cand.counts[keep, GLB], cand.cycles[keep]))
            sizes.append(len(keep))
        size = np.array(sizes)
        offset = np.concatenate([[0], np.cumsum(size)[:-1]])
        per_acc = size[self.array_of]
        owner = np.repeat(np.arange(len(self)), per_acc)
        starts = np.concatenate([[0], np.cumsum(per_acc)[:-1]])
        rows = offset[self.array_of][owner] + np.arange(len(owner)) - starts[owner]
        dram = np.array([_dram_tiling(shape, words, t.onchip_fmaps, order)[0] for words, order in self.glb_keys])
        return _ShapeTable(
            array_energy=np.concatenate([p[0] for p in parts]),
            glb=np.concatenate([p[1] for p in parts]),
            cycles=np.concatenate([p[2] for p in parts]),
            rows=rows,
            owner=owner,
            starts=None if (per_acc == 1).all() else starts,
            dram=dram,
        )


#: One loop order per innermost loop (a connectivity's array mappings depend on nothing else).
_CANONICAL_ORDERS = ("CPK", "KPC", "KCP")


def _array_loop_order(acc: Accelerator) -> str | None:
    """The part of an accelerator's loop order its array mappings depend on: all of it for row stationary (its GLB
    reads), none for the other named dataflows, the innermost loop (the held operand) for a connectivity."""
    if acc.loop_order is None or acc.dataflow == "RS":
        return acc.loop_order
    if acc.dataflow in NAMED:
        return None
    innermost = acc.loop_order[-1]
    return next(o for o in _CANONICAL_ORDERS if o[-1] == innermost)


def _index(keys: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """The distinct keys in first-seen order, and each item's position among them."""
    seen: dict[tuple[Any, ...], int] = {}
    of = [seen.setdefault(k, len(seen)) for k in keys]
    return list(seen), np.asarray(of)
