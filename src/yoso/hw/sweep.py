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

Building a shape's table (a cold sweep) is array operations too: arrays that differ in their register file alone
(an array *kind*) share their candidates, generated once for the largest RF, each with the RF words it needs;
the systolic and adder-tree arrays of every kind are costed in one pass
(:func:`~yoso.hw.simulator._systolic_many`), the row-stationary ones once per array size for every RF and loop
order; and :func:`pareto_mask` thins every array's candidates in one pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from yoso.hw.dataflow import NAMED, unrollings
from yoso.hw.layers import Deploy, Layer
from yoso.hw.simulator import (
    _ORDERS,
    DRAM,
    GLB,
    MAC,
    NOC,
    RF,
    _array_energy,
    _Dims,
    _dims,
    _dram_tiling,
    _elementwise,
    _layer_energy,
    _network,
    _objective_keys,
    _orders,
    _pixels2d,
    _row_stationary_mappings,
    _row_stationary_sets,
    _systolic_many,
)
from yoso.hw.tech import Tech, at_bits, load_tech
from yoso.space.accelerator import Accelerator
from yoso.space.genotype import Genotype


def pareto_candidates(array_energy: np.ndarray, glb: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """Indices of the candidates no other one matches or beats in array energy, GLB accesses and cycles (one of
    each set of equal ones): the only ones a mapping objective can choose, whatever the GLB, DRAM and leakage."""
    return np.flatnonzero(pareto_mask(np.zeros(len(array_energy), np.int64), array_energy, glb, cycles))


def pareto_mask(segment: np.ndarray, a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Whether each candidate is kept: no other of its ``segment`` matches or beats it in ``a``, ``b`` and ``t``
    (the first of each set of equal ones); every segment at once, as array operations.

    In the order (segment, a, b, t) a candidate is dominated exactly when an earlier one of its segment has no
    more ``b`` and no more ``t``: a running minimum of ``b`` (ranked, offset per segment) over the candidates of
    each cycle level (``t``'s rank in its segment) or below; the levels are few (a mapping's folds).
    """
    n = len(a)
    keep = np.zeros(n, bool)
    if n == 0:
        return keep
    order = np.lexsort((t, b, a, segment))
    by_t = np.lexsort((t, segment))
    st, ss = t[by_t], segment[by_t]
    first = np.ones(n, bool)
    first[1:] = ss[1:] != ss[:-1]
    new = first.copy()
    new[1:] |= st[1:] != st[:-1]
    distinct = np.cumsum(new)
    level = np.empty(n, np.int64)
    level[by_t] = distinct - np.maximum.accumulate(np.where(first, distinct, 0))
    level = level[order]
    rank_b = np.unique(b, return_inverse=True)[1].reshape(-1)[order]
    seg = segment[order]
    seg_rank = np.cumsum(np.concatenate([[True], seg[1:] != seg[:-1]]))
    key = (seg_rank[-1] + 1 - seg_rank) * (int(rank_b.max()) + 1) + rank_b  # earlier segments rank above later
    dominated = np.zeros(n, bool)
    top = np.iinfo(np.int64).max
    for lv in range(int(level.max()) + 1):
        running = np.minimum.accumulate(np.where(level <= lv, key, top))
        dominated |= (level == lv) & (np.concatenate([[top], running[:-1]]) <= key)
    keep[order[~dominated]] = True
    return keep


#: The most sub-array choices (arrays x rows x columns) one pass of the systolic model holds (memory, not speed).
GRID_CELLS = 1 << 22


class _KindCandidates(NamedTuple):
    """Candidate mappings of one layer shape on every array kind of a sweep (flat): the kind of each, its access
    counts ``(n, 5)`` and cycles, the RF words it needs (0: any RF) and whether it is a fallback (used by an array
    whose RF fits no other candidate)."""

    kind: np.ndarray
    counts: np.ndarray
    cycles: np.ndarray
    need: np.ndarray
    fallback: np.ndarray


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
        self._precisions: dict[int | None, AcceleratorSweep] = {}  # the sweeps of the layers' other bit-widths
        # the array kinds: arrays that differ in their register file alone share their candidate mappings
        self.key_rf = np.array([int(rbuf // t.word_bytes) for _, _, rbuf, _, _ in self.array_keys])
        self.kinds, self.kind_of = _index([(r, c, df, order) for r, c, _, df, order in self.array_keys])
        self.kind_rows = np.array([k[0] for k in self.kinds])
        self.kind_cols = np.array([k[1] for k in self.kinds])
        self.kind_rf = np.zeros(len(self.kinds), np.int64)  # the largest RF of each kind
        np.maximum.at(self.kind_rf, self.kind_of, self.key_rf)
        units = [unrollings(df, order) for _, _, df, order in self.kinds]
        batch = [(k, u) for k, us in enumerate(units) for u in us if u.array in ("systolic", "tree")]
        self._batch_kind = np.array([k for k, _ in batch], dtype=np.int64)
        self._batch_units = [u for _, u in batch]
        self._pixel_kinds = [k for k, us in enumerate(units) if any(u.array == "pixels2d" for u in us)]
        self._row_kinds = [k for k, us in enumerate(units) if any(u.array == "row" for u in us)]

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
        if shape.bits not in (None, self.tech.word_bits):  # another precision: the sweep of its technology
            sweep = self._precisions.get(shape.bits)
            if sweep is None:
                sweep = self._precisions[shape.bits] = AcceleratorSweep(
                    self.accelerators, at_bits(self.tech, shape.bits), self.deploy
                )
            return sweep.layer(shape)
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

    def _table(self, shape: Layer) -> _ShapeTable:
        """The surviving candidates of every array and the DRAM words of every GLB key, for one layer shape."""
        t = self.tech
        cand = self._kind_candidates(shape)
        order = np.argsort(cand.kind, kind="stable")
        kind, counts, cycles, need, fallback = (a[order] for a in cand)
        # every array's candidates: its kind's that fit its RF (or the fallbacks where none does)
        per_kind = np.bincount(kind, minlength=len(self.kinds))
        kind_start = np.cumsum(per_kind) - per_kind
        least_need = np.full(len(self.kinds), np.inf)
        np.minimum.at(least_need, kind, need)
        per_key = per_kind[self.kind_of]
        key = np.repeat(np.arange(len(self.array_keys)), per_key)
        row = np.repeat(kind_start[self.kind_of] - (np.cumsum(per_key) - per_key), per_key) + np.arange(len(key))
        falls_back = self.key_rf < least_need[self.kind_of]
        fits = (need[row] <= self.key_rf[key]) | (falls_back[key] & fallback[row])
        key, row = key[fits], row[fits]
        a = _array_energy(counts[row], self.array_unit[key])
        kept = pareto_mask(key, a, counts[row, GLB], cycles[row])
        key, row, a = key[kept], row[kept], a[kept]
        size = np.bincount(key, minlength=len(self.array_keys))
        offset = np.cumsum(size) - size
        per_acc = size[self.array_of]
        owner = np.repeat(np.arange(len(self)), per_acc)
        starts = np.cumsum(per_acc) - per_acc
        rows = offset[self.array_of][owner] + np.arange(len(owner)) - starts[owner]
        dram = np.array([_dram_tiling(shape, words, t.onchip_fmaps, order)[0] for words, order in self.glb_keys])
        return _ShapeTable(
            array_energy=a,
            glb=counts[row, GLB],
            cycles=cycles[row],
            rows=rows,
            owner=owner,
            starts=None if (per_acc == 1).all() else starts,
            dram=dram,
        )

    def _kind_candidates(self, shape: Layer) -> _KindCandidates:
        """Every array kind's candidate mappings of ``shape``, each generated once for the kind's largest RF: a
        smaller RF has those whose held words it fits (:func:`~yoso.hw.simulator._systolic_many`'s ``m`` of a
        forwarded stream, the PE sets of row stationary)."""
        d = _dims(shape)
        if shape.kind == "add":  # one mapping on any dataflow
            counts, cycles = _elementwise(d, self.kind_rows, self.kind_cols)
            none = np.zeros(len(self.kinds))
            return _KindCandidates(np.arange(len(self.kinds)), counts, cycles, none, none.astype(bool))
        parts: list[_KindCandidates] = []
        if len(self._batch_kind):  # in chunks of at most GRID_CELLS sub-array choices (rows x columns) each
            step = max(1, GRID_CELLS // int(self.kind_rows.max() * self.kind_cols.max()))
            for lo in range(0, len(self._batch_kind), step):
                bk, units = self._batch_kind[lo : lo + step], self._batch_units[lo : lo + step]
                counts, cycles, params, owner = _systolic_many(
                    d, units, self.kind_rows[bk], self.kind_cols[bk], self.kind_rf[bk]
                )
                m = params["m"]
                need = np.where(m > 1, m + 2, 0.0)  # a held stream of m > 1 words needs an RF of m + 2
                parts.append(_KindCandidates(bk[owner], counts, cycles, need, np.zeros(len(m), bool)))
        for k in self._pixel_kinds:
            counts, cycles, _ = _pixels2d(d, int(self.kind_rows[k]), int(self.kind_cols[k]))
            none = np.zeros(len(cycles))
            parts.append(_KindCandidates(np.full(len(cycles), k), counts, cycles, none, none.astype(bool)))
        if self._row_kinds:
            parts.append(self._row_stationary(shape, d))
        return _KindCandidates(*(np.concatenate(f) for f in zip(*parts)))

    def _row_stationary(self, shape: Layer, d: _Dims) -> _KindCandidates:
        """The row-stationary kinds' candidates, generated once per array size for all RFs and loop orders, then
        thinned per kind and RF level: their MAC and RF accesses are the same, so fewer NoC words, GLB reads and
        cycles beat a candidate at any unit costs (the sets split only moves GLB reads: its best one per order)."""
        by_size: dict[tuple[int, int], list[int]] = {}
        for k in self._row_kinds:
            by_size.setdefault((int(self.kind_rows[k]), int(self.kind_cols[k])), []).append(k)
        parts, segments = [], []
        for (rows, cols), kinds in by_size.items():
            e, p, q, n, need, fallback = _row_stationary_sets(shape, d, cols)
            largest = max(int(self.kind_rf[k]) for k in kinds)
            use = (need <= largest) | fallback
            counts, cycles, _, glb = _row_stationary_mappings(
                shape, d, rows, cols, e[use], p[use], q[use], n[use], _ORDERS
            )
            splits = len(cycles) // int(use.sum())  # each PE set's candidates: one per sets split, consecutive
            counts, cycles = counts[::splits], cycles[::splits]
            glb = glb.reshape(len(_ORDERS), -1, splits).min(axis=2)
            need, fallback = need[use], fallback[use]
            for k in kinds:
                order = self.kinds[k][3]
                kind_glb = glb.min(axis=0) if order is None else glb[_ORDERS.index(_orders(order)[0])]
                rfs = np.unique(self.key_rf[self.kind_of == k])
                level = np.where(fallback, len(rfs), np.searchsorted(rfs, need))  # the least RF it fits
                used = fallback | (level < len(rfs))
                kind_counts = counts[used].copy()
                kind_counts[:, GLB] = kind_glb[used]
                parts.append(
                    _KindCandidates(np.full(int(used.sum()), k), kind_counts, cycles[used], need[used], fallback[used])
                )
                segments.append(k * (len(self.key_rf) + 1) + level[used])  # one segment per kind and level
        cand = _KindCandidates(*(np.concatenate(f) for f in zip(*parts)))
        if np.ptp(cand.counts[:, [MAC, RF]], axis=0).any():  # not the model this thinning relies on: keep all
            return cand
        kept = pareto_mask(np.concatenate(segments), cand.counts[:, NOC], cand.counts[:, GLB], cand.cycles)
        return _KindCandidates(*(f[kept] for f in cand))


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
