"""Analytical simulator of a spatial PE-array accelerator: per-layer mapping search, energy and latency.

Hierarchy (README, Hardware cost): DRAM -> global buffer (GLB) -> array NoC -> per-PE register file
(RF) -> MAC. For each layer it searches, vectorised with numpy, (a) the array mapping of
the dataflow (spatial unrolling, sub-array and RF-level reuse that fit the RF), keeping the one that
minimises the mapping objective (``tech.mapping_objective``, set by ``hw.mapping_objective``: the layer's
energy-delay product by default, or its energy, or its latency as Eyeriss' mapper folds PE sets to fill
the array), the other figure breaking ties; and (b) the GLB tiling
and DRAM loop order that fit the GLB (the accelerator's loop order if it fixes one), keeping the least
DRAM traffic (hence least energy).
GLB tile sizes of the K and C loops are their divisors and halvings; tiles of the output
rows are whole images or row bands of one image (the band's halo rows are re-fetched), so
batched layers are tiled as nn-dataflow does (this reproduces its DRAM traffic on AlexNet
conv3-conv5 exactly; on conv1/conv2 yoso finds finer tiles than nn-dataflow's pass-sized
blocking allows and reads 12-17% less).
The two searches are independent because in this model the array-side access counts do
not depend on the GLB tile and the DRAM traffic does not depend on the array mapping.
Energy = sum(accesses x unit cost) x pJ/unit + leakage x latency; latency =
max(compute cycles, DRAM words / bandwidth) per layer. Layers run one after another and
read their inputs from / write their outputs to DRAM (layer-wise, as nn-dataflow does),
unless the tech's ``onchip_fmaps`` is set and the layer's input and output maps fit in the
GLB (then they stay on chip: a bigger GLB saves the DRAM round trips of small networks).

Dataflows (docs/accelerator.md; :mod:`yoso.hw.dataflow`): an accelerator's dataflow names the
spatial unrollings it allows, each the loop dimensions on the array's rows and columns and the
operand its PEs hold. Every unrolling is costed by one of four array models:

* systolic (WS = C*R*S x K holding weights, OS = P*Q x K holding outputs, IS = C*R*S x P*Q
  holding inputs, and any NAAS connectivity): SCALE-Sim's timing (Samajdar et al. ISPASS 2020),
  folds x (fill + T) - 1 per group, fill 2 rows + cols - 2 when the held operand is preloaded,
  rows + cols - 2 for outputs (equal to SCALE-Sim 3.0's cycles on all 80 stored records); the
  mapper may use a sub-array (the edge PEs bypassed). Accesses follow from which operands depend
  on each axis: multicast/forwarding of the others, reduction of partial sums.
* tree (NLR, DianNao-like): no RF, every weight from the GLB, inputs broadcast, an adder tree.
* row (RS, Eyeriss): a PE set of R filter rows x e output rows, replicated over the array for
  other filters/channels/groups; each PE runs a 1-D convolution with p filters x q channels
  held in its RF (Chen et al. ISCA 2016). Depthwise maps well.
* pixels2d (OS's second mapping, ShiDianNao): output rows x columns on the array, one output
  channel at a time, outputs drained after the C*R*S steps; the simulator takes the faster of it
  and the systolic OS mapping per layer.

Access conventions: one RF access per operand read from the RF per MAC, a psum update is a
read and a write (so RS has 4 RF accesses per MAC, as Eyeriss' Fig. 10); NoC = one word
delivered to one PE (or one inter-PE hop); every DRAM word is also one GLB access (its
write; nn-dataflow counts only the reads, so its GLB figures are lower, and its array
figures count a multicast once where yoso counts each PE delivered).
Pooling costs as a depthwise layer without weights; an elementwise add as 3 NoC and 3 GLB
accesses per output at full array parallelism.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import permutations
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np

from yoso.hw.dataflow import RELEVANT, Unrolling, unrollings
from yoso.hw.layers import Deploy, Layer, deployment_layers
from yoso.hw.tech import LEVELS, Tech, UnitCosts, at_bits, load_tech
from yoso.space.accelerator import TILING_LOOPS, Accelerator
from yoso.space.genotype import Genotype

MAC, RF, NOC, GLB, DRAM = range(5)
#: Energy breakdown keys: the access levels and leakage.
BREAKDOWN_KEYS = (*LEVELS, "static")


@dataclass(frozen=True)
class LayerResult:
    """One layer on one accelerator: cycles, accesses (words) and energy per level, the chosen mapping."""

    layer: Layer
    accelerator: Accelerator
    macs: int
    compute_cycles: float
    dram_cycles: float
    utilisation: float  # MACs / (compute cycles x PEs)
    accesses: dict[str, float]  # words per level; "mac" = MACs (ops)
    energy_units: dict[str, float]  # dynamic energy per level in MAC units
    energy_pj: dict[str, float]  # per level incl. "static", pJ
    mapping: dict[str, Any] = field(default_factory=dict)

    @property
    def cycles(self) -> float:
        """Latency in cycles: compute, bounded below by DRAM bandwidth."""
        return max(self.compute_cycles, self.dram_cycles)

    @property
    def energy_total_pj(self) -> float:
        return float(sum(self.energy_pj.values()))


@dataclass(frozen=True)
class SimResult:
    """A whole network on one accelerator: totals, per-level breakdown (mJ, sums to the total), per-layer table."""

    accelerator: Accelerator
    energy_mj: float
    latency_ms: float
    breakdown: dict[str, float]
    utilisation: float
    macs: int
    layers: tuple[LayerResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "accelerator": str(self.accelerator),
            "energy_mj": self.energy_mj,
            "latency_ms": self.latency_ms,
            "breakdown": dict(self.breakdown),
            "utilisation": self.utilisation,
            "macs": self.macs,
        }


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=4096)
def _splits(n: int) -> np.ndarray:
    """Tile-size candidates of a loop of ``n``: its divisors (even tiles, e.g. 64 of 192, as
    nn-dataflow's factorised blocking) and ceil(n / 2**i) down to 1 (halvings)."""
    halves = np.ceil(n / 2.0 ** np.arange(int(math.log2(n)) + 2)).astype(np.int64)
    i = np.arange(1, math.isqrt(n) + 1)
    small = i[n % i == 0]
    return np.unique(np.concatenate([halves, small, n // small]))


def _pow2(n: int) -> np.ndarray:
    """1, 2, 4, ... up to n (at least [1])."""
    return 2 ** np.arange(int(math.log2(max(n, 1))) + 1)


def _cdiv(a: Any, b: Any) -> Any:
    return -(-a // b)


@dataclass(frozen=True)
class _Dims:
    G: int
    Cg: int
    Kg: int
    P: int  # output rows, batch folded in (N * out_h)
    Q: int
    R: int
    S: int
    sh: int
    sw: int
    Reff: int
    Seff: int
    H: int  # input rows incl. batch and padding
    Win: int
    w: int  # 1 if the layer has weights
    macs: int
    Wsz: int
    Isz: int
    Osz: int


def _dims(l: Layer) -> _Dims:
    g = l.groups
    reff, seff = l.dilation * (l.R - 1) + 1, l.dilation * (l.S - 1) + 1
    w = int(l.has_weights)
    return _Dims(
        G=g,
        Cg=l.C // g,
        Kg=l.K // g,
        P=l.N * l.out_h,
        Q=l.out_w,
        R=l.R,
        S=l.S,
        sh=l.stride[0],
        sw=l.stride[1],
        Reff=reff,
        Seff=seff,
        H=l.N * (l.H + 2 * l.padding[0]),
        Win=l.W,
        w=w,
        macs=l.macs,
        Wsz=w * l.K * (l.C // g) * l.R * l.S,
        Isz=l.N * l.C * l.H * l.W,
        Osz=l.N * l.K * l.out_h * l.out_w,
    )


# --------------------------------------------------------------------------- array mapping


@dataclass(frozen=True)
class _Extents:
    """A layer's loop extents for one unrolling: per group, along the rows, the columns and in time."""

    rows: int
    cols: int
    time: int
    macs: float
    extent: dict[str, int]


def _extents(d: _Dims, u: Unrolling) -> _Extents:
    extent = {"K": d.Kg, "C": d.Cg, "P": d.P, "Q": d.Q, "R": d.R, "S": d.S}
    ea, eb, t = (math.prod(extent[x] for x in dims) for dims in (u.rows, u.cols, u.temporal))
    return _Extents(ea, eb, t, float(d.G * ea * eb * t), extent)


#: What an array model gives for a layer's candidate mappings: access counts (n, 5) in LEVELS order, compute
#: cycles (n,) and the mapping parameters by name, each (n,).
_Mappings = tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]


def _systolic(d: _Dims, u: Unrolling, rows: int, cols: int, rf_words: int) -> _Mappings:
    """Systolic (SCALE-Sim) and adder-tree arrays of any unrolling: :func:`_systolic_many` for one array. Its RF only
    bounds the held words of a forwarded stream (at most the column folds, at most the columns' extent), so every
    RF above that extent shares one cached result, as do the loop orders with the same innermost loop."""
    ints = _unrolling_scalars(d, u)[0]
    edged = not ints[3] and _EDGE in ints[5:8]
    return _systolic_cached(d, u, rows, cols, min(rf_words, ints[1] + 2) if edged else 0)


@lru_cache(maxsize=1 << 14)  # entries of a few KB each: bounded memory
def _systolic_cached(d: _Dims, u: Unrolling, rows: int, cols: int, rf_words: int) -> _Mappings:
    """:func:`_systolic_many` for one array, cached."""
    counts, cycles, params, _ = _systolic_many(d, [u], np.array([rows]), np.array([cols]), np.array([rf_words]))
    return counts, cycles, params


#: A mapping's operand categories in :func:`_systolic_many`: held in the PEs, moving psums, a stream forwarded
#: along the rows that the RF may keep ``m`` words of, any other moving stream.
_HELD, _PSUMS, _EDGE, _STREAM = range(4)


@lru_cache(maxsize=1 << 12)
def _unrolling_scalars(d: _Dims, u: Unrolling) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """What :func:`_systolic_many` needs of an unrolling, as integers: its extents (rows, columns, time), whether it
    is an adder tree and preloads its held operand, per operand (W, I, O) its category and its dependence on the
    rows' and on the columns' dimensions; and as floats: its MACs and the words each operand loads when held."""
    e = _extents(d, u)
    category, in_rows, in_cols, loads = [], [], [], []
    for op in ("W", "I", "O"):
        on_rows, on_cols = u.relevant(op)
        reuse = math.prod(e.extent[x] for x in u.temporal if x not in RELEVANT[op])
        edge = op != "O" and op != u.stationary and (on_rows, on_cols) == (True, False)
        category.append(_HELD if op == u.stationary else _PSUMS if op == "O" else _EDGE if edge else _STREAM)
        in_rows.append(int(on_rows))
        in_cols.append(int(on_cols))
        loads.append(e.macs / reuse)
    tree, preload = int(u.array == "tree"), int(u.stationary in ("W", "I"))
    return (e.rows, e.cols, e.time, tree, preload, *category, *in_rows, *in_cols), (e.macs, *loads)


def _systolic_many(
    d: _Dims, units: Sequence[Unrolling], rows: np.ndarray, cols: np.ndarray, rf_words: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Systolic (SCALE-Sim) and adder-tree arrays, each of an unrolling and a size: access counts, compute cycles,
    mapping params, and the array (index into ``units``) of each candidate; one pass for many arrays (a sweep).

    Cycles: each fold of ``r x c`` PEs over ``T`` steps takes ``T + fill`` cycles, fill ``2r + c - 2`` when the
    held operand is preloaded (W, I), ``r + c - 2`` for outputs held (SCALE-Sim 3.0 to the cycle, less one per
    group); the mapper may use a sub-array (edge PEs bypassed), so more PEs never cost cycles. The adder tree
    takes ``T + ceil(log2 rows)`` per fold on the whole array. Accesses follow from which operands depend on
    each axis (module docstring of :mod:`yoso.hw.dataflow`).
    """
    distinct: dict[Unrolling, int] = {}
    which = [distinct.setdefault(u, len(distinct)) for u in units]
    scalars = [_unrolling_scalars(d, u) for u in distinct]
    ints = np.array([s[0] for s in scalars], dtype=np.int64)[which]  # (arrays, 14): the layout of the function above
    floats = np.array([s[1] for s in scalars])[which]  # (arrays, 4)
    rows, cols, rf_words = (np.asarray(a, dtype=np.int64) for a in (rows, cols, rf_words))
    er, ec, et, tree = ints[:, 0], ints[:, 1], ints[:, 2], ints[:, 3] == 1
    g = d.G

    # systolic: the whole array (slot 0) or a sub-array of i < size PEs per axis, for each fold count the fewest
    # PEs that reach it; only the fastest whole-array and the fastest sub-array mappings can be chosen
    def axis(extent: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        slot = np.arange(int(np.minimum(size, extent + 1).max(initial=1)))[None, :]  # sub-arrays: i <= extent
        used = np.where(slot == 0, size[:, None], slot)
        i = np.maximum(slot, 1)
        valid = (slot < size[:, None]) & (slot <= extent[:, None])
        valid &= _cdiv(extent[:, None], _cdiv(extent[:, None], i)) == i
        return used, _cdiv(extent[:, None], used), valid

    (ra, fr, vr), (ca, fc, vc) = axis(er, rows), axis(ec, cols)
    fill = (1 + ints[:, 4])[:, None, None] * ra[:, :, None] + ca[:, None, :] - 2
    grid_cycles = g * (fr[:, :, None] * fc[:, None, :] * (fill + et[:, None, None]) - 1)
    sub = vr[:, :, None] & vc[:, None, :]
    sub[:, 0, 0] = False
    sub[tree] = False  # an adder tree uses the whole array
    fastest_sub = np.where(sub, grid_cycles, np.iinfo(np.int64).max).min(axis=(1, 2))
    keep = sub & (grid_cycles == fastest_sub[:, None, None])
    keep[:, 0, 0] = True
    owner, i, j = np.nonzero(keep)
    ra, ca, fr, fc, cycles = ra[owner, i], ca[owner, j], fr[owner, i], fc[owner, j], grid_cycles[owner, i, j]
    if tree.any():
        depth = np.array([math.ceil(math.log2(r)) if t else 0 for r, t in zip(rows[owner], tree[owner])])
        cycles = np.where(tree[owner], g * fr * fc * (et[owner] + depth), cycles)
    cycles = cycles.astype(float)

    # a stream forwarded along the rows (depends on the rows' dimensions only) is re-read per column fold, or
    # once per m column folds whose held words the PE keeps side by side in its RF
    edged = (ints[owner, 5:8] == _EDGE).any(axis=1) & ~tree[owner]
    m = np.ones(len(owner))
    if edged.any():
        limit = np.minimum(fc, np.maximum(rf_words[owner] - 2, 1))
        count = np.where(edged, np.floor(np.log2(np.maximum(limit, 1))).astype(np.int64) + 1, 1)
        idx = np.repeat(np.arange(len(owner)), count)
        m = 2.0 ** (np.arange(len(idx)) - np.repeat(np.cumsum(count) - count, count))
        owner, i, j, ra, ca, fr, fc, cycles = (a[idx] for a in (owner, i, j, ra, ca, fr, fc, cycles))
    io, fo = ints[owner], floats[owner]
    names = np.where((i == 0) & (j == 0), np.where(io[:, 3] == 1, "tree", "systolic"), "subarray")

    n, M, ecols = len(owner), fo[:, 0], io[:, 1]
    per_row, per_col, col_trips = io[:, 0] / fr, ecols / fc, np.ceil(fc / m)  # mean used extents, m-fold trips
    rf, noc, glb = np.zeros(n), np.zeros(n), np.zeros(n)
    for o, w in enumerate((float(d.w), 1.0, 1.0)):  # W, I, O
        h, hl = io[:, 5 + o] == _HELD, fo[:, 1 + o]
        spatial = np.where(io[:, 8 + o] == 1, 1.0, per_row) * np.where(io[:, 11 + o] == 1, 1.0, per_col)
        if o == 2:  # outputs held: psum read + write (+ the held stream word); psums leave the array written, all
            # but the first read; moving: one hop per MAC, reduced along the axes the output does not depend on
            rf += np.where(h, 2 * M + np.where(m > 1, M, 0.0), 0.0)
            noc += np.where(h, 0.0, M)
            glb += np.where(h, 2 * hl, 2 * M) / spatial - d.Osz
        else:  # held: one read per MAC + the fills; a forwarded stream re-read once per m column folds
            edge = io[:, 5 + o] == _EDGE
            rf += np.where(h, w * (M + hl), 0.0)
            noc += np.where(h, w * hl, np.where(edge, w * M / m, w * M))
            glb += np.where(edge, w * M / ecols * col_trips, np.where(h, w * hl, w * M) / spatial)
    counts = np.stack([M, rf, noc, glb, np.zeros(n)], axis=1)
    return counts, cycles, {"mapping": names, "m": m, "sub_rows": ra, "sub_cols": ca}, owner


def _pixels2d(d: _Dims, rows: int, cols: int) -> _Mappings:
    """ShiDianNao: output rows x columns on the array, one output channel at a time; inputs hop between neighbours,
    weights are broadcast; outputs drained down the columns after the C*R*S steps (small maps leave PEs idle)."""
    macs, t = float(d.macs), d.Cg * d.R * d.S
    pr, qc = min(d.P, rows), min(d.Q, cols)
    folds = _cdiv(d.P, rows) * _cdiv(d.Q, cols)
    cycles = float(d.G * d.Kg * (folds * t + d.P * _cdiv(d.Q, cols)))
    halo = max(1.0, folds * (pr - 1 + d.Reff) * (qc - 1 + d.Seff) / (d.H * d.Win))
    glb = d.w * d.Wsz * folds + d.Isz * d.Kg * halo + d.Osz  # weights broadcast, inputs per channel
    counts = np.array([[macs, 3 * macs, macs + d.w * macs, glb, 0.0]])
    return counts, np.array([cycles]), {"mapping": np.array(["pixels2d"])}


def _row_stationary(layer: Layer, d: _Dims, rows: int, cols: int, rf_words: int, loop_order: str | None) -> _Mappings:
    """Eyeriss: a PE set of R filter rows x e output rows, replicated over the array for other filters/channels/
    groups; each PE runs a 1-D convolution with p filters x q channels held in its RF (Chen et al. ISCA 2016)."""
    e, p, q, n, need, fallback = _row_stationary_sets(layer, d, cols)
    fits = need <= rf_words
    if not fits.any():
        fits = fallback
    counts, cycles, params, glb = _row_stationary_mappings(
        layer, d, rows, cols, e[fits], p[fits], q[fits], n[fits], _orders(loop_order)
    )
    counts[:, GLB] = glb.min(axis=0)
    return counts, cycles, params


def _row_stationary_sets(
    layer: Layer, d: _Dims, cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The PE-set shapes (e, p, q, n) a row-stationary array may use, the RF words each needs (``inf`` for a shape
    it never uses), and the ones it falls back to when none fits its RF."""
    # a PE's RF holds p filters x q channels of filter rows (p*q*S words), the ifmap windows
    # of q channels for n images (n*q*S) and n*p psums (Eyeriss ISCA'16 Sec. V: p, q, n);
    # n > 1 (images of a batch sharing the filter rows in the RF) keeps a PE set in one image
    n_img, oh = layer.N, layer.out_h
    e, p, q, n = np.meshgrid(np.arange(1, min(d.P, cols) + 1), _pow2(d.Kg), _pow2(d.Cg), _pow2(n_img), indexing="ij")
    e, p, q, n = e.ravel(), p.ravel(), q.ravel(), n.ravel()
    need = np.where((n == 1) | (e <= oh), d.w * p * q * d.S + n * q * d.S + n * p, np.inf)
    return e, p, q, n, need, (p == 1) & (q == 1) & (n == 1)


def _row_stationary_mappings(
    layer: Layer,
    d: _Dims,
    rows: int,
    cols: int,
    e: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    n: np.ndarray,
    orders: tuple[tuple[int, ...], ...],
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Access counts, cycles and params of the row-stationary mappings of PE-set shapes (e, p, q, n), each over the
    splits of its replicated sets (consecutive, as many per shape), with the GLB reads in each of ``orders``
    (``(len(orders), n)``; the counts' GLB column is left 0)."""
    macs = float(d.macs)
    fr = _cdiv(d.R, rows)
    rt = _cdiv(d.R, fr)
    n_img, oh = layer.N, layer.out_h
    sets = (rows // rt) * (cols // e)
    # split the replicated sets between filters (sk, share inputs) and channels (sc, sum psums)
    sk = np.minimum(_pow2(rows * cols)[None, :], sets[:, None])
    e, p, q, n, sets = (np.repeat(a, sk.shape[1]) for a in (e, p, q, n, sets))
    sk = sk.ravel()
    sc = sets // sk
    units = d.G * d.Kg * d.Cg * fr * _cdiv(d.P, e)
    cycles = (_cdiv(units, sets) * d.Q * d.S).astype(float)  # p x q x n only reorders a PE's work
    w_noc = d.w * macs / (d.Q * n)  # a weight in the RF serves Q outputs of each of n images
    i_noc = macs * ((d.Q - 1) * d.sw + d.Seff) / (p * d.Q * d.S)
    o_noc = macs / (q * d.S)
    noc = w_noc + i_noc + o_noc
    # per MAC: weight and input reads, psum read and write (Eyeriss ISCA'16 Fig. 10: RF = 4x ALU)
    rf = np.full(len(e), (3 + d.w) * macs)
    # GLB reads of the array: the passes (p*sk filters x q*sc channels x e output rows) run in
    # one loop order over the K, C and P blocks, as the GLB tiling's; an operand is re-read
    # once per trip of the loops outside it that it does not depend on (weights stay in the
    # RFs over the row blocks inside their filter/channel block, psums over the channel
    # blocks inside theirs); ifmap halo rows are re-read per row block
    row_blocks = np.where(n > 1, _cdiv(n_img, n) * _cdiv(oh, e), _cdiv(d.P, e))  # e rows x n images each
    trips = np.stack([_cdiv(d.Kg, p * sk), _cdiv(d.Cg, q * sc), row_blocks]).astype(float)
    i_rows = d.Isz * np.maximum(1.0, trips[2] * n * ((e - 1) * d.sh + d.Reff) / d.H)
    glb = np.array([d.Wsz * m[0] + i_rows * m[1] + d.Osz * (2 * m[2] - 1) for m in _order_mults(trips, orders)])
    counts = np.stack([np.full(len(e), macs), rf, noc, np.zeros(len(e)), np.zeros(len(e))], axis=1)
    params = {"mapping": np.full(len(e), "row"), "e": e, "p": p, "q": q, "n": n, "sets_k": sk, "sets_c": sc}
    return counts, cycles, params, glb


class _Candidates(NamedTuple):
    """Candidate array mappings of one layer: access counts (n, 5) in LEVELS order, compute cycles (n,), and
    per unrolling the first candidate's index and the mapping parameters of its candidates."""

    counts: np.ndarray
    cycles: np.ndarray
    parts: tuple[tuple[str, int, dict[str, np.ndarray]], ...]

    def params(self, i: int) -> dict[str, Any]:
        """The unrolling and mapping parameters of candidate ``i``."""
        for unrolling, start, params in reversed(self.parts):
            if i >= start:
                return {"unrolling": unrolling} | {k: v[i - start].item() for k, v in params.items()}
        raise IndexError(i)


def _elementwise(d: _Dims, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An elementwise layer's one mapping on arrays of ``rows x cols`` PEs (access counts ``(n, 5)``, cycles):
    two operands in, one out, full array parallelism, whatever the dataflow."""
    macs = float(d.macs)
    counts = np.tile([macs, 0.0, 3 * macs, 3 * macs, 0.0], (len(rows), 1))
    return counts, _cdiv(d.macs, np.asarray(rows) * np.asarray(cols)).astype(float)


@lru_cache(maxsize=1 << 16)
def _array_candidates(
    layer: Layer, rows: int, cols: int, rf_words: int, dataflow: str, loop_order: str | None = None
) -> _Candidates:
    """Every candidate array mapping of ``layer`` under the unrollings the dataflow (and loop order) allow."""
    d = _dims(layer)
    if layer.kind == "add":
        counts, cycles = _elementwise(d, np.array([rows]), np.array([cols]))
        return _Candidates(counts, cycles, (("elementwise", 0, {"mapping": np.array(["elementwise"])}),))
    all_counts: list[np.ndarray] = []
    all_cycles: list[np.ndarray] = []
    parts: list[tuple[str, int, dict[str, np.ndarray]]] = []
    start = 0
    for u in unrollings(dataflow, loop_order):
        if u.array == "row":
            c, t, p = _row_stationary(layer, d, rows, cols, rf_words, loop_order)
        elif u.array == "pixels2d":
            c, t, p = _pixels2d(d, rows, cols)
        else:
            c, t, p = _systolic(d, u, rows, cols, rf_words)
        all_counts.append(c)
        all_cycles.append(t)
        parts.append((str(u), start, p))
        start += len(t)
    return _Candidates(np.concatenate(all_counts), np.concatenate(all_cycles), tuple(parts))


# --------------------------------------------------------------------------- GLB tiling / DRAM

_ORDERS = tuple(permutations(range(3)))  # loops K, C, P (outer -> inner)
_RELEVANT = ((0, 1), (1, 2), (0, 2))  # W: K,C   I: C,P   O: K,P


def _orders(loop_order: str | None) -> tuple[tuple[int, ...], ...]:
    """The tiling loop orders to consider: the accelerator's fixed one, or all six."""
    return _ORDERS if loop_order is None else (tuple(TILING_LOOPS.index(c) for c in loop_order),)


def _order_mults(trips: np.ndarray, orders: tuple[tuple[int, ...], ...] = _ORDERS) -> list[tuple[np.ndarray, ...]]:
    """Per loop order (K, C, P permutations): how often W, I, O are re-fetched, from the (3, n) trip counts.

    An operand is fetched once per trip of the loops outside its innermost relevant loop that it does not depend on.
    """
    out = []
    for order in orders:
        mult = []
        for rel in _RELEVANT:
            inner = max(order.index(r) for r in rel)
            irr = [l for pos, l in enumerate(order) if pos < inner and l not in rel]
            mult.append(np.prod(trips[irr], axis=0) if irr else np.ones(trips.shape[1]))
        out.append(tuple(mult))
    return out


@lru_cache(maxsize=1 << 16)
def _dram_tiling(
    layer: Layer, glb_words: int, onchip_fmaps: bool = True, loop_order: str | None = None
) -> tuple[float, dict[str, Any]]:
    """Least DRAM traffic (words) over GLB tiles (k, c, p) that fit, in the given loop order or the best of the 6.

    With ``onchip_fmaps``, a layer whose whole input and output maps fit in the GLB next to
    a minimal weight tile keeps them on chip (only its weights come from DRAM, once).
    """
    d = _dims(layer)
    io = (3.0 if layer.kind == "add" else 1.0) * d.Osz + (0 if layer.kind == "add" else d.Isz)
    if onchip_fmaps and io + d.w * d.R * d.S <= glb_words:
        return float(d.Wsz), {"onchip_fmaps": True}
    if layer.kind == "add":
        return 3.0 * d.Osz, {}
    # P tiles never straddle two images: b whole images (input rows b * padded height) or
    # h output rows of one image (input rows (h-1)*stride + R_eff, the halo refetched per tile)
    n, oh = layer.N, layer.out_h
    hpad = d.H // n
    b = _splits(n)
    h = _splits(oh)[:-1] if oh > 1 else np.zeros(0, np.int64)  # sub-image tiles (h < out_h)
    p_rows = np.concatenate([b * oh, h])
    p_in = np.concatenate([b * hpad, (h - 1) * d.sh + d.Reff])
    p_trips = np.concatenate([_cdiv(n, b), n * _cdiv(oh, h)])
    k, c, j = np.meshgrid(_splits(d.Kg), _splits(d.Cg), np.arange(len(p_rows)), indexing="ij")
    k, c, j = k.ravel(), c.ravel(), j.ravel()
    p, rows_in = p_rows[j], p_in[j]
    need = d.w * k * c * d.R * d.S + c * rows_in * d.Win + k * p * d.Q
    fits = need <= glb_words
    if not fits.any():
        fits = need == need.min()
    k, c, p, rows_in, j = k[fits], c[fits], p[fits], rows_in[fits], j[fits]
    trips = np.stack([_cdiv(d.Kg, k), _cdiv(d.Cg, c), p_trips[j]]).astype(float)  # (3, n)
    i_once = d.Isz * np.maximum(1.0, trips[2] * rows_in / d.H)  # halo rows refetched
    best, best_info = math.inf, {}
    orders = _orders(loop_order)
    for order, mult in zip(orders, _order_mults(trips, orders)):
        words = d.Wsz * mult[0] + i_once * mult[1] + d.Osz * (2 * mult[2] - 1)
        i = int(np.argmin(words))
        if words[i] < best:
            best = float(words[i])
            order_name = "".join("KCP"[l] for l in order)
            best_info = {"tile_k": int(k[i]), "tile_c": int(c[i]), "tile_p": int(p[i]), "order": order_name}
    return best, best_info


# --------------------------------------------------------------------------- per layer


@lru_cache(maxsize=1 << 14)
def _acc_constants(acc: Accelerator, tech: Tech) -> tuple[np.ndarray, float, int, int]:
    """(unit cost vector, static pJ per cycle, RF words, GLB words) of an accelerator."""
    static_pj_per_cycle = tech.static_power_mw(acc) * 1e9 / (tech.clock_mhz * 1e6)
    return (
        tech.costs(acc).vector(),
        static_pj_per_cycle,
        int(acc.rbuf_bytes // tech.word_bytes),
        int(acc.gbuf_kb * 1024 // tech.word_bytes),
    )


class _LayerCost(NamedTuple):
    """One layer shape on one accelerator at its best mapping: the figures of the batch and the detailed API."""

    choice: int  # the chosen array mapping among :func:`_array_candidates` (``index`` would shadow tuple.index)
    accesses: np.ndarray  # words per level in LEVELS order ("mac" = MACs), DRAM traffic included
    energy_units: np.ndarray  # accesses x unit cost, per level (MAC units)
    static_pj: float  # leakage over the layer's latency
    energy_pj: float  # dynamic + static
    compute_cycles: float
    dram_cycles: float

    @property
    def cycles(self) -> float:
        """Latency in cycles: compute, bounded below by DRAM bandwidth."""
        return max(self.compute_cycles, self.dram_cycles)


#: The levels one DRAM word is counted at: DRAM and the GLB (every DRAM word is written to / read from it once).
_DRAM_WORD = np.eye(len(LEVELS))[DRAM] + np.eye(len(LEVELS))[GLB]


def _objective_keys(objective: str, energy: Any, cycles: Any) -> tuple[Any, ...]:
    """What a mapping objective (:data:`~yoso.hw.tech.MAPPING_OBJECTIVES`) minimises, in order (the later keys break
    ties), from the candidates' whole-layer ``energy`` and ``cycles`` (latency): never a dominated candidate, even
    where energy is zero (a board's layer that keeps its maps on chip)."""
    if objective == "latency":
        return cycles, energy
    if objective == "energy":
        return energy, cycles
    return energy * cycles, energy, cycles


def _best_mapping(objective: str, energy: np.ndarray, cycles: np.ndarray) -> int:
    """Index of the candidate mapping that minimises ``objective`` over the layer's ``energy`` and ``cycles``."""
    tied = np.ones(len(energy), bool)
    for key in _objective_keys(objective, energy, cycles):
        masked = np.where(tied, key, np.inf)
        tied &= masked == masked.min()
    return int(np.argmax(tied))


def _array_energy(counts: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """The MAC, RF and NoC energy (MAC units) of candidate mappings' access counts ``(n, 5)`` at unit costs ``(5,)``
    or one row each ``(n, 5)``: what does not depend on the global buffer (elementwise, so a candidate's figure is
    the same bits whichever set it is costed in)."""
    energy: np.ndarray = (
        counts[:, MAC] * unit[..., MAC] + counts[:, RF] * unit[..., RF] + counts[:, NOC] * unit[..., NOC]
    )
    return energy


def _layer_energy(
    array_energy: Any,
    glb_accesses: Any,
    unit_glb: Any,
    dram: Any,
    unit_dram: Any,
    mac_pj: float,
    static: Any,
    latency: Any,
) -> Any:
    """A layer's energy (pJ) at a mapping: its array energy, its GLB accesses and DRAM words at the unit costs, and
    leakage (``static`` pJ per cycle) over its latency; broadcasts, for one accelerator or many."""
    return (array_energy + glb_accesses * unit_glb + dram * (unit_dram + unit_glb)) * mac_pj + static * latency


class _MappingFigures(NamedTuple):
    """Every candidate mapping of one layer shape on one accelerator, costed as a whole layer: its array accesses
    and compute cycles, its latency (bounded by DRAM) and energy (dynamic + leakage, pJ), and the DRAM traffic of
    the best GLB tiling they share."""

    counts: np.ndarray  # (n, 5) array-side accesses in LEVELS order
    compute_cycles: np.ndarray  # (n,); inf where ``mappings`` excludes a candidate
    latency: np.ndarray  # (n,) cycles
    energy_pj: np.ndarray  # (n,)
    dram: float  # words
    dram_cycles: float
    unit: np.ndarray  # unit costs in LEVELS order (MAC units)
    static_pj_per_cycle: float


def _mapping_figures(
    shape: Layer, acc: Accelerator, tech: Tech, costs: UnitCosts | None = None, mappings: tuple[str, ...] | None = None
) -> _MappingFigures:
    """The whole-layer energy and latency of every candidate mapping, what the mapping objective chooses among."""
    unit, static_pj_per_cycle, rf_words, glb_words = _acc_constants(acc, tech)
    if costs is not None:
        unit = costs.vector()
    cand = _array_candidates(shape, acc.pe_rows, acc.pe_cols, rf_words, acc.dataflow, acc.loop_order)
    cycles = cand.cycles
    if mappings is not None:
        names = np.concatenate([p["mapping"] for _, _, p in cand.parts])
        allowed = np.isin(names, list(mappings))
        if not allowed.any():
            raise ValueError(f"mappings {list(mappings)}: none of {sorted(set(names))} for {acc.dataflow}")
        cycles = np.where(allowed, cycles, np.inf)
    dram = _dram_tiling(shape, glb_words, tech.onchip_fmaps, acc.loop_order)[0]
    dram_cycles = dram / tech.dram_words_per_cycle
    latency = np.maximum(cycles, dram_cycles)
    energy = _layer_energy(
        _array_energy(cand.counts, unit),
        cand.counts[:, GLB],
        unit[GLB],
        dram,
        unit[DRAM],
        tech.mac_pj,
        static_pj_per_cycle,
        latency,
    )
    energy = np.where(np.isfinite(cycles), energy, np.inf)  # excluded mappings (0 x inf leakage would be nan)
    return _MappingFigures(cand.counts, cycles, latency, energy, dram, dram_cycles, unit, static_pj_per_cycle)


def _layer_cost(
    shape: Layer, acc: Accelerator, tech: Tech, costs: UnitCosts | None = None, mappings: tuple[str, ...] | None = None
) -> _LayerCost:
    """The one per-layer computation: the mapping the objective picks, with the DRAM traffic of the best GLB
    tiling, its energy and cycles (at the layer's precision: :func:`~yoso.hw.tech.at_bits`)."""
    tech = at_bits(tech, shape.bits)
    f = _mapping_figures(shape, acc, tech, costs, mappings)
    i = _best_mapping(tech.mapping_objective, f.energy_pj, f.latency)
    accesses = f.counts[i] + f.dram * _DRAM_WORD
    units = accesses * f.unit
    static = f.static_pj_per_cycle * float(f.latency[i])
    compute = float(f.compute_cycles[i])
    return _LayerCost(i, accesses, units, static, float(units.sum()) * tech.mac_pj + static, compute, f.dram_cycles)


def simulate_layer(
    layer: Layer,
    accelerator: Accelerator,
    tech: Tech | None = None,
    costs: UnitCosts | None = None,
    onchip_fmaps: bool | None = None,
    mappings: Sequence[str] | None = None,
) -> LayerResult:
    """Best mapping of ``layer`` on ``accelerator``: cycles, accesses and energy per level.

    ``costs`` overrides the unit costs (MAC-normalised, used as given, not scaled with the
    buffer sizes), e.g. ``UnitCosts(1, 1, 2, 6, 200)`` for the Eyeriss Fig. 10 comparison;
    ``onchip_fmaps=False`` makes the layer read its input from and write its output to DRAM
    (one layer alone, as nn-dataflow costs it), overriding the tech's setting; ``mappings``
    restricts the array mappings by name: ``"systolic"`` (the whole array, SCALE-Sim's, for the
    cycle comparison), ``"subarray"`` (edge PEs bypassed), ``"tree"``, ``"row"``, ``"pixels2d"``.
    """
    tech = tech or load_tech()
    if onchip_fmaps is not None and onchip_fmaps != tech.onchip_fmaps:
        tech = replace(tech, onchip_fmaps=onchip_fmaps)
    acc, shape = accelerator, layer.shape()
    tech = at_bits(tech, shape.bits)
    cost = _layer_cost(shape, acc, tech, costs, None if mappings is None else tuple(mappings))
    _, _, rf_words, glb_words = _acc_constants(acc, tech)
    cand = _array_candidates(shape, acc.pe_rows, acc.pe_cols, rf_words, acc.dataflow, acc.loop_order)
    tile = _dram_tiling(shape, glb_words, tech.onchip_fmaps, acc.loop_order)[1]
    e_pj = {k: float(v * tech.mac_pj) for k, v in zip(LEVELS, cost.energy_units)}
    e_pj["static"] = cost.static_pj
    mapping = cand.params(cost.choice) | tile
    return LayerResult(
        layer=layer,
        accelerator=acc,
        macs=layer.macs,
        compute_cycles=cost.compute_cycles,
        dram_cycles=cost.dram_cycles,
        utilisation=layer.macs / (cost.compute_cycles * acc.num_pes),
        accesses=dict(zip(LEVELS, map(float, cost.accesses))),
        energy_units=dict(zip(LEVELS, map(float, cost.energy_units))),
        energy_pj=e_pj,
        mapping=mapping,
    )


# --------------------------------------------------------------------------- whole network


@lru_cache(maxsize=4096)
def _network(genotype: Genotype, deploy: Deploy) -> tuple[tuple[Layer, ...], tuple[tuple[Layer, int], ...]]:
    """The unnamed layer shapes of a deployment network, in order, and each distinct shape with its count."""
    shapes = tuple(deployment_layers(genotype, deploy, names=False))
    return shapes, tuple(Counter(shapes).items())


#: (energy pJ, cycles) of each (layer shape, accelerator, tech) the batch API has costed.
_LAYER_CACHE: dict[tuple[Layer, Accelerator, Tech], tuple[float, float]] = {}


def clear_cache() -> None:
    """Forget every cached mapping and per-layer result (for cold-cache timings)."""
    _splits.cache_clear()
    _array_candidates.cache_clear()
    _unrolling_scalars.cache_clear()
    _systolic_cached.cache_clear()
    _dram_tiling.cache_clear()
    _network.cache_clear()
    _LAYER_CACHE.clear()
    _SWEEPS.clear()


def simulate(
    network: Genotype | Sequence[Layer],
    accelerator: Accelerator,
    tech: Tech | None = None,
    deploy: Deploy | None = None,
) -> SimResult:
    """A genotype's deployment network (or a layer list) on ``accelerator``: totals, breakdown, per-layer table."""
    tech = tech or load_tech()
    shapes: Sequence[Layer]
    if isinstance(network, Genotype):
        deploy = deploy or Deploy()
        layers, shapes = deployment_layers(network, deploy), _network(network, deploy)[0]
    else:
        layers = list(network)
        shapes = [l.shape() for l in layers]
    memo: dict[Layer, LayerResult] = {}
    rows = []
    for l, key in zip(layers, shapes):
        r = memo.get(key)
        if r is None:
            r = memo[key] = simulate_layer(key, accelerator, tech)
        rows.append(replace(r, layer=l))
    breakdown = {k: sum(r.energy_pj[k] for r in rows) * 1e-9 for k in BREAKDOWN_KEYS}
    cycles = sum(r.cycles for r in rows)
    compute = sum(r.compute_cycles for r in rows)
    macs = sum(r.macs for r in rows)
    return SimResult(
        accelerator=accelerator,
        energy_mj=float(sum(breakdown.values())),
        latency_ms=cycles / (tech.clock_mhz * 1e3),
        breakdown=breakdown,
        utilisation=macs / (compute * accelerator.num_pes),
        macs=macs,
        layers=tuple(rows),
    )


def _layer_totals(shape: Layer, acc: Accelerator, tech: Tech) -> tuple[float, float]:
    """(energy pJ, cycles) of one layer shape, as :func:`simulate_layer` reports them; cached for the batch API."""
    key = (shape, acc, tech)
    hit = _LAYER_CACHE.get(key)
    if hit is None:
        cost = _layer_cost(shape, acc, tech)
        hit = _LAYER_CACHE[key] = (cost.energy_pj, cost.cycles)
    return hit


def _evaluate_pairs(pairs: Sequence[tuple[Genotype, Accelerator]], tech: Tech, deploy: Deploy) -> np.ndarray:
    out = np.empty((len(pairs), 2))
    for j, (g, acc) in enumerate(pairs):
        e = c = 0.0
        for shape, n in _network(g, deploy)[1]:
            le, lc = _layer_totals(shape, acc, tech)
            e += n * le
            c += n * lc
        out[j] = e * 1e-9, c / (tech.clock_mhz * 1e3)
    return out


def evaluate(
    items: Iterable[tuple[Genotype, Accelerator]] | np.ndarray,
    *,
    space: Any = None,
    tech: Tech | None = None,
    deploy: Deploy | None = None,
    n_jobs: int = 1,
    chunk: int = 2000,
) -> tuple[np.ndarray, np.ndarray]:
    """Energy (mJ) and latency (ms) of many (genotype, accelerator) pairs, or of encoded vectors of ``space``.

    A genotype paired with :data:`SWEEP_MIN` or more accelerators is costed on all of them at once
    (:mod:`yoso.hw.sweep`); the other pairs one by one, their per-layer results cached by (layer shape,
    accelerator, tech), batches larger than ``chunk`` spread over ``n_jobs`` processes with joblib (-1: all cores).
    """
    tech = tech or load_tech()
    deploy = deploy or Deploy()
    if isinstance(items, np.ndarray) or (space is not None and not _is_pairs(items)):
        if space is None:
            raise ValueError("evaluate: encoded candidate vectors need the JointSpace (space=...) to decode them")
        pairs = space.decode_many(items)
    else:
        pairs = list(items)
    res = np.empty((len(pairs), 2))
    # the pairs of each network: grouped by object first (two-stage pairs one genotype object with every accelerator)
    ids = np.fromiter(map(id, map(itemgetter(0), pairs)), np.int64, len(pairs))
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    networks: dict[Genotype, int] = {}
    network_of = np.array([networks.setdefault(pairs[i][0], len(networks)) for i in first], np.int64)[inverse]
    bounds = np.cumsum(np.bincount(network_of.reshape(-1), minlength=len(networks)))[:-1]
    by_network = np.split(np.argsort(network_of.reshape(-1), kind="stable"), bounds) if len(pairs) else []
    swept = [rows for rows in by_network if len(rows) >= SWEEP_MIN]
    for rows in swept:  # one network on many accelerators: array operations (yoso.hw.sweep), the same figures
        g = pairs[rows[0]][0]
        res[rows] = np.column_stack(_sweep([pairs[j][1] for j in rows.tolist()], tech, deploy)(g))
    left = np.ones(len(pairs), bool)
    for rows in swept:
        left[rows] = False
    rest = np.flatnonzero(left)
    pairs_left = [pairs[j] for j in rest]
    if n_jobs != 1 and len(pairs_left) > chunk:
        from joblib import Parallel, delayed

        parts = [pairs_left[i : i + chunk] for i in range(0, len(pairs_left), chunk)]
        res[rest] = np.concatenate(Parallel(n_jobs=n_jobs)(delayed(_evaluate_pairs)(p, tech, deploy) for p in parts))
    elif len(rest):
        res[rest] = _evaluate_pairs(pairs_left, tech, deploy)
    return res[:, 0].copy(), res[:, 1].copy()


#: A network paired with at least this many accelerators in one :func:`evaluate` call is costed by a sweep.
SWEEP_MIN = 16
#: The sweeps of recent accelerator lists (two-stage and Table 2 sweep one list for network after network), the
#: latest last: a list, not a dict, as a key of 181,440 accelerators takes longer to hash than to compare by identity.
_SWEEPS: list[tuple[tuple[Accelerator, ...], Tech, Deploy, Any]] = []


def _sweep(accelerators: list[Accelerator], tech: Tech, deploy: Deploy) -> Any:
    """The :class:`~yoso.hw.sweep.AcceleratorSweep` of these accelerators, kept for the next network (the last 4)."""
    from yoso.hw.sweep import AcceleratorSweep

    accs = tuple(accelerators)
    for i, (known, t, d, sweep) in enumerate(_SWEEPS):
        if t == tech and d == deploy and known == accs:  # the same objects compare by identity
            _SWEEPS.append(_SWEEPS.pop(i))
            return sweep
    sweep = AcceleratorSweep(accelerators, tech, deploy)
    _SWEEPS.append((accs, tech, deploy, sweep))
    del _SWEEPS[:-4]
    return sweep


def _is_pairs(items: Any) -> bool:
    try:
        first = items[0]
    except (TypeError, IndexError, KeyError):
        return True
    return isinstance(first, tuple) and len(first) == 2 and isinstance(first[0], Genotype)
