"""What the Hydra entry points share: the config schemas, composition and the task wrapper.

``search.py``, ``train.py`` and ``two_stage.py`` stay thin: their task validates the config into
a :class:`~yoso.app.run.Run` (:func:`yoso.app.run.validate_config`) before any work and runs
through :func:`task_wrapper`, which turns a bad config value into one clear line and exit
status 2, logs any other failure, and always closes W&B.
"""

from __future__ import annotations

import copy
import functools
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from yoso.config import ConfigError, InputError, check_int, config_schema
from yoso.hw.fpga import Board
from yoso.hw.layers import Deploy
from yoso.hw.tech import Tech, load_tech
from yoso.predictor.settings import PredictorConfig
from yoso.search.constraints import Constraints
from yoso.search.reward import Reward
from yoso.search.settings import RaceSettings, SearchSettings

log = logging.getLogger("yoso")

#: Exit status of a run stopped by an invalid config value.
CONFIG_ERROR_EXIT = 2
#: The repository's Hydra config tree (the entry points' ``config_path``).
CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def check_num_threads(value: Any) -> int | None:
    """``num_threads``: an int >= 1, or None for torch's default; a ConfigError otherwise."""
    return None if value is None else check_int("num_threads", value, 1)


def set_num_threads(value: Any) -> int | None:
    """Validate ``num_threads`` and give torch that many CPU threads (intra-op; inter-op where still allowed).

    Returns the value applied (None: torch's default kept). ``torch.set_num_interop_threads`` may be
    called once per process, before any inter-op work, so a second call (a second run in one process,
    as in tests) keeps the first value.
    """
    threads = check_num_threads(value)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # already set, or inter-op work already started
            pass
    return threads


class _DropMessages(logging.Filter):
    """Drops log records whose message starts with one of ``prefixes``."""

    def __init__(self, *prefixes: str):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


#: Lightning INFO lines that tell a run's user nothing, dropped from Lightning's rank-zero logger: the device
#: lines of every Trainer (the device in use is in the config), the litlogger/litmodels tips, the
#: scheduler's "Loading `train_dataloader` to estimate ..." and the "stopped: `max_epochs=N` reached" of every fit.
LIGHTNING_NOISE = (
    "GPU available:",
    "TPU available:",
    "HPU available:",
    "💡 Tip:",
    "Loading `train_dataloader` to estimate",
    "`Trainer.fit` stopped: `max_epochs=",
)


def quiet_libraries() -> None:
    """Filter the libraries' output that tells a run's user nothing; every other warning and log line still shows.

    Lightning's INFO lines in :data:`LIGHTNING_NOISE` are dropped at its rank-zero logger; its deprecation
    warnings (``LightningDeprecationWarning``, and torch's ``LeafSpec`` FutureWarning raised from Lightning's
    own ``_pytree`` helper at every fit) are ignored: they concern Lightning's code, not this project's.
    W&B's "anonymous setting" warning is avoided where the loggers are built (:func:`instantiate_group`);
    the model summary is off in ``conf/trainer/default.yaml`` and the ``weights_only`` INFO line is avoided by
    passing ``weights_only`` when saving checkpoints. Idempotent.
    """
    import warnings

    from lightning_fabric.utilities.rank_zero import LightningDeprecationWarning

    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in target.filters):
            target.addFilter(_DropMessages(*LIGHTNING_NOISE))
    warnings.filterwarnings("ignore", category=LightningDeprecationWarning)
    warnings.filterwarnings(
        "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
    )


def schema_name(group: str, option: str | None = None) -> str:
    """The ConfigStore name of the schema an option of ``group`` composes onto (``strategy_tpe_schema``; a group
    whose options share one schema: ``reward_schema``).

    Schemas are stored at the top of the ConfigStore, outside every group, so ``--help`` and
    ``group=option`` offer only the real options; a YAML lists its schema as ``/<name>@_here_``.
    """
    return f"{group}_{option}_schema" if option else f"{group}_schema"


def register_configs() -> None:
    """Store the typed schema of each config group in Hydra's ConfigStore; a group's YAML files list it first.

    The schemas come from the classes the groups build (:func:`yoso.config.config_schema`), so a key's type
    and default are defined once, in the code; a YAML holds only what it sets. Idempotent.
    """
    from hydra.core.config_store import ConfigStore

    from yoso.data import CIFAR10DataModule, DigitsDataModule, FashionMNISTDataModule

    schemas: dict[tuple[str, str | None], type] = {
        ("reward", None): config_schema(Reward),
        ("constraints", None): config_schema(Constraints),
        ("search", None): search_schema(),  # the search node of search.yaml
        **{("data", d.name): config_schema(d) for d in (FashionMNISTDataModule, DigitsDataModule, CIFAR10DataModule)},
        **{("strategy", name): schema for name, schema in strategy_schemas().items()},
        ("model", "supernet"): model_schema(),
        ("hw", "default"): hw_schema(),
        ("target", "board"): config_schema(Board),  # the target node of a board YAML
        **{("cost_model", name): schema for name, schema in cost_model_schemas().items()},
    }
    store = ConfigStore.instance()
    for (group, option), node in schemas.items():
        store.store(name=schema_name(group, option), node=node)


def compose(overrides: Sequence[str] = (), config_name: str = "search") -> DictConfig:
    """The config ``config_name`` with ``overrides``, as an entry point sees it (schemas registered), for the
    application flows and benchmarks that compose outside ``@hydra.main``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def _extend(base: type, name: str, /, **fields: Any) -> type:
    """The schema ``base`` with ``fields`` added or their defaults replaced (typed ``Any``, as every schema key)."""
    import dataclasses

    return dataclasses.make_dataclass(
        name,
        [
            (
                key,
                Any,
                dataclasses.field(default_factory=functools.partial(copy.deepcopy, value))
                if isinstance(value, (dict, list))
                else dataclasses.field(default=value),
            )
            for key, value in fields.items()
        ],
        bases=(base,),
    )


def search_schema() -> type:
    """The ``search`` node's schema: :class:`SearchSettings`'s keys and defaults (``race`` a plain mapping).

    No ``_target_``: the node configures the search loop rather than building a library object, and the smoke
    experiment also sets it in configs without this schema (``train``); :meth:`SearchSettings.from_config` judges it.
    """
    import dataclasses

    race = {"looks": list(RaceSettings.looks), "top": RaceSettings.top}
    defaults = {f.name: race if f.name == "race" else f.default for f in dataclasses.fields(SearchSettings)}
    return _extend(object, "SearchSettingsConfig", **defaults)


def model_schema() -> type:
    """The ``model`` node's schema: :class:`SupernetModule`'s keys (the run passes the space, accelerator, data
    shape and seed) plus its schedule (``epochs``, ``val_every_n_epochs``) and the ``standalone`` node:
    :class:`ChildModule`'s keys (the run passes the genotype and data shape) plus its ``epochs``.

    ``optimizer`` is the modules' default optimiser as a plain mapping; ``_target_`` is the module path the HyperNet
    cache key (:func:`yoso.app.pipeline.hypernet_key`) holds.
    """
    import dataclasses

    from omegaconf import MISSING

    from yoso.nn.modules import DEFAULT_OPTIMIZER, ChildModule, SupernetModule

    def schema(cls: type, runtime: tuple[str, ...], **fields: Any) -> type:
        return _extend(
            config_schema(cls, runtime),
            f"{cls.__name__}Config",
            _target_=f"{cls.__module__}.{cls.__qualname__}",
            optimizer=dict(DEFAULT_OPTIMIZER),
            epochs=MISSING,
            **fields,
        )

    standalone = schema(ChildModule, ("genotype", "input_shape", "num_classes"))
    supernet = schema(
        SupernetModule, ("space", "accelerator", "input_shape", "num_classes", "seed"), val_every_n_epochs=None
    )
    return dataclasses.make_dataclass(
        "SupernetConfig", [("standalone", Any, dataclasses.field(default_factory=standalone))], bases=(supernet,)
    )


def hw_schema() -> type:
    """The ``hw`` node's schema: the technology (:func:`load_tech`'s default), the deployment macro
    (:class:`Deploy`'s keys but ``batch``) and the flat ``predictor`` node (:meth:`PredictorConfig.from_config`).

    No ``_target_``: the node configures the cost path (:class:`~yoso.predictor.cost.HwSetup` reads it). Its keys
    are those the GP/sample caches and the search fingerprint hash, so a key is added here only with a reason.
    """
    import dataclasses
    import inspect

    deploy = {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(Deploy()).items() if k != "batch"
    }
    settings = PredictorConfig()
    gp = {k: v for k, v in dataclasses.asdict(settings.gp).items() if k != "seed"}  # seeded by predictor.seed
    predictor = {
        "n_train": settings.n_train,
        "n_test": settings.n_test,
        "seed": settings.seed,
        **gp,
        "n_jobs": settings.n_jobs,
        "cache_dir": settings.cache_dir,
    }
    tech = inspect.signature(load_tech).parameters["name_or_path"].default
    objective = Tech.__dataclass_fields__["mapping_objective"].default
    return _extend(object, "HwConfig", tech=tech, mapping_objective=objective, deploy=deploy, predictor=predictor)


def cost_model_schemas() -> dict[str, type]:
    """The schema of each cost model class by its name: its constructor's keys (the run passes the ``setup``;
    ``progress`` is how it reports, not what it computes); ``_target_`` the path of :data:`COST_MODELS`."""
    from hydra.utils import get_class

    from yoso.predictor.cost import COST_MODELS

    return {
        name: _extend(
            config_schema(cls := get_class(path), ("setup", "progress")), f"{cls.__name__}Config", _target_=path
        )
        for name, path in COST_MODELS.items()
    }


def strategy_schemas() -> dict[str, type]:
    """The schema of each strategy class by its name: its constructor's keys (``space`` and ``seed`` come from
    the run) plus ``name``, the label a run's logs use (the class's ``name``).

    The differentiable strategy takes its keys as ``**settings``: they are those of
    :class:`~yoso.search.differentiable.DifferentiableSettings` and its cost MLP's :class:`MLPSettings`.
    """
    import dataclasses

    from yoso.config import public_path
    from yoso.predictor.features import FeatureEncoder
    from yoso.predictor.relaxed import MLPSettings
    from yoso.search.bo import QNEHVIStrategy
    from yoso.search.controller import ReinforceStrategy
    from yoso.search.differentiable import DifferentiableSettings, DifferentiableStrategy
    from yoso.search.evolution import EvolutionStrategy
    from yoso.search.optuna_strategies import CmaEsStrategy, NSGA2Strategy, TPEStrategy
    from yoso.search.strategy import BaseStrategy, RandomStrategy

    def schema(cls: type[BaseStrategy], base: type, **overrides: Any) -> type:
        return _extend(base, f"{cls.__name__}Config", name=cls.name, **overrides)

    runtime = ("space", "seed")
    schemas = {
        cls.name: schema(cls, config_schema(cls, runtime))
        for cls in (RandomStrategy, ReinforceStrategy, EvolutionStrategy, TPEStrategy, NSGA2Strategy, CmaEsStrategy)
    }
    # the code default (the FeatureEncoder class) as the node that builds it: called with the space
    schemas["qnehvi"] = schema(
        QNEHVIStrategy,
        config_schema(QNEHVIStrategy, runtime),
        featurizer={"_target_": public_path(FeatureEncoder), "_partial_": True},
    )
    schemas["differentiable"] = schema(
        DifferentiableStrategy,
        config_schema(DifferentiableSettings),
        _target_=public_path(DifferentiableStrategy),
        cost_model=dataclasses.asdict(MLPSettings()),
    )
    return schemas


register_configs()


def instantiate_group(cfg: Mapping[str, Any] | None) -> list[Any]:
    """Every ``_target_`` entry of a callbacks/logger group, instantiated (null entries skipped)."""
    import hydra

    if not cfg:
        return []
    items = [hydra.utils.instantiate(node) for node in cfg.values() if node is not None and "_target_" in node]
    for item in items:
        init = getattr(item, "_wandb_init", None)  # Lightning's WandbLogger: the wandb.init arguments, used lazily
        if isinstance(init, dict) and init.get("anonymous") is None:
            # Lightning passes anonymous=None when not asked for, and W&B (0.31) warns about any value set.
            init.pop("anonymous", None)
    return items


def group_options(group: str, conf_dir: Path = CONF_DIR) -> list[str] | None:
    """The options of config group ``group`` (its YAML names), or None when ``group`` is not one of yoso's config
    groups (``hydra/...`` groups also have Hydra's own options, e.g. ``hydra/launcher=basic``)."""
    folder = conf_dir / group
    if group.startswith("hydra") or not folder.is_dir():
        return None
    return sorted(p.stem for p in folder.glob("*.yaml"))


def check_group_choices(argv: Sequence[str] | None = None, conf_dir: Path = CONF_DIR) -> None:
    """Stop with one line and exit status 2 when a command-line override picks an option a config group lacks
    (e.g. ``target=zcu999``): Hydra would fail at composition with exit status 1 and several lines."""
    for arg in sys.argv[1:] if argv is None else argv:
        key, sep, value = arg.lstrip("+").partition("=")
        options = group_options(key, conf_dir) if sep and not arg.startswith(("~", "-")) else None
        if options is None or "(" in value:  # not a group, or a sweep expression such as range(...)
            continue
        for choice in value.split(","):
            if choice not in (*options, "null"):
                print(f"error: {ConfigError(key, choice, f'one of {options} (conf/{key}/*.yaml)')}", file=sys.stderr)
                raise SystemExit(CONFIG_ERROR_EXIT)


def task_wrapper(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Run ``task``: a ConfigError exits with status 2 and one clear line; W&B is always closed.

    Before the task: the libraries' noise is filtered (:func:`quiet_libraries`) and ``num_threads`` applied.
    """

    @functools.wraps(task)
    def wrapped(cfg: DictConfig) -> Any:
        try:
            quiet_libraries()
            set_num_threads(cfg.get("num_threads"))
            return task(cfg)
        except InputError as err:  # a bad config value or data file: one line, exit 2
            log.error("%s", err)
            raise SystemExit(CONFIG_ERROR_EXIT) from None
        except Exception:
            log.exception("run failed")
            raise
        finally:
            wandb = sys.modules.get("wandb")
            if wandb is not None and wandb.run is not None:
                log.info("closing wandb")
                wandb.finish()

    return wrapped
