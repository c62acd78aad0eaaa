"""The hardware evaluator of a run: ``hw.evaluator=gp`` (the predictor, built on first use) or ``simulator``."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from yoso.hw import Deploy, Tech, evaluate, load_tech
from yoso.cache import artifact_path, get_or_build
from yoso.predictor.dataset import SampleSet, load_sample_set
from yoso.predictor.features import FEATURE_VERSION
from yoso.predictor.settings import PredictorConfig
from yoso.space.joint import JointSpace

log = logging.getLogger("yoso")


@dataclass(frozen=True)
class HwSetup:
    """What a hardware evaluator needs from a run config."""

    evaluator: str
    space: JointSpace
    deploy: Deploy
    tech: Tech
    predictor: PredictorConfig

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "HwSetup":
        """From a composed run config (its ``space``, ``accelerator`` and ``hw`` groups)."""
        from yoso.cli import HW_EVALUATORS
        from yoso.config import check_choice, plain_groups, required

        cfg = plain_groups(cfg, "space", "accelerator", "hw")

        hw = required(cfg, "", "hw")
        return cls(
            evaluator=check_choice("hw.evaluator", required(hw, "hw", "evaluator"), HW_EVALUATORS),
            space=JointSpace.from_config(cfg),
            deploy=Deploy.from_config(required(hw, "hw", "deploy")),
            tech=load_tech(str(hw.get("tech", "eyeriss_65nm"))),
            predictor=PredictorConfig.from_config(hw.get("predictor")),
        )

    def samples(self, progress: bool = True) -> tuple[SampleSet, SampleSet]:
        """The (cached) train and held-out test sample sets of ``n_train + n_test`` candidates."""
        p = self.predictor
        data = load_sample_set(self.space, p.n_train + p.n_test, p.seed, deploy=self.deploy, tech=self.tech,
                               cache_dir=p.cache_dir, n_jobs=p.n_jobs, progress=progress)  # fmt: skip
        return data.split(p.n_train)

    def gp_predictor(self, progress: bool = True):  # -> HardwarePredictor
        """The GP predictor of this config: loaded from the cache, or trained on the cached samples and saved."""
        from yoso.predictor.hardware import HardwarePredictor

        train, _ = self.samples(progress)
        p = self.predictor
        key = {"samples": train.key, "n_train": p.n_train, "gp": asdict(p.gp), "features": FEATURE_VERSION}

        def build() -> HardwarePredictor:
            start = time.perf_counter()
            model = HardwarePredictor.fit(train, self.space, self.deploy, self.tech, p.gp)
            log.info("trained the GP predictor on %d samples in %.1f s", len(train), time.perf_counter() - start)
            return model

        return get_or_build(artifact_path(p.cache_dir, "predictors", "gp", key, ".npz"), build,
                            lambda path: HardwarePredictor.load(path, self.space, self.deploy, self.tech),
                            lambda model, handle: model.write(handle))  # fmt: skip


class SimulatorEvaluator:
    """``(vectors) -> (energy_mj, latency_ms)`` from the simulator."""

    name = "simulator"

    def __init__(self, setup: HwSetup):
        self.setup = setup

    def __call__(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        s = self.setup
        return evaluate(np.atleast_2d(np.asarray(vectors)), space=s.space, tech=s.tech, deploy=s.deploy,
                        n_jobs=s.predictor.n_jobs)  # fmt: skip


class GPEvaluator:
    """``(vectors) -> (energy_mj, latency_ms)`` from the GP predictor, loaded or trained on first call."""

    name = "gp"

    def __init__(self, setup: HwSetup, progress: bool = True):
        self.setup, self.progress = setup, progress
        self._model = None

    @property
    def model(self):  # -> HardwarePredictor
        if self._model is None:
            self._model = self.setup.gp_predictor(self.progress)
        return self._model

    def __call__(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.model(vectors)


def hardware_evaluator(cfg: Mapping[str, Any], progress: bool = True) -> SimulatorEvaluator | GPEvaluator:
    """The energy/latency evaluator ``hw.evaluator`` selects: ``gp`` (default) or ``simulator``."""
    setup = HwSetup.from_config(cfg)
    return GPEvaluator(setup, progress) if setup.evaluator == "gp" else SimulatorEvaluator(setup)
