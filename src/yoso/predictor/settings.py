"""Settings of the hardware predictor (``hw.predictor``), validated; light to import (no torch)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yoso.config import ConfigError, check_choice, check_float, check_int, check_keys

#: Allowed values of the GP settings.
OPTIMIZERS = ("lbfgs", "adam")
MEANS = ("constant", "linear")


@dataclass(frozen=True)
class GPSettings:
    """How to fit the GP: hyperparameter subset size, optimiser and its steps, mean function, noise floor, seed."""

    subset: int = 1000
    iterations: int = 150
    optimizer: str = "adam"
    lr: float = 0.1
    mean: str = "constant"
    noise_floor: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        p = "hw.predictor"
        check_int(f"{p}.subset", self.subset, 2)
        check_int(f"{p}.iterations", self.iterations, 0)
        check_choice(f"{p}.optimizer", self.optimizer, OPTIMIZERS)
        check_float(f"{p}.lr", self.lr, greater_than=0.0)
        check_choice(f"{p}.mean", self.mean, MEANS)
        check_float(f"{p}.noise_floor", self.noise_floor, greater_than=0.0)
        check_int(f"{p}.seed", self.seed, 0, 2**32 - 1)


@dataclass(frozen=True)
class PredictorConfig:
    """The ``hw.predictor`` block: sample-set sizes and seed, GP settings, simulator processes, cache directory."""

    n_train: int = 3000
    n_test: int = 600
    seed: int = 0
    gp: GPSettings = GPSettings()
    n_jobs: int = 1
    cache_dir: str | None = ".cache/yoso"

    def __post_init__(self) -> None:
        p = "hw.predictor"
        for key, low, high in (("n_train", 2, None), ("n_test", 1, None), ("seed", 0, 2**32 - 1), ("n_jobs", -1, None)):
            object.__setattr__(self, key, check_int(f"{p}.{key}", getattr(self, key), low, high))
        if self.n_jobs == 0:
            raise ConfigError(f"{p}.n_jobs", 0, "an integer >= 1, or -1 for all cores")
        if self.cache_dir is not None and (not isinstance(self.cache_dir, str) or not self.cache_dir):
            raise ConfigError(f"{p}.cache_dir", self.cache_dir, "a directory path, or null for no cache")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> PredictorConfig:
        """Validated settings of the ``hw.predictor`` node (flat: its GP keys beside its own); missing keys take
        the defaults, unknown keys raise ConfigError."""
        cfg = dict(cfg or {})
        gp_keys = [k for k in GPSettings.__dataclass_fields__ if k != "seed"]  # the GP is seeded by hw.predictor.seed
        own = [k for k in cls.__dataclass_fields__ if k != "gp"]
        check_keys("hw.predictor", cfg, sorted(set(own + gp_keys)))
        settings = cls(**{k: cfg[k] for k in own if k in cfg})
        gp = GPSettings(**{k: cfg[k] for k in gp_keys if k in cfg}, seed=settings.seed)
        return dataclasses.replace(settings, gp=gp)
