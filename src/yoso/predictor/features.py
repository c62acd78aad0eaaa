"""The one fixed-length numeric encoding of a candidate, shared by every hardware regressor.

A candidate (an encoded vector of the :class:`~yoso.space.JointSpace`) becomes:

* the one-hot of every decision (vocabularies and order from the space);
* quantities of its deployment network (:func:`yoso.hw.deployment_layers`), cached per
  genotype: per layer kind, log MACs, parameters, layer count and input + output map
  words; log totals of MACs, parameters and map words; the log peak map; the nodes each
  cell type concatenates (its output width);
* per cell type, the log MACs and parameters of its ten ops at the deploy's width and input
  resolution (:func:`yoso.hw.op_layers`);
* the accelerator on a log2 scale (PE rows, columns, PEs, buffer sizes) and the log map
  words of the layers whose maps exceed its global buffer ("spill"), whether the space
  searches a PE array or its rows and columns;
* per dataflow (a named one or a connectivity), and per tiling loop order where the space
  searches one, log MACs per PE of each kind group and the log spill (zero under the other
  choices): energy and latency are roughly products, so their logs roughly sums of these;
* where the space searches a connectivity, the deployment network's log compute cycles on the
  candidate's array under it (per layer and group: the folds of the unrolled extents over the
  rows and columns, each the temporal steps plus a fill of rows + columns) and the log words
  of each operand (weights, inputs, outputs) between the global buffer and the array (its
  accesses, MACs, over the PEs a word serves at once: multicast along an axis whose dimensions
  it does not depend on, or spatial reduction for the outputs), cached per genotype for every
  connectivity and array shape (a named dataflow of the list, RS or OS, by its first
  unrolling's dimensions: an approximation). On accelerator=naas the GP's held-out MAPE is
  5.10 % (energy) and 2.43 % (latency) with them (``python -m yoso.app.compare accelerator=naas``:
  3000 training / 600 held-out samples).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from yoso.hw.dataflow import NAMED, RELEVANT
from yoso.hw.layers import LAYER_KINDS, Deploy, Layer, deployment_layers, op_layers
from yoso.hw.tech import Tech, load_tech
from yoso.space.accelerator import LOOP_DIMS, parse_connectivity
from yoso.space.genotype import CELL_TYPES
from yoso.space.joint import JointSpace

#: Bumped whenever the encoding changes, so that saved predictors of an older encoding are refused.
FEATURE_VERSION = 1
#: Layer kinds grouped for the per-dataflow interaction terms (both poolings cost alike).
_WORK_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conv", ("conv",)),
    ("dwconv", ("dwconv",)),
    ("pool", ("pool_max", "pool_avg")),
    ("add", ("add",)),
    ("all", LAYER_KINDS),
)


@dataclass(frozen=True)
class FeatureSpec:
    """Names (hence length and order) and version of an encoding; saved with every model."""

    names: tuple[str, ...]
    version: int = FEATURE_VERSION

    def __len__(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "version": self.version}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(tuple(data["names"]), int(data["version"]))


def _log(x: Any) -> np.ndarray:
    return np.log1p(np.asarray(x, dtype=np.float64))


class FeatureEncoder:
    """``encoder(vectors) -> (n, len(encoder.spec))`` float64 features of encoded candidates."""

    @classmethod
    def from_config(
        cls, space: JointSpace, deploy: Mapping[str, Any] | None = None, tech: str | None = None
    ) -> FeatureEncoder:
        """The encoder of a config's ``hw.deploy`` macro and ``hw.tech`` name (validated; None: the defaults)."""
        return cls(
            space,
            Deploy.from_config(deploy) if deploy is not None else None,
            load_tech(tech) if tech is not None else None,
        )

    def __init__(
        self, space: JointSpace, deploy: Deploy | None = None, tech: Tech | None = None, cache_size: int = 1 << 16
    ):
        self.space, self.deploy, self.tech = space, deploy or Deploy(), tech or load_tech()
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        self._layer_memo: dict[int, tuple] = {}
        self._layer_tables: list[np.ndarray] = []  # per memoised layer: its _layer_costs
        acc = space.accelerators
        self._gbuf_bytes = np.array(acc.options("gbuf_kb"), dtype=np.float64) * 1024
        self._geno_names = self._genotype_feature_names()
        self._ops = self._op_table()
        nd = space.num_dnn_decisions
        op_cols = [i for i, d in enumerate(space.decisions[:nd]) if d.name.rsplit(".", 1)[-1].startswith("op_")]
        # per cell type, the op decisions of its nodes (cells in CELL_TYPES order, as the encoding)
        self._cell_op_cols = [
            [i for i in op_cols if space.decisions[i].name.startswith(f"{cell}.")] for cell in CELL_TYPES
        ]
        # per-choice accelerator tables, each gathered by the index in its decision's column of the encoding
        column = {name: nd + i for i, name in enumerate(acc.fields)}
        if "pe_array" in column:
            shapes = np.array(acc.options("pe_array"), dtype=np.float64)
            rows, cols = (column["pe_array"], shapes[:, 0]), (column["pe_array"], shapes[:, 1])
        else:
            rows = (column["pe_rows"], np.array(acc.options("pe_rows"), dtype=np.float64))
            cols = (column["pe_cols"], np.array(acc.options("pe_cols"), dtype=np.float64))
        gbuf = (column["gbuf_kb"], acc.options("gbuf_kb"))
        rbuf = (column["rbuf_bytes"], acc.options("rbuf_bytes"))
        self._log2: dict[str, tuple[int, np.ndarray]] = {
            key: (col, np.log2(np.asarray(values, dtype=np.float64)))
            for key, (col, values) in {"rows": rows, "cols": cols, "gbuf": gbuf, "rbuf": rbuf}.items()
        }
        # the categorical decisions whose choices interact with the work per PE and the spill: the dataflow (a
        # named one or a connectivity) and, where searched, the tiling's loop order
        flow = "dataflow" if "dataflow" in column else "connectivity"
        prefixes = {flow: "", "loop_order": "loop_order="}  # of their feature names
        interacting = {name: prefix for name, prefix in prefixes.items() if name in column}
        self._interacting = [(column[name], len(acc.options(name))) for name in interacting]
        # with a connectivity: the array shapes (a PE array choice, or a pair of row and column choices, flat index);
        # per connectivity choice which loop dimensions its rows and its columns unroll, and per operand whether it
        # is shared along each axis (depends on none of the axis's dimensions)
        self._connectivity = column.get("connectivity")
        if self._connectivity is not None:
            # a named dataflow among them: the dimensions of its (first) unrolling
            sides = [
                (NAMED[c][0].rows, NAMED[c][0].cols) if c in NAMED else parse_connectivity("connectivity", c)
                for c in acc.options("connectivity")
            ]
            self._unrolled = np.array([[[d in side for d in LOOP_DIMS] for side in pair] for pair in sides])
            self._shared = np.array(
                [[[not set(side) & dims for side in pair] for pair in sides] for dims in RELEVANT.values()]
            )
            self._shape_cols = (column["pe_array"],) if "pe_array" in column else (column["pe_rows"], column["pe_cols"])
            grid = (rows[1], cols[1]) if "pe_array" in column else np.meshgrid(rows[1], cols[1], indexing="ij")
            self._shapes = np.stack([g.reshape(-1) for g in grid], axis=1)  # (array shapes, 2): rows, cols
        self._offsets = np.concatenate([[0], np.cumsum(space.vocab_sizes)[:-1]])
        onehot = [f"{d.name}={c}" for d in space.decisions for c in d.choices]
        accel = ["log2_pe_rows", "log2_pe_cols", "log2_pes", "log2_gbuf_kb", "log2_rbuf_bytes", "log_spill_words"]
        if self._connectivity is not None:
            accel += ["log_compute_cycles", *(f"log_array_words[{operand}]" for operand in RELEVANT)]
        cells = [f"log_op_{stat}[{cell}]" for cell in CELL_TYPES for stat in ("macs", "params")]
        inter = []
        for name, prefix in interacting.items():
            inter += [f"{prefix}{c}*log_{g}_macs_per_pe" for c in acc.options(name) for g, _ in _WORK_GROUPS]
            inter += [f"{prefix}{c}*log_spill_words" for c in acc.options(name)]
        self.spec = FeatureSpec(tuple(onehot + self._geno_names + cells + accel + inter))

    # ----------------------------------------------------------------- per genotype

    def _genotype_feature_names(self) -> list[str]:
        names = []
        for stat in ("macs", "params", "layers", "fmap_words"):
            names += [f"log_{stat}[{k}]" for k in LAYER_KINDS]
        names += ["log_macs", "log_params", "log_fmap_words", "log_peak_fmap_words"]
        names += [f"concat[{cell}]" for cell in CELL_TYPES]
        if self.space.precision is not None:  # what precision scales: MAC energy, map and weight bits
            names += ["log_mac_energy", "log_fmap_bits", "log_param_bits"]
        return names

    def _layer_stats(self, layer: Layer) -> tuple[int, float, float, float, int]:
        """(kind index, MACs, params, input + output map words, index of its costs in ``_layer_tables`` or -1
        without a connectivity decision) of a shared layer shape, memoised by identity."""
        hit = self._layer_memo.get(id(layer))
        if hit is None:
            fmap = layer.N * (layer.C * layer.H * layer.W + layer.K * layer.out_h * layer.out_w)
            slot = -1
            if self._connectivity is not None:
                slot = len(self._layer_tables)
                self._layer_tables.append(self._layer_costs(layer))
            # the layer is kept alive with its stats, so its id cannot be reused while memoised
            hit = self._layer_memo[id(layer)] = (
                LAYER_KINDS.index(layer.kind),
                layer.macs,
                layer.params,
                fmap,
                slot,
                layer,
            )
        return hit[:5]  # type: ignore[return-value]

    def _layer_costs(self, layer: Layer) -> np.ndarray:
        """``(1 + operands, connectivities, array shapes)``: a layer's compute cycles (per group, the folds of the
        rows' and the columns' unrolled extents over the array, each the temporal steps plus a fill of rows +
        columns: the simulator's systolic model without its mapping search) and per operand of
        :data:`~yoso.hw.dataflow.RELEVANT` its words between the global buffer and the array (MACs over the PEs
        one word serves: those a fold uses along each axis the operand is shared along)."""
        g = layer.groups
        dims = np.array(
            [layer.K // g, layer.C // g, layer.N * layer.out_h, layer.out_w, layer.R, layer.S], dtype=np.float64
        )  # the extents of LOOP_DIMS per group
        spatial = np.where(self._unrolled, dims, 1.0).prod(-1)  # (connectivities, 2): rows', columns' extents
        steps = dims.prod() / spatial.prod(-1)
        folds = np.ceil(spatial[:, :, None] / self._shapes.T)  # (connectivities, 2, array shapes)
        cycles = g * folds.prod(1) * (steps[:, None] + self._shapes.sum(1))
        # (operands, connectivities, array shapes): the PEs a word serves, the mean a fold uses along a shared axis
        served = np.where(self._shared[..., None], spatial[:, :, None] / folds, 1.0).prod(2)
        return np.concatenate([cycles[None], g * dims.prod() / served])

    def _genotype_features(self, dnn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(derived features, spilled words per global-buffer choice, MACs per kind, the costs of
        :meth:`_layer_costs` summed over its layers: empty without a connectivity decision) of one genotype."""
        key = dnn.tobytes()
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        acc_zero = np.zeros(self.space.num_accel_decisions, dtype=np.int64)
        genotype, _ = self.space.decode(np.concatenate([dnn, acc_zero]))
        if len(self._layer_memo) > 1 << 16:
            self._layer_memo.clear()
            self._layer_tables.clear()
        layers = deployment_layers(genotype, self.deploy, names=False)
        stats = np.array([self._layer_stats(l) for l in layers])
        kind = stats[:, 0].astype(np.int64)
        macs, params, fmap = stats[:, 1], stats[:, 2], stats[:, 3]
        nk = len(LAYER_KINDS)
        kind_macs = np.bincount(kind, macs, nk)
        parts = [
            _log(kind_macs),
            _log(np.bincount(kind, params, nk)),
            _log(np.bincount(kind, minlength=nk)),
            _log(np.bincount(kind, fmap, nk)),
            _log([macs.sum(), params.sum(), fmap.sum(), fmap.max()]),
            np.array([len(genotype.concat(cell)) for cell in CELL_TYPES], dtype=np.float64),
        ]
        word = self.tech.word_bits
        bits = np.array([word if l.bits is None else l.bits for l in layers], dtype=np.float64)
        if self.space.precision is not None:
            mac_ratio = np.array([self.tech.mac_energy_ratio(int(b)) for b in bits])
            parts.append(_log([(macs * mac_ratio).sum(), (fmap * bits).sum() / word, (params * bits).sum() / word]))
        # feature-map words of the layers whose input + output maps exceed each global-buffer choice
        fmap_bytes = fmap * bits / 8
        spill = np.array([fmap[fmap_bytes > g].sum() for g in self._gbuf_bytes])
        costs = np.zeros(0)
        if self._connectivity is not None:  # each distinct (shared) layer shape once, times its count
            slots, count = np.unique(stats[:, 4].astype(np.int64), return_counts=True)
            costs = np.tensordot(count.astype(np.float64), np.stack([self._layer_tables[i] for i in slots]), 1)
        out = (np.concatenate(parts), spill, kind_macs, costs)
        self._cache[key] = out
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

    def _op_table(self) -> np.ndarray:
        """``(|ops|, 2)`` MACs and params of each cell op at the deploy's width and input resolution (stride 1)."""
        c, (_, h, w) = self.deploy.channels, self.deploy.input_shape
        rows = []
        for op in self.space.cells.ops:
            layers = op_layers(op, c, h, w, 1, self.deploy.batch)
            rows.append((sum(l.macs for l in layers), sum(l.params for l in layers)))
        return np.array(rows, dtype=np.float64)

    # ----------------------------------------------------------------- batch encoding

    def __call__(self, vectors: Any) -> np.ndarray:
        """Features of ``(n, D)`` encoded candidates (or one ``(D,)`` vector) as an ``(n, F)`` array."""
        x = self.space.check(vectors)
        n, nd = len(x), self.space.num_dnn_decisions
        if n == 0:
            return np.zeros((0, len(self.spec)))
        onehot = np.zeros((n, int(self.space.vocab_sizes.sum())))
        onehot[np.arange(n)[:, None], self._offsets + x] = 1.0
        dnn = np.ascontiguousarray(x[:, :nd])
        uniq, inverse = np.unique(dnn, axis=0, return_inverse=True)
        rows = [self._genotype_features(u) for u in uniq]
        inverse = inverse.reshape(-1)
        geno, spill_all, kind_macs = (np.stack([r[i] for r in rows])[inverse] for i in range(3))
        log2 = {key: table[x[:, col]] for key, (col, table) in self._log2.items()}
        log2_pes = log2["rows"] + log2["cols"]
        log_spill = _log(spill_all[np.arange(n), x[:, self._log2["gbuf"][0]]])
        accel_cols = [log2["rows"], log2["cols"], log2_pes, log2["gbuf"], log2["rbuf"], log_spill]
        if self._connectivity is not None:
            shape = np.ravel_multi_index(
                tuple(x[:, c] for c in self._shape_cols), tuple(self.space.vocab_sizes[list(self._shape_cols)])
            )
            costs = np.stack([r[3] for r in rows])  # per distinct genotype
            accel_cols += [_log(costs[inverse, k, x[:, self._connectivity], shape]) for k in range(costs.shape[1])]
        accel = np.stack(accel_cols, axis=1)
        # interactions: log MACs per PE of each kind group, and the spill, under the candidate's dataflow (loop order)
        groups = [[LAYER_KINDS.index(k) for k in kinds] for _, kinds in _WORK_GROUPS]
        per_pe = _log(np.stack([kind_macs[:, g].sum(1) for g in groups], axis=1)) - log2_pes[:, None] * np.log(2)
        inter = []
        for col, vocab in self._interacting:
            choice = np.eye(vocab)[x[:, col]]
            inter += [(choice[:, :, None] * per_pe[:, None, :]).reshape(n, -1), choice * log_spill[:, None]]
        cells = _log(np.concatenate([self._ops[x[:, cols]].sum(1) for cols in self._cell_op_cols], axis=1))
        out = np.concatenate([onehot, geno, cells, accel, *inter], axis=1)
        assert out.shape[1] == len(self.spec)
        return out
