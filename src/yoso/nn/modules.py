"""LightningModules: HyperNet training by uniform single-path sampling, and stand-alone training."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, cast

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.types import OptimizerLRSchedulerConfig
from torch.nn import functional as F

from yoso.config import ConfigError, build, check_float, check_int, required
from yoso.nn.evaluate import SubnetEvaluator
from yoso.nn.hypernet import ChildNet, HyperNet
from yoso.space.genotype import NUM_STAGES, Genotype
from yoso.space.joint import JointSpace, PrecisionSpace, ScaleSpace, check_sandwich

Arch = Genotype | Sequence[int] | np.ndarray
#: SeedSequence spawn keys: training paths are (0, step), the fixed validation paths (1,).
_TRAIN_KEY, _VAL_KEY = 0, 1


#: The paper's HyperNet optimiser (§III.A), the default of both modules (and of the model group's schema).
DEFAULT_OPTIMIZER = {"lr": 0.05, "lr_min": 1e-4, "momentum": 0.9, "weight_decay": 4e-5}


def _macro_hparams(
    prefix: str,
    input_shape: Sequence[int],
    num_classes: int,
    channels: int,
    cells: int,
    stem_multiplier: int,
    affine: bool,
    dirac_init: float | None,
    optimizer: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The validated network macro and optimiser shared by both modules (errors name ``prefix.key``)."""
    opt = optimizer or DEFAULT_OPTIMIZER
    opt = {k: required(opt, f"{prefix}.optimizer", k) for k in ("lr", "lr_min", "momentum", "weight_decay")}
    return {
        "input_shape": [int(v) for v in input_shape],
        "num_classes": int(num_classes),
        "channels": check_int(f"{prefix}.channels", channels, 1),
        "cells": check_int(f"{prefix}.cells", cells, 1),
        "stem_multiplier": check_int(f"{prefix}.stem_multiplier", stem_multiplier, 1),
        "affine": bool(affine),
        # None: PyTorch's default initialisation; else the random fraction of the identity initialisation
        "dirac_init": None if dirac_init is None else check_float(f"{prefix}.dirac_init", dirac_init, at_least=0.0),
        "optimizer": {
            "lr": check_float(f"{prefix}.optimizer.lr", opt["lr"], greater_than=0.0),
            **{
                k: check_float(f"{prefix}.optimizer.{k}", opt[k], at_least=0.0)
                for k in ("lr_min", "momentum", "weight_decay")
            },
        },
    }


#: ``model`` node keys that schedule training (read by the trainer group and the flows) or hold the stand-alone
#: network's own node: not arguments of the LightningModule the node's ``_target_`` names.
SCHEDULE_KEYS = ("epochs", "val_every_n_epochs", "standalone")


def instantiate_module(node: Mapping[str, Any], prefix: str, **inputs: Any) -> pl.LightningModule:
    """The LightningModule a ``model`` node (at config key ``prefix``) names by ``_target_`` (Hydra), from the
    node's arguments and ``inputs`` taken from the other config groups (data shape, space, accelerator, seed,
    genotype). The node's schedule keys are checked here; the module checks its own arguments, and its errors
    (e.g. a ConfigError) come through as raised, not wrapped by Hydra (:func:`yoso.config.build`)."""
    return build(module_arguments(node, prefix), prefix, **inputs)


def module_arguments(node: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """A ``model`` node (at config key ``prefix``) without its schedule keys, which are checked here."""
    check_int(f"{prefix}.epochs", required(node, prefix, "epochs"), 1)
    if node.get("val_every_n_epochs") is not None:
        check_int(f"{prefix}.val_every_n_epochs", node["val_every_n_epochs"], 1)
    return {k: v for k, v in node.items() if k not in SCHEDULE_KEYS}


class _Checked(Protocol):
    """A module class that checks its constructor's arguments (:meth:`SupernetModule.hyperparameters`)."""

    @staticmethod
    def hyperparameters(*args: Any, **kwargs: Any) -> dict[str, Any]: ...


def check_model_config(
    model: Mapping[str, Any],
    data: Mapping[str, Any],
    space: Mapping[str, Any],
    accelerator: Mapping[str, Any],
    seed: int,
) -> None:
    """Every value of the ``model`` node and its ``standalone`` node, judged by the checks of the modules their
    ``_target_`` names (:meth:`_Trainable.hyperparameters`), with the run's data, space, accelerator and seed
    nodes; no network is built."""
    import hydra

    nodes = [("model", model, {"space": space, "accelerator": accelerator, "seed": seed})]
    if model.get("standalone") is not None:
        nodes.append(("model.standalone", model["standalone"], {"genotype": None}))
    for prefix, node, inputs in nodes:
        arguments = module_arguments(node, prefix)
        module = cast("type[_Checked]", hydra.utils.get_class(required(arguments, prefix, "_target_")))
        try:
            bound = inspect.signature(module).bind(
                **{k: v for k, v in arguments.items() if k != "_target_"},
                **inputs,
                input_shape=data["input_shape"],
                num_classes=data["num_classes"],
            )
        except TypeError as err:
            raise ConfigError(prefix, arguments["_target_"], f"a module that accepts its keys ({err})") from None
        bound.apply_defaults()
        wanted = inspect.signature(module.hyperparameters).parameters
        module.hyperparameters(**{k: v for k, v in bound.arguments.items() if k in wanted})


def macro_cells(space: Mapping[str, Any] | None, cells: int) -> int:
    """The cells of a network macro under the ``space`` node: an elastic space's deepest network, else ``cells``."""
    scale = ScaleSpace.from_config(space) if space is not None else None
    return cells if scale is None else scale.cells


class _Trainable(pl.LightningModule):
    """SGD with momentum and a per-step cosine schedule from ``lr`` to ``lr_min`` (paper §III.A)."""

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        opt = self.hparams["optimizer"]
        sgd = torch.optim.SGD(
            self.parameters(), lr=opt["lr"], momentum=opt["momentum"], weight_decay=opt["weight_decay"]
        )
        steps = max(1, int(self.trainer.estimated_stepping_batches))
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(sgd, T_max=steps, eta_min=opt["lr_min"])
        return {"optimizer": sgd, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}


class SupernetModule(_Trainable):
    """Trains the HyperNet: each step one path drawn uniformly from the space (paper eq. 6).

    The path of step ``t`` is a function of ``(seed, t)`` only, so every DDP rank trains the same
    path and a resumed run continues the same sequence. Validation measures a fixed seeded set
    of ``val_paths`` sub-networks with :class:`SubnetEvaluator` and logs their mean accuracy.
    """

    def __init__(
        self,
        space: Mapping[str, Any],
        accelerator: Mapping[str, Any],
        input_shape: Sequence[int],
        num_classes: int,
        channels: int = 16,
        cells: int = 6,
        stem_multiplier: int = 3,
        affine: bool = True,
        optimizer: Mapping[str, Any] | None = None,
        bn_recalibration_batches: int = 4,
        dirac_init: float | None = None,
        val_paths: int = 8,
        seed: int = 0,
        sandwich: bool = False,
        distill: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters(
            self.hyperparameters(
                space,
                accelerator,
                input_shape,
                num_classes,
                channels,
                cells,
                stem_multiplier,
                affine,
                optimizer,
                bn_recalibration_batches,
                dirac_init,
                val_paths,
                seed,
                sandwich,
                distill,
            )
        )
        hp = self.hparams
        self.space = JointSpace.from_config(hp["space"], hp["accelerator"])
        self.net = HyperNet(
            self.space.cells,
            hp["input_shape"],
            hp["num_classes"],
            hp["channels"],
            hp["cells"],
            hp["stem_multiplier"],
            hp["affine"],
            hp.get("dirac_init"),
            self.space.scale,
            self.space.precision,
        )
        # one draw per path, DNN decisions first: the same networks for every accelerator space (as the training paths)
        self.val_genotypes = [
            self.space.decode(self.space.sample(1, self._rng(_VAL_KEY, i))[0])[0] for i in range(hp["val_paths"])
        ]
        self._val_batches: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._evaluator: SubnetEvaluator | None = None

    @staticmethod
    def hyperparameters(
        space: Mapping[str, Any],
        accelerator: Mapping[str, Any],
        input_shape: Sequence[int],
        num_classes: int,
        channels: int,
        cells: int,
        stem_multiplier: int,
        affine: bool,
        optimizer: Mapping[str, Any] | None,
        bn_recalibration_batches: int,
        dirac_init: float | None,
        val_paths: int,
        seed: int,
        sandwich: bool,
        distill: bool,
    ) -> dict[str, Any]:
        """The constructor's arguments checked (a ConfigError naming ``model.<key>``) and in plain form."""
        scale = ScaleSpace.from_config(space)
        sandwich, distill = check_sandwich(sandwich, distill, scale)
        scale_keys = {} if scale is None else {"widths": list(scale.widths), "depths": list(scale.depths)}
        precision = PrecisionSpace.from_config(space)
        if precision is not None:
            scale_keys |= precision.to_dict()
        return {
            "space": {"ops": list(space["ops"]), "num_nodes": int(space["num_nodes"]), **scale_keys},
            # the choice lists (a null one is not searched) and the size limits {key: [low, high]}
            "accelerator": {
                k: {kk: list(vv) for kk, vv in v.items()} if isinstance(v, Mapping) else list(v)
                for k, v in accelerator.items()
                if v is not None
            },
            **_macro_hparams(
                "model", input_shape, num_classes, channels, cells, stem_multiplier, affine, dirac_init, optimizer
            ),
            "bn_recalibration_batches": check_int("model.bn_recalibration_batches", bn_recalibration_batches, 0),
            "val_paths": check_int("model.val_paths", val_paths, 1),
            "seed": check_int("seed", seed, 0, 2**32 - 1),
            "sandwich": sandwich,
            "distill": distill,
        }

    @classmethod
    def from_groups(
        cls,
        model: Mapping[str, Any],
        space: Mapping[str, Any],
        accelerator: Mapping[str, Any],
        data: Mapping[str, Any],
        seed: int,
    ) -> SupernetModule:
        """The ``model`` node's module (conf/model: ``_target_`` this class) with the run's space, accelerator,
        data shape (of the ``data`` node) and seed."""
        module = instantiate_module(
            model,
            "model",
            space=space,
            accelerator=accelerator,
            seed=seed,
            input_shape=data["input_shape"],
            num_classes=data["num_classes"],
        )
        return cast(SupernetModule, module)  # the node's _target_ is this class

    # ----------------------------------------------------------------- paths

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.hparams["seed"], spawn_key=key))

    def path_vector(self, step: int) -> np.ndarray:
        """The vector of every decision sampled uniformly for training step ``step`` (its DNN decisions come first,
        so they do not depend on the accelerator space)."""
        return self.space.sample(1, self._rng(_TRAIN_KEY, int(step)))[0]

    def genotype(self, arch: Arch) -> Genotype:
        """A Genotype from a Genotype, a full encoding, or its DNN decisions only."""
        if isinstance(arch, Genotype):
            return arch
        vec = np.asarray(arch)
        if vec.ndim == 1 and len(vec) == self.space.num_dnn_decisions:
            vec = np.concatenate([vec, np.zeros(self.space.num_accel_decisions, dtype=np.int64)])
        return self.space.decode(vec)[0]

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        return self.net(x, self.genotype(arch))

    # ----------------------------------------------------------------- training

    def training_paths(self, step: int) -> list[Genotype]:
        """The sub-networks trained at ``step``: the uniformly drawn path; in an elastic space with
        ``sandwich``, first its cells at the largest and at the smallest scale (BigNAS' sandwich rule)."""
        genotype = self.genotype(self.path_vector(step))
        scale = self.space.scale
        if scale is None or not self.hparams["sandwich"]:
            return [genotype]
        largest = replace(genotype, width=max(scale.widths), depth=1.0)
        smallest = replace(genotype, width=min(scale.widths), depth=scale.depth_fraction(min(scale.depths)))
        bits = self.space.precision
        if bits is not None:  # the sandwich's ends also at the widest and the narrowest precision
            largest = replace(largest, precision=(bits.first_last_bits, *[max(bits.bits)] * NUM_STAGES))
            smallest = replace(smallest, precision=(bits.first_last_bits, *[min(bits.bits)] * NUM_STAGES))
        return [largest, smallest, genotype]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self._evaluator = None  # the weights change: cached accuracies are stale
        x, y = batch
        paths = self.training_paths(self.global_step)
        logits = self.net(x, paths[0])
        loss = F.cross_entropy(logits, y)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", (logits.argmax(1) == y).float().mean())
        teacher = F.softmax(logits.detach(), dim=1) if self.hparams["distill"] else None
        for genotype in paths[1:]:  # in-place distillation: the others learn the largest network's soft labels
            out = self.net(x, genotype)
            loss = loss + (F.cross_entropy(out, y) if teacher is None else F.cross_entropy(out, teacher))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._val_batches.append((batch[0].detach(), batch[1].detach()))

    def on_validation_epoch_end(self) -> None:
        batches, self._val_batches = self._val_batches, []
        if self.trainer.sanity_checking or not batches:
            return
        evaluator = SubnetEvaluator(self.net, self._calibration(), batches)
        correct = torch.as_tensor(evaluator.correct(self.val_genotypes), dtype=torch.float64, device=self.device)
        total = torch.tensor(float(evaluator.total), dtype=torch.float64, device=self.device)
        correct = self.trainer.strategy.reduce(correct, reduce_op="sum")
        total = self.trainer.strategy.reduce(total, reduce_op="sum")
        acc = (correct / total).float()
        self.log("val/acc_mean", acc.mean(), prog_bar=True, rank_zero_only=True)
        self.log("val/acc_min", acc.min(), rank_zero_only=True)
        self.log("val/acc_max", acc.max(), rank_zero_only=True)

    def _calibration(self, datamodule: Any = None) -> list[torch.Tensor]:
        n = self.hparams["bn_recalibration_batches"]
        datamodule = datamodule if datamodule is not None else getattr(self.trainer, "datamodule", None)
        if n == 0:
            return []
        if not hasattr(datamodule, "calibration_batches"):
            raise RuntimeError("BN recalibration needs a yoso DataModule (calibration_batches); none is attached")
        return [x.to(self.device) for x in datamodule.calibration_batches(n)]

    # ----------------------------------------------------------------- evaluation

    def evaluator(self, datamodule: Any = None, looks: Sequence[int] = ()) -> SubnetEvaluator:
        """The sub-network evaluator on ``datamodule``'s validation split (reused until the next training step);
        ``looks``: the images of :meth:`race`'s looks before the whole split."""
        if self._evaluator is None or datamodule is not None:
            if datamodule is None:
                datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
            if datamodule is None:
                raise RuntimeError("accuracy() needs a datamodule: pass one to evaluator(datamodule) first")
            datamodule.setup("validate")
            self._evaluator = SubnetEvaluator(
                self.net, self._calibration(datamodule), datamodule.val_tensors(), looks=looks
            )
        return self._evaluator

    def accuracy(self, archs: Iterable[Arch], datamodule: Any = None) -> np.ndarray:
        """Validation accuracy of each architecture's sub-network with inherited weights (cached)."""
        return self.evaluator(datamodule).accuracy([self.genotype(a) for a in archs])

    def race(self, archs: Iterable[Arch], needed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(accuracy, validation images)`` per architecture, measured look by look until its upper 95 % bound
        falls below ``needed`` (:meth:`SubnetEvaluator.race`)."""
        return self.evaluator().race([self.genotype(a) for a in archs], needed)


class ChildModule(_Trainable):
    """Trains one genotype's stand-alone network from scratch (:class:`ChildNet`)."""

    def __init__(
        self,
        genotype: Genotype | Mapping[str, Any],
        input_shape: Sequence[int],
        num_classes: int,
        channels: int = 16,
        cells: int = 6,
        stem_multiplier: int = 3,
        affine: bool = True,
        optimizer: Mapping[str, Any] | None = None,
        dirac_init: float | None = None,
    ):
        super().__init__()
        genotype = genotype if isinstance(genotype, Genotype) else Genotype.from_dict(dict(genotype))
        self.save_hyperparameters(
            {
                "genotype": genotype.to_dict(),
                **self.hyperparameters(
                    input_shape, num_classes, channels, cells, stem_multiplier, affine, optimizer, dirac_init
                ),
            }
        )
        hp = self.hparams
        self.net = ChildNet(
            genotype,
            hp["input_shape"],
            hp["num_classes"],
            hp["channels"],
            hp["cells"],
            hp["stem_multiplier"],
            hp["affine"],
            hp.get("dirac_init"),
        )

    @staticmethod
    def hyperparameters(
        input_shape: Sequence[int],
        num_classes: int,
        channels: int,
        cells: int,
        stem_multiplier: int,
        affine: bool,
        optimizer: Mapping[str, Any] | None,
        dirac_init: float | None,
    ) -> dict[str, Any]:
        """The network arguments checked (a ConfigError naming ``model.standalone.<key>``) and in plain form."""
        return _macro_hparams(
            "model.standalone",
            input_shape,
            num_classes,
            channels,
            cells,
            stem_multiplier,
            affine,
            dirac_init,
            optimizer,
        )

    @classmethod
    def from_groups(
        cls, standalone: Mapping[str, Any], data: Mapping[str, Any], space: Mapping[str, Any] | None, genotype: Genotype
    ) -> ChildModule:
        """The stand-alone module of ``genotype`` from the ``model.standalone`` node (``_target_`` this class), the
        data shape and the ``space`` node (an elastic genotype's macro)."""
        if genotype.scaled and space is None:  # never fall back to another macro silently
            raise ValueError(
                f"genotype of width {genotype.width}, depth {genotype.depth}: building its stand-alone "
                "network needs the config's space (its macro is the elastic space's deepest network)"
            )
        module = instantiate_module(
            standalone,
            "model.standalone",
            genotype=genotype.to_dict(),
            input_shape=data["input_shape"],
            num_classes=data["num_classes"],
            cells=macro_cells(space, standalone["cells"]),
        )
        return cast(ChildModule, module)  # the node's _target_ is this class

    @property
    def genotype(self) -> Genotype:
        return self.net.genotype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        sync = stage != "train"
        self.log(f"{stage}/loss", loss, prog_bar=stage == "train", sync_dist=sync)
        self.log(f"{stage}/acc", (logits.argmax(1) == y).float().mean(), prog_bar=stage != "train", sync_dist=sync)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")
