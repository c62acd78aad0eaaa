"""Settings of the hardware predictor (``hw.predictor``), validated; light to import (no torch)."""

from __future__ import annotations

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

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, prefix: str = "hw.predictor") -> "PredictorConfig":
        """Validated settings; missing keys take the defaults, unknown keys raise ConfigError."""
        cfg = dict(cfg or {})
        gp_keys = tuple(GPSettings.__dataclass_fields__)
        own = ("n_train", "n_test", "seed", "n_jobs", "cache_dir")
        check_keys(prefix, cfg, sorted(set(own + gp_keys)))
        seed = check_int(f"{prefix}.seed", cfg.get("seed", 0), 0, 2**32 - 1)
        gp = GPSettings(**{k: cfg[k] for k in gp_keys if k in cfg and k != "seed"}, seed=seed)
        n_jobs = check_int(f"{prefix}.n_jobs", cfg.get("n_jobs", 1), -1)
        if n_jobs == 0:
            raise ConfigError(f"{prefix}.n_jobs", 0, "an integer >= 1, or -1 for all cores")
        cache_dir = cfg.get("cache_dir", cls.cache_dir)
        if cache_dir is not None and (not isinstance(cache_dir, str) or not cache_dir):
            raise ConfigError(f"{prefix}.cache_dir", cache_dir, "a directory path, or null for no cache")
        return cls(
            n_train=check_int(f"{prefix}.n_train", cfg.get("n_train", 3000), 2),
            n_test=check_int(f"{prefix}.n_test", cfg.get("n_test", 600), 1),
            seed=seed,
            gp=gp,
            n_jobs=n_jobs,
            cache_dir=cache_dir,
        )
