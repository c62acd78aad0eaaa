"""The run: the composed config validated once and built into one typed :class:`Run` (docs/architecture.md §2).

:func:`validate_config` checks every value of the groups a config holds (the first bad one raises a
ConfigError naming key, value and what is allowed) and returns the :class:`Run`: the spaces, the
hardware setup and target, the reward and constraints, the strategy and search settings, the
factories of the cost models, the reference cost, the DataModule, the HyperNet and the Trainers,
and the cache keys. Everything below :mod:`yoso.app` gets what it needs from the Run, never the
config: the config's nodes are read here and nowhere else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from yoso.cache import digest, get_or_build
from yoso.config import ConfigError, build, check_int, plain_groups, required
from yoso.hw.fpga import Board
from yoso.hw.layers import Deploy
from yoso.hw.tech import hw_tech
from yoso.predictor.cost import CostModel, HwSetup, ReferenceCostModel, build_cost_model, reference_cost
from yoso.predictor.settings import PredictorConfig
from yoso.search.constraints import Constraints
from yoso.search.reward import Reward
from yoso.search.settings import SearchSettings
from yoso.search.strategy import BaseStrategy, build_strategy
from yoso.space.accelerator import AcceleratorSpace
from yoso.space.joint import PRECISION_KEYS, CellSpace, JointSpace

log = logging.getLogger("yoso.search")

#: Data keys a stand-alone accuracy does not depend on (loading, seeding: the seed is each result's own).
DATA_KEYS_UNHASHED = ("num_workers", "seed", "root", "download")
#: ``accuracy_model.name`` of the default: the predictor when its table matches the run, else the HyperNet.
AUTO = "auto"
T = TypeVar("T")

#: The validated config groups, and what each entry point needs.
GROUPS = ("space", "accelerator", "reward", "constraints", "hw", "cost_model", "strategy", "search", "data", "model")
SEARCH_GROUPS = GROUPS
TRAIN_GROUPS = ("space", "accelerator", "data", "model")
#: The groups of a run that only costs hardware (Table 2, the predictor comparison): nothing trains.
HARDWARE_GROUPS = ("space", "accelerator", "hw", "target", "reference_cost", "seed")
#: Bumped when HyperNet training changes in a way the config does not show.
HYPERNET_VERSION = 2  # 2: elastic width/depth and sandwich training
#: Trainer keys that change what a trained network learns or scores (others, e.g. the progress bar, do not).
TRAINER_KEYS = (
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "max_steps",
    "precision",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "deterministic",
)
#: ``model`` keys that change how a trained HyperNet is evaluated (or the stand-alone networks), not its weights.
EVALUATION_KEYS = ("_target_", "standalone", "bn_recalibration_batches")

#: ``genotype -> (val accuracy, test accuracy, val images, test images)``: stand-alone training.
StandaloneTrainer = Callable[[Any], tuple[float, float, int, int]]


@dataclass(frozen=True, eq=False)
class Run:
    """One run, validated and built: what every stage below the entry points works from (None: group absent).

    ``groups`` holds the validated groups as plain resolved data (the hyperparameters a logger records, what the
    cache keys hash). The factories build lazily and once: a test or benchmark that only needs the space pays
    for nothing else.
    """

    seed: int
    groups: dict[str, Any]
    cells: CellSpace | None = None
    space: JointSpace | None = None
    hw: HwSetup | None = None
    board: Board | None = None  # the FPGA board of the ``target`` group (None: the ASIC of ``hw.tech``)
    reward: Reward | None = None
    constraints: Constraints | None = None
    strategy: BaseStrategy | None = None
    search: SearchSettings | None = None
    _cfg: Any = field(default=None, repr=False)  # the composed config: its run-time nodes (trainer, paths, ...)
    _built: dict[str, Any] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- plain nodes

    def group(self, name: str) -> dict[str, Any]:
        """The validated ``name`` group as plain data; a ConfigError when the config lacks it."""
        node = self.groups.get(name)
        if not isinstance(node, Mapping):
            raise ConfigError(name, node, f"a '{name}' config group (a mapping)")
        return dict(node)

    def _node(self, name: str) -> Any:
        """A run-time node (trainer, callbacks, logger) as composed: Hydra resolves it when it instantiates it,
        once the run directory exists (empty: the config lacks it)."""
        node = self._cfg.get(name) if self._cfg is not None else None
        return node if node is not None else {}

    def _once(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._built:
            self._built[name] = make()
        return self._built[name]

    @property
    def output_dir(self) -> Path:
        """The run directory (Hydra's ``paths.output_dir``)."""
        return Path(self._cfg.paths.output_dir)

    @property
    def cache_dir(self) -> Path:
        return Path(self._cfg.paths.cache_dir)

    # ----------------------------------------------------------------- cost models

    def cost_model(self, kind: str | None = None, **options: Any) -> CostModel:
        """The ``cost_model`` group's model (``kind``: a name of :data:`~yoso.predictor.cost.COST_MODELS` instead),
        on the run's hardware setup and target; built lazily."""
        return build_cost_model(self.group("cost_model") if kind is None else kind, present(self.hw, "hw"), **options)

    def reference_cost(self) -> ReferenceCostModel:
        """The ``reference_cost`` group's model wrapped by the target: the final figures' only source."""
        return self._once("reference_cost", lambda: reference_cost(present(self.hw, "hw")))

    def accuracy_model(self) -> Any:
        """The ``accuracy_model`` group's model (``vectors -> accuracy``), built once; None for the HyperNet's
        accuracy (``accuracy_model=hypernet``, or ``auto`` without a table of this run's stand-alone config), which
        :meth:`hypernet` gives. A ``predictor`` or ``table`` whose table was built for another stand-alone config
        (:attr:`standalone_key`) is a ConfigError: it would rank candidates by another data set's or budget's accuracy."""
        node = self.groups.get("accuracy_model")
        if node is None or node.get("name") == "hypernet":
            return None
        return self._once("accuracy_model", lambda: self._matched_accuracy_model(node))

    def _matched_accuracy_model(self, node: Mapping[str, Any]) -> Any:
        space = present(self.space, "space")
        if space.precision is not None:  # the same networks at the technology's word also train the predictor
            node = {**node, "unquantised_table": self._unquantised_table(node)}
        model = _build_accuracy_model(node, space, self.results_dir)
        table, key = model.base_table, self.standalone_key
        if table.key == key:
            return model
        if node.get("name") == AUTO:
            shipped = _shipped_table_of(key)  # another shipped table of this run's config (e.g. the precision space's)
            if shipped is not None:
                log.info("accuracy: the predictor on table %s, built for this run's stand-alone config", shipped)
                return _build_accuracy_model({**node, "table": shipped}, space, self.results_dir)
            log.info(
                "accuracy: the HyperNet's (accuracy_model=auto): table %s holds stand-alone config %s, this run's "
                "is %s; `python bench.py` with this run's data, model and space overrides builds its table",
                table.name,
                table.key,
                key,
            )
            return None
        raise ConfigError(
            "accuracy_model.table",
            node.get("table"),
            f"a table of this run's stand-alone config {key} (it holds {table.key}: another data set, budget or "
            "space); build one with `python bench.py` and this run's overrides, or use accuracy_model=hypernet",
        )

    def _unquantised_table(self, node: Mapping[str, Any]) -> str | None:
        """A precision space's second table: ``unquantised_table`` if set (a ConfigError unless it was built for this
        run's config without precision, :attr:`unquantised_key`), else the shipped table of that config if any."""
        key, name = self.unquantised_key, node.get("unquantised_table")
        if name is None:
            return _shipped_table_of(key)
        from yoso.predictor.accuracy import _named_table

        found = _named_table(str(name), "accuracy_model.unquantised_table").key
        if found != key:
            raise ConfigError(
                "accuracy_model.unquantised_table",
                name,
                f"a table of this run's stand-alone config without precision, {key} (it holds {found})",
            )
        return str(name)

    @property
    def unquantised_key(self) -> str:
        """:attr:`standalone_key` of the same run in its space without precision decisions: the key of a table of
        the same networks at the technology's word."""
        config = self.standalone_config()
        config["space"] = {k: v for k, v in config["space"].items() if k not in PRECISION_KEYS}
        return digest(config)

    @property
    def results_dir(self) -> Path:
        """Where every run's stand-alone results are kept (``<cache_dir>/accuracy/<standalone_key>.jsonl``, lines of
        an accuracy table's build): an accuracy predictor trains on them beside its table."""
        return self.cache_dir / "accuracy"

    def standalone_config(self) -> dict[str, Any]:
        """What a stand-alone accuracy of this run's space depends on but the seed (hashed: :attr:`standalone_key`):
        the data (split sizes, resolution; not where its files are or how they got there), ``model.standalone``, the
        trainer's limits and the space."""
        from yoso.nn.modules import macro_cells

        data = {k: v for k, v in self.group("data").items() if k not in DATA_KEYS_UNHASHED}
        standalone = dict(self.group("model")["standalone"])
        standalone["macro_cells"] = macro_cells(self.groups.get("space"), standalone["cells"])
        trainer = {k: self.groups.get("trainer", {}).get(k) for k in TRAINER_KEYS}
        return {"data": data, "standalone": standalone, "trainer": trainer, "space": self.group("space")}

    @property
    def standalone_key(self) -> str:
        """The hash of :meth:`standalone_config`: an accuracy table's ``key``, and the name of the run's results file."""
        return digest(self.standalone_config())

    # ----------------------------------------------------------------- training

    def datamodule(self) -> Any:
        """The run's DataModule, set up for fitting (built once)."""

        def make() -> Any:
            import hydra

            datamodule = hydra.utils.instantiate(self.group("data"))
            datamodule.setup("fit")
            return datamodule

        return self._once("datamodule", make)

    def loggers(self) -> list[Any]:
        """The ``logger`` group's loggers (built once; none: an empty list)."""
        from yoso.app.cli import instantiate_group

        return self._once("loggers", lambda: instantiate_group(self._node("logger")))

    def trainer(
        self,
        epochs: int,
        callbacks: Sequence[Any] = (),
        *,
        root: Path | None = None,
        loggers: list[Any] | None = None,
        **overrides: Any,
    ) -> Any:
        """A Lightning Trainer of the ``trainer`` group for ``epochs``, in ``root`` (default: the run directory),
        logging to ``loggers`` (default: the run's; ``[]``: none), with the ``callbacks`` group's progress bar when
        ``trainer.enable_progress_bar`` is on.

        The search's own Trainer logs to the run's loggers; the HyperNet (cached across runs) and the top-N
        stand-alone trainings (one Trainer each, every one restarting at step 0) get none.
        """
        import hydra
        from pytorch_lightning.callbacks import Checkpoint

        node = self._node("trainer")
        callbacks = list(callbacks)
        bar = self._node("callbacks").get("rich_progress_bar")
        if node.get("enable_progress_bar", True) and bar is not None:
            callbacks.append(hydra.utils.instantiate(bar))
        return hydra.utils.instantiate(
            node,
            max_epochs=epochs,
            default_root_dir=str(root or self.output_dir),
            logger=(self.loggers() if loggers is None else loggers) or False,
            callbacks=callbacks,
            **overrides,
            enable_checkpointing=any(isinstance(c, Checkpoint) for c in callbacks),
        )

    def callbacks(self) -> list[Any]:
        """The ``callbacks`` group's callbacks but the progress bar, which :meth:`trainer` adds when enabled."""
        from yoso.app.cli import instantiate_group

        return instantiate_group({k: v for k, v in self._node("callbacks").items() if k != "rich_progress_bar"})

    def epoch_checkpoint(self, folder: Path) -> Any:
        """conf/callbacks/model_checkpoint.yaml writing ``folder/last.ckpt`` after every epoch (resumable)."""
        import hydra

        return hydra.utils.instantiate(self._cfg.callbacks.model_checkpoint, dirpath=str(folder))

    def device(self) -> Any:
        """The torch device of the ``trainer`` group's accelerator (a GPU when asked for and present)."""
        import torch

        wants_gpu = str(self.groups.get("trainer", {}).get("accelerator", "auto")) in ("auto", "gpu", "cuda")
        return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")

    # ----------------------------------------------------------------- the HyperNet and stand-alone training

    @property
    def hypernet_key(self) -> str:
        """Hash of everything the HyperNet's weights depend on: data, space, model, seed, trainer limits.

        Not the accelerator group: each training step's path is drawn as one vector whose DNN decisions come
        first, so they are the same for every accelerator space (``accelerator=naas``, an FPGA board's), and
        one HyperNet serves them all (:meth:`hypernet` gives it the run's accelerator space).
        """
        parts: dict[str, Any] = {k: self.groups[k] for k in ("space", "seed") if k in self.groups}
        parts["data"] = {k: v for k, v in self.group("data").items() if k != "num_workers"}
        parts["model"] = {k: v for k, v in self.group("model").items() if k not in EVALUATION_KEYS}
        parts["trainer"] = {k: self.groups.get("trainer", {}).get(k) for k in TRAINER_KEYS}
        return digest({**parts, "version": HYPERNET_VERSION})

    def supernet_module(self) -> Any:
        """A fresh (untrained) HyperNet module of the ``model`` group."""
        from yoso.nn import SupernetModule

        g = self.groups
        return SupernetModule.from_groups(g["model"], g["space"], g["accelerator"], g["data"], self.seed)

    def hypernet(self) -> Any:
        """The HyperNet of this run (a ``SupernetModule``, built once): loaded from the cache, else trained
        (resuming an interrupted training) and cached.

        Its folder ``paths.cache_dir/hypernets/<hypernet_key>`` holds ``hypernet.ckpt`` and, while it
        trains, the resumable ``last.ckpt``; parallel sweep jobs train it once (the cache's file lock).
        """
        return self._once("hypernet", self._load_or_train_hypernet)

    def _load_or_train_hypernet(self) -> Any:
        from yoso.nn import SupernetModule

        root = self.cache_dir / "hypernets" / self.hypernet_key
        model_node = self.group("model")

        def load(path: Path) -> SupernetModule:
            log.info("reusing the HyperNet %s", path)
            model = SupernetModule.load_from_checkpoint(
                path, map_location="cpu", weights_only=True, accelerator=self.group("accelerator")
            )  # the run's accelerator space, which the weights do not depend on
            model.hparams.bn_recalibration_batches = int(model_node["bn_recalibration_batches"])
            return model

        def train() -> SupernetModule:
            last = root / "last.ckpt"
            epochs = int(model_node["epochs"])
            log.info(
                "training the HyperNet (%d epochs) into %s%s", epochs, root, " (resuming)" if last.is_file() else ""
            )
            start = time.perf_counter()
            model = self.supernet_module()
            every = int(model_node.get("val_every_n_epochs") or 1)  # validated at start-up (module_arguments)
            trainer = self.trainer(
                epochs, [self.epoch_checkpoint(root)], root=root, loggers=[], check_val_every_n_epoch=every
            )
            datamodule = self.datamodule()
            trainer.fit(
                model, datamodule=datamodule, ckpt_path=str(last) if last.is_file() else None, weights_only=True
            )
            log.info(
                "HyperNet trained in %.1f s (val/acc_mean %.4f)",
                time.perf_counter() - start,
                float(trainer.callback_metrics.get("val/acc_mean", float("nan"))),
            )
            return model

        return get_or_build(
            root / "hypernet.ckpt",
            train,
            load,
            lambda model, path: model.trainer.save_checkpoint(path, weights_only=True),
        )

    def standalone_trainer(self, root: Path, keep: bool = False) -> StandaloneTrainer:
        """``genotype -> (val accuracy, test accuracy, val images, test images)``: stand-alone training at
        ``model.standalone`` in ``root``. The image counts are those the trainer evaluated
        (``limit_val_batches``/``limit_test_batches`` apply). ``keep``: each result is also appended to the runs'
        results (:attr:`results_dir`), where an accuracy predictor of this config finds it."""
        import pytorch_lightning as pl

        from yoso.nn import ChildModule

        standalone, data, space = self.group("model")["standalone"], self.group("data"), self.groups.get("space")
        epochs = int(standalone["epochs"])

        def train(genotype: Any) -> tuple[float, float, int, int]:
            datamodule = self.datamodule()
            pl.seed_everything(self.seed, workers=True, verbose=False)
            model = ChildModule.from_groups(standalone, data, space, genotype)  # the space: an elastic macro
            # no validation while fitting: the trained network is validated (and tested) once below
            trainer = self.trainer(
                epochs, root=root, loggers=[], check_val_every_n_epoch=epochs + 1, num_sanity_val_steps=0
            )
            trainer.fit(model, datamodule=datamodule)
            val = float(trainer.validate(model, datamodule=datamodule, verbose=False)[0]["val/acc"])
            val_n = evaluated_images(trainer.num_val_batches, len(datamodule.splits.val), datamodule.batch_size)
            test = float(trainer.test(model, datamodule=datamodule, verbose=False)[0]["test/acc"])
            test_n = evaluated_images(trainer.num_test_batches, len(datamodule.splits.test), datamodule.batch_size)
            return val, test, val_n, test_n

        return self._kept(train) if keep else train

    def _kept(self, train: StandaloneTrainer) -> StandaloneTrainer:
        """``train``, each result appended to ``<results_dir>/<standalone_key>.jsonl`` (a build line, index -1)."""
        from yoso.bench.table import TableRow, append_jsonl, architecture_id, row_record

        key = self.standalone_key
        path = self.results_dir / f"{key}.jsonl"

        def kept(genotype: Any) -> tuple[float, float, int, int]:
            start = time.perf_counter()
            val, test, val_n, test_n = train(genotype)
            seconds = round(time.perf_counter() - start, 2)
            row = TableRow(architecture_id(genotype), -1, self.seed, val, test, val_n, test_n, seconds)
            append_jsonl(path, row_record(genotype.to_dict(), row, key))
            return val, test, val_n, test_n

        return kept

    # ----------------------------------------------------------------- the search's identity

    @property
    def fingerprint(self) -> dict[str, Any]:
        """What a resumed search must share with the run it continues (iterations and top-N may change)."""
        g = self.groups
        parts = {k: g[k] for k in ("space", "accelerator", "reward", "strategy", "seed", "target") if k in g}
        if g.get("constraints") is not None:
            parts["constraints"] = g["constraints"]
        hw = dict(g["hw"])
        hw["predictor"] = {k: v for k, v in hw["predictor"].items() if k not in ("n_jobs", "cache_dir")}
        race = g["search"].get("race")
        model = self.accuracy_model()
        return {
            **parts,
            "hw": digest(hw),
            "reference_cost": g.get("reference_cost"),
            **({"accuracy_model": {**g["accuracy_model"], "name": model.name}} if model is not None else {}),
            "hypernet": self.hypernet_key,
            "race": race,
        }


def present(value: T | None, group: str) -> T:
    """``value``, the piece a run built from config group ``group``; a ConfigError when the config lacks it."""
    if value is None:
        raise ConfigError(group, None, f"a '{group}' config group")
    return value


def _shipped_table_of(key: str) -> str | None:
    """The name of a shipped accuracy table built for stand-alone config ``key`` (None: none is)."""
    from yoso.bench import load_table, table_names

    return next((name for name in table_names() if load_table(name).key == key), None)


def _build_accuracy_model(node: Mapping[str, Any], space: JointSpace, results: Path | None = None) -> Any:
    """The model an ``accuracy_model`` node names by ``_target_`` (none for ``name: hypernet``), built with the space
    and the folder of the runs' stand-alone results."""
    if node.get("name") == "hypernet":
        return None
    if not node.get("_target_"):
        raise ConfigError("accuracy_model._target_", None, "a class building vectors -> accuracy, or name: hypernet")
    kept = {} if results is None else {"results": str(results)}
    return build({k: v for k, v in node.items() if k != "name"}, "accuracy_model", space=space, **kept)


def evaluated_images(batches: Any, size: int, batch_size: int) -> int:
    """Images an ordered evaluation loop saw: ``batches`` (``trainer.num_val_batches``) of ``batch_size``, at most ``size``."""
    return int(min(size, sum(batches) * batch_size))


def _group(cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A config group resolved to plain Python containers; a ConfigError if it is not a mapping."""
    node = plain_groups(cfg, name).get(name)
    if not isinstance(node, Mapping):
        raise ConfigError(name, node, f"a '{name}' config group (a mapping)")
    return dict(node)


def _check_data(node: Mapping[str, Any]) -> None:
    """Build the DataModule (its constructor checks every value; nothing is loaded) and insist its files are there."""
    datamodule = build(node, "data")
    if datamodule.name == "fashion_mnist" and not datamodule.download:
        from yoso.data.fashion_mnist import check_root

        check_root(datamodule.root)  # the files are there before any work (exit 2 otherwise)


def validate_config(cfg: Mapping[str, Any], require: tuple[str, ...] = ()) -> Run:
    """The :class:`Run` of a composed config: every value of the groups it holds checked (and those in
    ``require`` insisted on), every piece built. The first bad value raises a ConfigError naming key, value and
    what is allowed.
    """
    from yoso.app.cli import check_num_threads

    for name in require:
        _group(cfg, name)
    seed = check_int("seed", cfg.get("seed"), 0, 2**32 - 1)
    present = [name for name in GROUPS if cfg.get(name) is not None]
    extra = [k for k in ("seed", "target", "reference_cost", "accuracy_model", "two_stage") if cfg.get(k) is not None]
    groups = plain_groups(cfg, *present, *extra)
    if cfg.get("trainer") is not None:  # the keys the cache keys and the device depend on (others resolve at run time)
        groups["trainer"] = plain_groups(
            {k: cfg["trainer"].get(k) for k in (*TRAINER_KEYS, "accelerator")}, *TRAINER_KEYS, "accelerator"
        )
    space_node = groups.get("space")
    cells = CellSpace.from_config(space_node) if space_node is not None else None
    space = None
    if "accelerator" in groups and space_node is not None:
        space = JointSpace.from_config(space_node, groups["accelerator"])
    elif "accelerator" in groups:
        AcceleratorSpace.from_config(groups["accelerator"])
    reward = build(groups["reward"], "reward") if "reward" in groups else None
    constraints = build(groups["constraints"], "constraints") if "constraints" in groups else None
    if constraints is None and reward is not None:
        constraints = reward.constraints
    board = build(groups["target"], "target") if "target" in groups else None
    if board is not None and space is not None and space.precision is not None:
        board.check_precisions((*space.precision.bits, space.precision.first_last_bits))
    hw = None
    if "hw" in groups and space is not None:
        hw = HwSetup.from_groups(space, groups["hw"], groups.get("target"), groups.get("reference_cost"))
        hw.reference_model()  # its _target_ and options (cheap: nothing is simulated)
    elif "hw" in groups:  # no space to cost: its values only
        Deploy.from_config(required(groups["hw"], "hw", "deploy"))
        required(groups["hw"], "hw", "tech")
        hw_tech(groups["hw"])
        PredictorConfig.from_config(groups["hw"].get("predictor"))
    if "cost_model" in groups:
        if hw is None:
            raise ConfigError("hw", None, "an 'hw' config group for the cost model")
        build_cost_model(groups["cost_model"], hw)  # its _target_ and options (cheap: built on first use)

    # With the groups its stand-alone config hashes, the model is checked against it once the Run is built (below).
    matchable = not {"data", "model", "space"} - groups.keys()
    if "accuracy_model" in groups and space is not None and not matchable:
        _build_accuracy_model(groups["accuracy_model"], space)  # its values (cheap: the model fits on first use)
    search = SearchSettings.from_config(groups["search"]) if "search" in groups else None
    if "data" in groups:
        _check_data(groups["data"])
    if "model" in groups:
        from yoso.nn.modules import check_model_config

        for name in ("data", "space", "accelerator"):
            _group(cfg, name)  # the modules are built with these groups' values
        check_model_config(groups["model"], groups["data"], groups["space"], groups["accelerator"], seed)
    if "num_threads" in cfg:
        check_num_threads(cfg.get("num_threads"))
    strategy = None
    if "strategy" in groups:
        if space is None:
            raise ConfigError("space", None, "a space and an accelerator group for the strategy to search")
        strategy = build_strategy(groups["strategy"], space, seed, constraints)
    run = Run(
        seed=seed,
        groups=groups,
        cells=cells,
        space=space,
        hw=hw,
        board=board,
        reward=reward,
        constraints=constraints,
        strategy=strategy,
        search=search,
        _cfg=cfg,
    )
    if "accuracy_model" in groups and space is not None and matchable:
        run.accuracy_model()  # its table against the run's stand-alone config (cheap: the model fits on first use)
    return run


def validate_hardware(cfg: Mapping[str, Any]) -> Run:
    """The :class:`Run` of a config's hardware groups only (:data:`HARDWARE_GROUPS`): its data and model are
    neither checked nor needed."""
    return validate_config({k: cfg[k] for k in HARDWARE_GROUPS if k in cfg}, require=("space", "accelerator", "hw"))
