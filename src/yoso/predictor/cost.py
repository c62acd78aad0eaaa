"""Hardware cost models: energy (mJ) and latency (ms) of a batch of candidates, chosen by the ``cost_model`` group.

A cost model is built from the run's :class:`HwSetup` (space, deployment macro, technology,
predictor settings) by ``hydra.utils.instantiate`` of the ``cost_model`` group's ``_target_``:
``conf/cost_model/gp.yaml`` (the GP predictor, the default), ``simulator.yaml`` (the simulator)
or ``mlp.yaml`` (the cost MLP of :mod:`yoso.predictor.relaxed`). :func:`build_cost_model` is the
one way to get one; a new cost model is a class with the :class:`CostModel` call and a YAML.
The ``reference_cost`` group names the slow, trusted model (:class:`ReferenceCostModel`, by default
the simulator): the only source of the GP's and MLP's labels and of the final figures
(:func:`reference_cost`). On an FPGA board (``target=zcu102``, ...) a model comes wrapped in
:class:`OnBoard` (power, resource fit).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from yoso.cache import artifact_path, atomic_write, get_or_build
from yoso.config import ConfigError, build, required
from yoso.hw import Deploy, Tech, evaluate
from yoso.hw.fpga import Board
from yoso.hw.tech import hw_tech
from yoso.predictor.dataset import SampleSet, config_fingerprint, load_sample_set
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
#: The ``reference_cost`` node of a setup built without one (conf/reference_cost/simulator.yaml).
DEFAULT_REFERENCE = {"_target_": COST_MODELS["simulator"]}


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


@runtime_checkable
class ReferenceCostModel(CostModel, Protocol):
    """The slow, trusted cost model of the ``reference_cost`` group: it labels the GP's and MLP's training samples
    and gives the final step's, the two-stage baseline's and Table 2's figures.

    Beside encoded candidates it costs ``(genotype, accelerator)`` designs (known networks outside the space), and
    :meth:`fingerprint` names everything its figures depend on (the sample-set cache key).
    """

    def evaluate_designs(self, designs: Sequence[tuple[Any, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """``(energy_mj, latency_ms)`` of ``(Genotype, Accelerator)`` pairs."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """Everything its figures depend on, JSON-able (a new value gives new sample sets)."""
        ...


@dataclass(frozen=True)
class HwSetup:
    """What a cost model needs from a run: the joint space, deployment macro, technology, predictor settings, the
    FPGA board of the ``target`` group (None: the ASIC of the technology) and the ``reference_cost`` node (the
    model that labels the GP's and MLP's samples and gives the final figures).

    On a board, ``tech`` is the board's (:meth:`Board.tech`: its clock, bandwidth, word size, DRAM energy), so the
    simulator, the GP and their caches are the board's own.
    """

    space: JointSpace
    deploy: Deploy
    tech: Tech
    predictor: PredictorConfig
    board: Board | None = None
    reference: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_REFERENCE))

    @classmethod
    def from_groups(
        cls,
        space: JointSpace,
        hw: Mapping[str, Any],
        target: Mapping[str, Any] | None = None,
        reference: Mapping[str, Any] | None = None,
    ) -> HwSetup:
        """From the run's joint space and its ``hw``, ``target`` (None: the ASIC) and ``reference_cost`` (None: the
        simulator) group nodes; a bad value raises a ConfigError naming its key."""
        board = build_board(target)
        tech = hw_tech(hw)
        return cls(
            space=space,
            deploy=Deploy.from_config(required(hw, "hw", "deploy")),
            tech=tech if board is None else board.tech(tech),
            predictor=PredictorConfig.from_config(hw.get("predictor")),
            board=board,
            reference=dict(reference) if reference is not None else dict(DEFAULT_REFERENCE),
        )

    def reference_model(self) -> ReferenceCostModel:
        """The reference cost model of ``reference`` on this setup, unwrapped (on a board: its DRAM energy and
        latency, as the GP and MLP learn them); :func:`reference_cost` wraps it in the target."""
        model = instantiate_cost_model(self.reference, self, key="reference_cost")
        if not isinstance(model, ReferenceCostModel):
            raise ConfigError(
                "reference_cost._target_",
                self.reference.get("_target_"),
                "a reference cost model: a cost model that also costs (genotype, accelerator) designs "
                "(evaluate_designs) and names what its figures depend on (fingerprint)",
            )
        return model

    def samples(self, progress: bool = True) -> tuple[SampleSet, SampleSet]:
        """The (cached) train and held-out test sample sets of ``n_train + n_test`` candidates."""
        p = self.predictor
        data = load_sample_set(
            self.space,
            p.n_train + p.n_test,
            p.seed,
            self.reference_model(),
            cache_dir=p.cache_dir,
            n_jobs=p.n_jobs,
            progress=progress,
        )
        return data.split(p.n_train)


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
        space = self.setup.space
        return self.board.cost(accelerators_of(space, vectors), dram_mj, latency, space.widest_bits(vectors))

    def evaluate_designs(self, designs: Sequence[tuple[Any, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """The inner reference's figures of ``(genotype, accelerator)`` pairs, on the board."""
        if not isinstance(self.inner, ReferenceCostModel):
            raise TypeError(f"{type(self.inner).__name__} costs encoded candidates only, not designs")
        dram_mj, latency = self.inner.evaluate_designs(designs)
        bits = [genotype.widest_bits for genotype, _ in designs]
        return self.board.cost([accelerator for _, accelerator in designs], dram_mj, latency, bits)

    def __getattr__(self, name: str) -> Any:
        if name in ("inner", "setup", "board"):  # not yet set (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.inner, name)


class SimulatorCostModel:
    """The simulator (:func:`yoso.hw.evaluate`): accurate, milliseconds per design; the default reference cost."""

    name = "simulator"

    def __init__(self, setup: HwSetup):
        self.setup = setup

    def __call__(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        s = self.setup
        return evaluate(
            np.atleast_2d(np.asarray(vectors)), space=s.space, tech=s.tech, deploy=s.deploy, n_jobs=s.predictor.n_jobs
        )

    def evaluate_designs(self, designs: Sequence[tuple[Any, Any]]) -> tuple[np.ndarray, np.ndarray]:
        s = self.setup
        return evaluate(list(designs), tech=s.tech, deploy=s.deploy, n_jobs=s.predictor.n_jobs)

    def fingerprint(self) -> dict[str, Any]:
        """The space's choices, the deployment macro, the technology and the simulator's source code."""
        return config_fingerprint(self.setup.space, self.setup.deploy, self.setup.tech)


class GPCostModel:
    """The GP predictor (paper §II.F): a candidate's features -> botorch's ``SingleTaskGP`` on log energy and log
    latency (:mod:`yoso.predictor.gp`), trained on the reference cost's samples; loaded from the cache or trained on
    first use; fast, with uncertainty. Its file: :mod:`yoso.predictor.hardware`."""

    name = "gp"

    def __init__(self, setup: HwSetup, progress: bool = True):
        self.setup, self.progress = setup, progress
        self.featurizer = FeatureEncoder(setup.space, setup.deploy, setup.tech)  # no training needed to get them
        self._gp: Any = None  # a yoso.predictor.gp.GPRegressor, built on first use
        self.sample_key: str | None = None

    @property
    def gp(self) -> Any:
        """The fitted GP of this setup: loaded from ``cache_dir/predictors``, else trained on the setup's samples."""
        if self._gp is None:
            self._load_or_train()
        return self._gp

    def _load_or_train(self) -> None:
        from yoso.predictor.hardware import PREDICTOR_VERSION

        train, _ = self.setup.samples(self.progress)
        p = self.setup.predictor
        key = {
            "samples": train.key,
            "n_train": p.n_train,
            "gp": asdict(p.gp),
            "features": FEATURE_VERSION,
            "version": PREDICTOR_VERSION,
        }

        def build() -> GPCostModel:
            start = time.perf_counter()
            self.fit(train)
            log.info("trained the GP predictor on %d samples in %.1f s", len(train), time.perf_counter() - start)
            return self

        get_or_build(artifact_path(p.cache_dir, "predictors", "gp", key, ".npz"), build, self.load, GPCostModel.save)

    def fit(self, samples: SampleSet) -> GPCostModel:
        """Train on ``samples`` (vectors of this setup's space, labelled by its reference cost)."""
        from yoso.predictor.gp import GPRegressor

        self._gp = GPRegressor(self.setup.predictor.gp).fit(self.featurizer(samples.vectors), samples.targets)
        self.sample_key = samples.key
        return self

    def predict(self, vectors: Any, return_std: bool = False) -> Any:
        """A :class:`~yoso.predictor.hardware.Prediction` of ``(n, D)`` encoded candidates; ``return_std`` adds
        the predictive std of the natural logs (a relative error)."""
        from yoso.predictor.hardware import Prediction

        mean, std = self.gp.predict(self.featurizer(vectors), return_std=return_std)
        energy, latency = np.exp(mean[:, 0]), np.exp(mean[:, 1])
        return Prediction(energy, latency) if std is None else Prediction(energy, latency, std[:, 0], std[:, 1])

    def __call__(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        prediction = self.predict(vectors)
        return prediction.energy_mj, prediction.latency_ms

    def log_std(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        prediction = self.predict(vectors, return_std=True)
        return prediction.energy_log_std, prediction.latency_log_std

    def save(self, path: str | Path) -> Path:
        """Write the fitted GP to ``path`` (``.npz``, no pickle), atomically."""
        from yoso.predictor.hardware import write_predictor

        return atomic_write(
            path, lambda handle: write_predictor(handle, self.gp, self.featurizer, str(self.sample_key))
        )

    def load(self, path: str | Path) -> GPCostModel:
        """Read the GP saved at ``path``; PredictorMismatch if it was built for another config or encoding."""
        from yoso.predictor.hardware import read_predictor

        self._gp, self.sample_key = read_predictor(path, self.featurizer)
        return self


def instantiate_cost_model(node: Mapping[str, Any], setup: HwSetup, key: str = "cost_model", **options: Any) -> Any:
    """The cost model a config node names by ``_target_``, built with ``setup`` and ``options`` (unwrapped); a bad
    ``_target_`` or option raises a ConfigError naming ``key``."""
    import hydra
    from hydra.errors import InstantiationException

    node = dict(node)
    target = node.get("_target_")
    allowed = f"the import path of a cost model class, e.g. one of {sorted(COST_MODELS.values())}"
    if not isinstance(target, str) or not target:
        raise ConfigError(f"{key}._target_", target, allowed)
    try:
        hydra.utils.get_class(target)
    except Exception:  # not importable, or not a class
        raise ConfigError(f"{key}._target_", target, allowed) from None
    # the setup and options are passed to the partial: instantiate would turn dataclasses into dicts
    try:
        model = hydra.utils.instantiate(node, _partial_=True, _convert_="all")(setup, **options)
    except (InstantiationException, TypeError) as err:
        raise ConfigError(key, target, f"a cost model that accepts its options ({err})") from None
    if not isinstance(model, CostModel):
        raise ConfigError(f"{key}._target_", target, allowed)
    return model


def build_cost_model(node: Mapping[str, Any] | str, setup: HwSetup, **options: Any) -> CostModel:
    """A cost model of the run: ``node`` is the ``cost_model`` group's node (plain data with ``_target_``) or a name
    of :data:`COST_MODELS`; ``options`` are passed to its constructor. On a board it comes wrapped in
    :class:`OnBoard`. Models are built lazily: this call is cheap. A bad ``_target_`` or option raises a ConfigError.
    """
    if isinstance(node, str):
        node = {"_target_": COST_MODELS[node]}
    model = instantiate_cost_model(node, setup, **options)
    return model if setup.board is None else OnBoard(model, setup)


def reference_cost(setup: HwSetup) -> ReferenceCostModel:
    """The run's reference cost (``setup.reference``), wrapped by the target: on a board, its power and fit."""
    model = setup.reference_model()
    return model if setup.board is None else OnBoard(model, setup)  # type: ignore[return-value]
