"""Hardware cost models: energy (mJ) and latency (ms) of a batch of candidates, chosen by the ``cost_model`` group.

A cost model is built from the run's :class:`HwSetup` (space, deployment macro, technology,
predictor settings) by ``hydra.utils.instantiate`` of the ``cost_model`` group's ``_target_``:
``conf/cost_model/gp.yaml`` (the GP predictor, the default), ``simulator.yaml`` (the simulator)
or ``mlp.yaml`` (the cost MLP of :mod:`yoso.predictor.relaxed`). :func:`build_cost_model` is the
one way to get one; a new cost model is a class with the :class:`CostModel` call and a YAML.
On an FPGA board (``target=zcu102``, ...) it comes wrapped in :class:`OnBoard` (power, resource fit).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from yoso.cache import artifact_path, get_or_build
from yoso.config import ConfigError, build, plain_groups, required
from yoso.hw import Deploy, Tech, evaluate, load_tech
from yoso.hw.fpga import Board
from yoso.hw.tech import DEFAULT_TECH
from yoso.predictor.dataset import SampleSet, load_sample_set
from yoso.predictor.features import FEATURE_VERSION, FeatureEncoder
from yoso.predictor.settings import PredictorConfig
from yoso.space.joint import JointSpace

log = logging.getLogger("yoso")

#: The cost models by name (``build_cost_model(cfg, kind=name)``), as import paths: the MLP loads torch.
COST_MODELS = {
    "gp": "yoso.predictor.cost.GPCostModel",
    "simulator": "yoso.predictor.cost.SimulatorCostModel",
    "mlp": "yoso.predictor.relaxed.MLPCostModel",
}


@runtime_checkable
class CostModel(Protocol):
    """``model(vectors) -> (energy_mj, latency_ms)``: the hardware cost of ``(n, D)`` encoded candidates.

    Optional abilities, found by :class:`UncertainCostModel` and :class:`DifferentiableCostModel`.
    """

    def __call__(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class UncertainCostModel(CostModel, Protocol):
    """A cost model that also gives its predictive uncertainty."""

    def log_std(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predictive standard deviation of ``(log energy_mj, log latency_ms)`` (a relative error)."""
        ...


@runtime_checkable
class DifferentiableCostModel(CostModel, Protocol):
    """A cost model with a torch form: ``module(encoding) -> (..., 2)`` log energy and log latency."""

    @property
    def module(self) -> Any:  # a torch.nn.Module
        """The differentiable model (its input encoding is ``module.encoding``)."""
        ...


@dataclass(frozen=True)
class HwSetup:
    """What a cost model needs from a run config: the joint space, deployment macro, technology, predictor settings,
    and the FPGA board of the ``target`` group (None: the ASIC of the technology).

    On a board, ``tech`` is the board's (:meth:`Board.tech`: its clock, bandwidth, word size, DRAM energy), so the
    simulator, the GP and their caches are the board's own.
    """

    space: JointSpace
    deploy: Deploy
    tech: Tech
    predictor: PredictorConfig
    board: Board | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> HwSetup:
        """From a composed run config (its ``space``, ``accelerator``, ``hw`` and optional ``target`` groups)."""
        cfg = plain_groups(cfg, "space", "accelerator", "hw", "target")
        hw = required(cfg, "", "hw")
        board = build_board(cfg.get("target"))
        tech = load_tech(str(hw.get("tech", DEFAULT_TECH)))
        return cls(
            space=JointSpace.from_config(cfg),
            deploy=Deploy.from_config(required(hw, "hw", "deploy")),
            tech=tech if board is None else board.tech(tech),
            predictor=PredictorConfig.from_config(hw.get("predictor")),
            board=board,
        )

    def samples(self, progress: bool = True) -> tuple[SampleSet, SampleSet]:
        """The (cached) train and held-out test sample sets of ``n_train + n_test`` candidates."""
        p = self.predictor
        data = load_sample_set(
            self.space,
            p.n_train + p.n_test,
            p.seed,
            deploy=self.deploy,
            tech=self.tech,
            cache_dir=p.cache_dir,
            n_jobs=p.n_jobs,
            progress=progress,
        )
        return data.split(p.n_train)

    def gp_predictor(self, progress: bool = True):  # -> HardwarePredictor
        """The GP predictor of this config: loaded from the cache, or trained on the cached samples and saved."""
        from yoso.predictor.hardware import PREDICTOR_VERSION, HardwarePredictor

        train, _ = self.samples(progress)
        p = self.predictor
        key = {
            "samples": train.key,
            "n_train": p.n_train,
            "gp": asdict(p.gp),
            "features": FEATURE_VERSION,
            "version": PREDICTOR_VERSION,
        }

        def build() -> HardwarePredictor:
            start = time.perf_counter()
            model = HardwarePredictor.fit(train, self.space, self.deploy, self.tech, p.gp)
            log.info("trained the GP predictor on %d samples in %.1f s", len(train), time.perf_counter() - start)
            return model

        return get_or_build(
            artifact_path(p.cache_dir, "predictors", "gp", key, ".npz"),
            build,
            lambda path: HardwarePredictor.load(path, self.space, self.deploy, self.tech),
            lambda model, path: model.save(path),
        )

    def featurizer(self) -> FeatureEncoder:
        """The GP predictor's feature encoder of this space, deployment macro and technology."""
        return FeatureEncoder(self.space, self.deploy, self.tech)


def build_board(node: Any) -> Board | None:
    """The FPGA board of a ``target`` config node (None for no node: the ASIC); a bad value raises a ConfigError."""
    return None if node is None else build(node, "target")


def accelerators_of(space: JointSpace, vectors: Any) -> list[Any]:
    """The accelerators of ``(n, D)`` encoded candidates (their hardware decisions only)."""
    hw = space.check(vectors)[:, space.num_dnn_decisions :]
    return [space.accelerators.accelerator(*(int(i) for i in row)) for row in hw]


class OnBoard:
    """A cost model on an FPGA board: the inner model's latency, energy = its DRAM energy + board power x latency,
    and ``inf`` for both where the decoded accelerator does not fit the device (exact, never predicted).

    Every other attribute (``log_std``, ``module``, ...) is the inner model's.
    """

    def __init__(self, inner: CostModel, setup: HwSetup):
        if setup.board is None:
            raise ValueError("OnBoard needs a setup with a board")
        self.inner, self.setup, self.board = inner, setup, setup.board

    def __call__(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        vectors = np.atleast_2d(np.asarray(vectors))
        dram_mj, latency = self.inner(vectors)
        return self.board.cost(accelerators_of(self.setup.space, vectors), dram_mj, latency)

    def __getattr__(self, name: str) -> Any:
        if name in ("inner", "setup", "board"):  # not yet set (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.inner, name)


class SimulatorCostModel:
    """The simulator (:func:`yoso.hw.evaluate`): accurate, slow; the final step's reference."""

    name = "simulator"

    def __init__(self, setup: HwSetup):
        self.setup = setup

    def __call__(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        s = self.setup
        return evaluate(
            np.atleast_2d(np.asarray(vectors)), space=s.space, tech=s.tech, deploy=s.deploy, n_jobs=s.predictor.n_jobs
        )


class GPCostModel:
    """The GP predictor (paper §II.F), loaded from the cache or trained on first use; fast, with uncertainty."""

    name = "gp"

    def __init__(self, setup: HwSetup, progress: bool = True):
        self.setup, self.progress = setup, progress
        self._model = None

    @property
    def model(self):  # -> HardwarePredictor
        if self._model is None:
            self._model = self.setup.gp_predictor(self.progress)
        return self._model

    @property
    def featurizer(self) -> FeatureEncoder:
        """The features the GP is trained on (no training needed to get them)."""
        return self._model.encoder if self._model is not None else self.setup.featurizer()

    def __call__(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.model(vectors)

    def log_std(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        prediction = self.model.predict(vectors, return_std=True)
        return prediction.energy_log_std, prediction.latency_log_std


def build_cost_model(cfg: Mapping[str, Any], kind: str | None = None, **options: Any) -> CostModel:
    """The run's cost model: the ``cost_model`` group instantiated with the run's :class:`HwSetup`.

    ``kind`` (a name of :data:`COST_MODELS`) builds that one instead, e.g. ``"simulator"`` for the final
    step; ``options`` are passed to its constructor. Models are built lazily: this call is cheap.
    A bad ``_target_`` or option raises a ConfigError.
    """
    import hydra
    from hydra.errors import InstantiationException
    from omegaconf import DictConfig, OmegaConf

    if kind is not None:
        node: dict[str, Any] = {"_target_": COST_MODELS[kind]}
    else:
        group = required(cfg, "", "cost_model")
        node = OmegaConf.to_container(group, resolve=True) if isinstance(group, DictConfig) else dict(group)
    target = node.get("_target_")
    allowed = f"the import path of a cost model class, e.g. one of {sorted(COST_MODELS.values())}"
    if not isinstance(target, str) or not target:
        raise ConfigError("cost_model._target_", target, allowed)
    try:
        hydra.utils.get_class(target)
    except Exception:  # not importable, or not a class
        raise ConfigError("cost_model._target_", target, allowed) from None
    setup = HwSetup.from_config(cfg)
    # the setup and options are passed to the partial: instantiate would turn dataclasses into dicts
    try:
        model = hydra.utils.instantiate(node, _partial_=True, _convert_="all")(setup, **options)
    except (InstantiationException, TypeError) as err:
        raise ConfigError("cost_model", target, f"a cost model that accepts its options ({err})") from None
    if not isinstance(model, CostModel):
        raise ConfigError("cost_model._target_", target, allowed)
    return model if setup.board is None else OnBoard(model, setup)
