"""A stand-alone accuracy predictor (issue 29): a genotype's features -> a GP on stand-alone accuracy.

Trained on the accuracy table (:mod:`yoso.bench`) and the runs' kept stand-alone results, it predicts the accuracy a
network reaches when trained stand-alone at the table's budget, with a predictive standard deviation, on the one GP
stack (:mod:`yoso.predictor.gp`). The features are few and dense, because a table holds hundreds of architectures,
not thousands: the macro's width and depth and the log of the network's multiply-accumulates and weights on the
deployment macro (its capacity), and each cell type's topology (how many edges read each cell input, how many
nodes its output concatenates: wide, shallow cells train better at the table's budget); optionally each cell type's
op counts and the HyperNet's accuracy (``benchmarks/bench_accuracy.py`` measures each choice on held-out
architectures).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yoso.bench.table import (
    DEFAULT_TABLE,
    BenchRecord,
    BenchTable,
    architecture_id,
    jsonl_line,
    load_table,
    merge_rows,
    read_jsonl,
    table_names,
)
from yoso.cache import atomic_path
from yoso.config import ConfigError, check_bool, check_int
from yoso.hw.layers import Deploy, count_params, deployment_layers
from yoso.predictor.gp import fit_gp, make_gp, predict_gp
from yoso.space.genotype import CELL_TYPES, NUM_STAGES, Genotype

log = logging.getLogger("yoso")


#: A cell's topology features: its edges from the cell's two inputs (c_{k-2}, c_{k-1}) and its output's node count.
TOPOLOGY = ("from_input0", "from_input1", "concat")


def cell_topology(genotype: Genotype, cell: str) -> tuple[int, int, int]:
    """How wide and shallow ``cell`` is: edges reading each cell input, and the nodes concatenated at its output."""
    inputs = [node for _, node in genotype.edges(cell)]
    return inputs.count(0), inputs.count(1), len(genotype.concat(cell))


@dataclass(frozen=True)
class AccuracyFeatures:
    """``features(genotypes) -> (n, d)``: op counts per cell type (``ops`` order; none if ``ops`` is empty), each
    cell type's topology (if ``topology``), width, depth, and the log of the network's multiply-accumulates and
    weights on the deployment macro (its capacity)."""

    ops: tuple[str, ...] = ()
    topology: bool = False
    deploy: Deploy = Deploy()
    #: each stage's quantisation step, 2^-bits (0 unquantised): the rounding noise a precision space adds
    precision: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        counts = tuple(f"{cell}.{op}" for cell in CELL_TYPES for op in self.ops)
        shape = tuple(f"{cell}.{name}" for cell in CELL_TYPES for name in TOPOLOGY) if self.topology else ()
        steps = tuple(f"stage{s}.step" for s in range(NUM_STAGES)) if self.precision else ()
        return (*counts, *shape, "width", "depth", "log_macs", "log_params", *steps)

    def __call__(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        rows = []
        for g in genotypes:
            counts = [sum(op == name for op, _ in g.edges(cell)) for cell in CELL_TYPES for name in self.ops]
            shape = [n for cell in CELL_TYPES for n in cell_topology(g, cell)] if self.topology else []
            layers = deployment_layers(g, self.deploy, names=False)
            macs, params = sum(layer.macs for layer in layers), count_params(layers)
            steps = (
                [0.0 if b is None else 2.0**-b for b in map(g.stage_bits, range(NUM_STAGES))] if self.precision else []
            )
            rows.append([*counts, *shape, g.width, g.depth, np.log(max(macs, 1)), np.log(max(params, 1)), *steps])
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(self.names))


class AccuracyPredictor:
    """A GP (botorch's ``SingleTaskGP``, normalised inputs, standardised outcome) on stand-alone accuracy.

    With ``calibration_folds`` its predictive std is scaled so that its 95 % intervals hold 95 % of the training
    points' cross-validated errors (split conformal calibration over ``calibration_folds`` folds of the training
    set alone): the GP's own noise model is fitted to the labels' seed noise, not to what its inputs miss.
    """

    def __init__(self, features: AccuracyFeatures, iterations: int = 200, seed: int = 0, calibration_folds: int = 0):
        self.features, self.iterations, self.seed = features, iterations, seed
        self.calibration_folds = calibration_folds
        self.model: Any = None  # a fitted botorch SingleTaskGP
        self.std_scale = 1.0  # the calibration's factor on the predictive std

    def fit(
        self, genotypes: Sequence[Genotype], accuracy: Sequence[float], extra: np.ndarray | None = None
    ) -> AccuracyPredictor:
        """Fit on ``genotypes`` and their stand-alone ``accuracy``; ``extra``: more feature columns (e.g. HyperNet
        accuracy), the same at prediction."""
        return self.fit_features(self._inputs(genotypes, extra), accuracy)

    def fit_features(
        self, x: np.ndarray, accuracy: Sequence[float], calibrate_on: np.ndarray | None = None
    ) -> AccuracyPredictor:
        """Fit on a feature matrix ``(n, d)`` (e.g. a subset of :class:`AccuracyFeatures`' columns); the
        calibration's folds split the rows of ``calibrate_on`` (a boolean mask; all rows by default), the others
        always train: the points like those to be predicted."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
        target = np.ones(len(y), bool) if calibrate_on is None else np.asarray(calibrate_on, bool)
        self.model = self._gp(x, y)
        if self.calibration_folds >= 2 and target.sum() >= 2 * self.calibration_folds:
            self.std_scale = self._calibration(x, y, target)
        return self

    def _gp(self, x: np.ndarray, y: np.ndarray) -> Any:
        gp = make_gp(torch.as_tensor(x), torch.as_tensor(y[:, None]), normalize=True)
        return fit_gp(gp, self.iterations, seed=self.seed)

    def _calibration(self, x: np.ndarray, y: np.ndarray, target: np.ndarray) -> float:
        """The factor that makes 1.96 scaled stds cover the conformal 95 % quantile of the ``target`` training
        points' cross-validated standardised errors."""
        rows = np.flatnonzero(target)
        folds = np.full(len(y), -1)
        folds[rows] = np.random.default_rng(self.seed).permutation(len(rows)) % self.calibration_folds
        scores = np.empty(len(y))
        for k in range(self.calibration_folds):
            held = folds == k
            mean, std = predict_gp(self._gp(x[~held], y[~held]), x[held], return_std=True)
            assert std is not None
            scores[held] = np.abs(y[held] - mean[:, 0]) / std[:, 0]
        n = len(rows)
        level = min(1.0, np.ceil(0.95 * (n + 1)) / n)  # the finite-sample conformal quantile
        return float(np.quantile(scores[rows], level) / 1.96)

    def predict(self, genotypes: Sequence[Genotype], extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted stand-alone accuracy and its standard deviation (observation noise included), each ``(n,)``."""
        return self.predict_features(self._inputs(genotypes, extra))

    def predict_features(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.model is None:
            raise RuntimeError("AccuracyPredictor.predict before fit")
        mean, std = predict_gp(self.model, x, return_std=True)
        assert std is not None
        return mean[:, 0], std[:, 0] * self.std_scale

    def _inputs(self, genotypes: Sequence[Genotype], extra: np.ndarray | None) -> np.ndarray:
        x = self.features(genotypes)
        return x if extra is None else np.column_stack([x, np.asarray(extra, dtype=np.float64)])


class TwoBudgetPredictor:
    """Long-budget stand-alone accuracy from both budgets' tables: one GP whose last input is the budget (0 short,
    1 long), fitted on every short-budget and long-budget record and queried at the long budget, so the many cheap
    short-budget runs carry what the few long ones share with them and the long ones what the budget changes (how
    depth pays off). Its intervals are calibrated on the long-budget records' cross-validated errors alone."""

    def __init__(self, predictor: AccuracyPredictor):
        self.predictor = predictor

    def fit(self, short: Sequence[BenchRecord], long: Sequence[BenchRecord]) -> TwoBudgetPredictor:
        records = [*short, *long]
        budget = np.repeat([0.0, 1.0], [len(short), len(long)])
        x = self.predictor._inputs([r.genotype for r in records], budget[:, None])
        self.predictor.fit_features(x, [r.val_accuracy for r in records], calibrate_on=budget == 1.0)
        return self

    def predict(self, genotypes: Sequence[Genotype]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted long-budget accuracy of ``genotypes`` and its standard deviation, each ``(n,)``."""
        return self.predictor.predict(genotypes, np.ones((len(genotypes), 1)))


def two_budget_predictor(
    features: AccuracyFeatures,
    short: Sequence[BenchRecord],
    long: Sequence[BenchRecord],
    iterations: int = 200,
    seed: int = 0,
    calibration_folds: int = 5,
) -> TwoBudgetPredictor:
    """A :class:`TwoBudgetPredictor` fitted on ``short`` and ``long`` budget records."""
    return TwoBudgetPredictor(AccuracyPredictor(features, iterations, seed, calibration_folds)).fit(short, long)


#: The predictors this process has fitted, by (training set digest, settings): runs of one process share them.
_FITTED: dict[tuple[str, tuple[Any, ...]], AccuracyPredictor | TwoBudgetPredictor] = {}


def _named_table(name: str, key: str) -> BenchTable:
    """The accuracy table ``name`` of config key ``key`` (a ConfigError naming the shipped ones when there is none)."""
    try:
        return load_table(name)
    except ValueError as err:
        raise ConfigError(key, name, f"a shipped table {table_names()} or a .json.gz path") from err


class PredictedAccuracy:
    """``accuracy_model=predictor``: predicted stand-alone accuracy of encoded candidates of ``space``, from an
    :class:`AccuracyPredictor` fitted on an accuracy table's architectures plus every stand-alone result the runs
    kept for the table's config (``<results>/<table key>.jsonl``, :attr:`yoso.app.run.Run.results_dir`).

    :meth:`pin` fixes the training set of a run: the first build writes it to the run directory and a resumed run
    fits on that file, so results other runs add meanwhile never change a search halfway.
    """

    name = "predictor"

    def __init__(
        self,
        space: Any,
        table: str = DEFAULT_TABLE,
        results: str | None = None,
        long_table: str | None = None,
        unquantised_table: str | None = None,
        op_counts: bool = False,
        topology: bool = True,
        calibration_folds: int = 5,
        iterations: int = 200,
        seed: int = 0,
    ):
        if not isinstance(table, str) or not table:
            raise ConfigError("accuracy_model.table", table, "a shipped table's name or a .json.gz path")
        for key, value in (("long_table", long_table), ("unquantised_table", unquantised_table)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"accuracy_model.{key}", value, "null, a shipped table's name or a .json.gz path")
        self.space, self.table, self.long_table = space, table, long_table
        self.unquantised_table = unquantised_table
        self.results = None if results is None else Path(results)
        self.op_counts = check_bool("accuracy_model.op_counts", op_counts)
        self.topology = check_bool("accuracy_model.topology", topology)
        self.calibration_folds = check_int("accuracy_model.calibration_folds", calibration_folds, 0)
        if self.calibration_folds == 1:
            raise ConfigError("accuracy_model.calibration_folds", 1, "0 (no calibration) or at least 2 folds")
        self.iterations = check_int("accuracy_model.iterations", iterations, 0)
        self.seed = check_int("accuracy_model.seed", seed, 0, 2**32 - 1)
        self._pinned: Path | None = None
        self._base: BenchTable | None = None
        self._training: list[BenchTable] | None = None
        self._predictor: AccuracyPredictor | TwoBudgetPredictor | None = None

    def pin(self, path: str | Path) -> None:
        """Fit on the build lines in ``path`` if it exists, else on the tables and the results, written there first."""
        self._pinned = Path(path)

    @property
    def base_table(self) -> BenchTable:
        """The accuracy table named by ``table`` (a ConfigError naming the shipped ones when there is none)."""
        if self._base is None:
            self._base = _named_table(self.table, "accuracy_model.table")
        return self._base

    @property
    def training_tables(self) -> list[BenchTable]:
        """What the predictor fits on: the table (and the long-budget one), each plus the runs' results of its config
        hash, or the lines of the pinned file."""
        if self._training is None:
            bases = [self.base_table]
            if self.long_table is not None:
                bases.append(_named_table(self.long_table, "accuracy_model.long_table"))
            if self.unquantised_table is not None:
                bases.append(_named_table(self.unquantised_table, "accuracy_model.unquantised_table"))
            pinned = self._pinned if self._pinned is not None and self._pinned.is_file() else None
            lines = list(read_jsonl(pinned)) if pinned is not None else None
            tables = []
            for base in bases:
                if lines is not None:
                    tables.append(merge_rows(base.name, base.key, base.config, lines))
                else:
                    extra = read_jsonl(self.results / f"{base.key}.jsonl") if self.results is not None else iter(())
                    tables.append(base.extended(extra))
                added = len(tables[-1]) - len(base)
                log.info(
                    "accuracy predictor: %d architectures of table %s (config %s)%s",
                    len(tables[-1]),
                    base.name,
                    base.key,
                    f", {added} of them from runs' stand-alone results" if added else "",
                )
            if self._pinned is not None and lines is None:
                with atomic_path(self._pinned) as tmp:
                    tmp.write_text("".join(jsonl_line(line) for table in tables for line in table.lines()))
            self._training = tables
        return self._training

    @property
    def training_table(self) -> BenchTable:
        """The table of the run's budget and the runs' results of its config (the rows the final step adds to)."""
        return self.training_tables[0]

    @property
    def predictor(self) -> AccuracyPredictor | TwoBudgetPredictor:
        """The fitted GP (with ``long_table``: on both budgets, queried at the long one); one fit per process for one
        training set and settings (the fit is deterministic)."""
        if self._predictor is None:
            from yoso.space.ops import YOSO_OPS

            tables = self.training_tables
            quantised = getattr(self.space, "precision", None) is not None
            settings = (self.op_counts, self.topology, self.calibration_folds, self.iterations, self.seed, quantised)
            lines = "".join(jsonl_line(line) for table in tables for line in table.lines())
            key = (hashlib.sha256(lines.encode()).hexdigest(), settings)
            if key not in _FITTED:
                features = AccuracyFeatures(YOSO_OPS if self.op_counts else (), self.topology, precision=quantised)
                fit = (self.iterations, self.seed, self.calibration_folds)
                short, *others = [list(table.records().values()) for table in tables]
                if self.unquantised_table is not None:  # its networks at the technology's word: step 0
                    short += others.pop()
                if others:
                    _FITTED[key] = two_budget_predictor(features, short, others[0], *fit)
                else:
                    _FITTED[key] = AccuracyPredictor(features, *fit).fit(
                        [r.genotype for r in short], [r.val_accuracy for r in short]
                    )
            self._predictor = _FITTED[key]
        return self._predictor

    def genotypes(self, vectors: Any) -> list[Genotype]:
        return [g for g, _ in self.space.decode_many(np.atleast_2d(np.asarray(vectors)))]

    def __call__(self, vectors: Any) -> np.ndarray:
        """Predicted stand-alone accuracy of each candidate ``(n,)``."""
        return self.predict(vectors)[0]

    def predict(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predicted stand-alone accuracy of each candidate (at the long budget with ``long_table``) and its
        predictive standard deviation, each ``(n,)``."""
        return self.predictor.predict(self.genotypes(vectors))


class TabularAccuracy(PredictedAccuracy):
    """``accuracy_model=table`` (tabular mode, as NAS-Bench users expect): a candidate the table (or a run) trained
    gets its measured stand-alone accuracy and the Wilson interval's width as its std; any other one the predictor's
    (a surrogate benchmark, as NAS-Bench-301: the space is too large to tabulate). ``looked_up`` counts the hits."""

    name = "table"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.long_table is not None:  # its measured rows are of the table's budget, not of the long one
            raise ConfigError(
                "accuracy_model.long_table", self.long_table, "null in tabular mode (accuracy_model=table)"
            )
        self.looked_up = self.predicted = 0
        self._by_arch: dict[str, BenchRecord] | None = None

    def predict(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        genotypes = self.genotypes(vectors)
        records = self._records()
        hits = [records.get(architecture_id(g)) for g in genotypes]
        missing = [i for i, r in enumerate(hits) if r is None]
        mean, std = np.empty(len(genotypes)), np.empty(len(genotypes))
        if missing:
            mean[missing], std[missing] = self.predictor.predict([genotypes[i] for i in missing])
        for i, record in enumerate(hits):
            if record is not None:
                mean[i], std[i] = record.val_accuracy, (record.val_ci95[1] - record.val_ci95[0]) / (2 * 1.96)
        self.looked_up += len(hits) - len(missing)
        self.predicted += len(missing)
        return mean, std

    def _records(self) -> dict[str, BenchRecord]:
        if self._by_arch is None:
            self._by_arch = self.training_table.records()
        return self._by_arch
