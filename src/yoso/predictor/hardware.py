"""The GP predictor's file (paper §II.F; the model itself is :class:`yoso.predictor.cost.GPCostModel`).

The GP is botorch's ``SingleTaskGP`` (one batched model of both targets, ``Normalize`` inputs, ``Standardize(m=2)``
outcomes) of :mod:`yoso.predictor.gp`, fitted on a subset and conditioned on all training samples.
Saved as one ``.npz`` (no pickle): the training features and targets, the model's state dict (loading rebuilds
the model on them, no refit), the feature spec, the config fingerprint it was built for (space, deploy macro,
tech, simulator) and the key of its training sample set; loading it for another config raises
:class:`PredictorMismatch` naming what differs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from yoso.predictor.dataset import config_fingerprint
from yoso.predictor.features import FeatureEncoder, FeatureSpec
from yoso.predictor.gp import GPRegressor

#: Regression targets, in column order (natural logs of mJ and ms).
TARGETS = ("log_energy_mj", "log_latency_ms")
#: Version of the saved file: bumped when its layout changes (2: the gpytorch model's parameters; 3: botorch's
#: SingleTaskGP state dict, its transforms included).
PREDICTOR_VERSION = 3


class PredictorMismatch(ValueError):
    """A saved predictor was built for another config (or feature encoding) than the one asked for."""


@dataclass(frozen=True)
class Prediction:
    """Predicted energy (mJ) and latency (ms), and the GP's predictive std of their natural logs (relative error)."""

    energy_mj: np.ndarray
    latency_ms: np.ndarray
    energy_log_std: np.ndarray | None = None
    latency_log_std: np.ndarray | None = None


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def describe_differences(saved: Mapping[str, Any], current: Mapping[str, Any], limit: int = 5) -> list[str]:
    """``key: saved X, now Y`` lines for the (first ``limit``) differing leaves of two nested mappings."""
    a, b = _flatten(saved), _flatten(current)
    keys = sorted(k for k in set(a) | set(b) if a.get(k, "<absent>") != b.get(k, "<absent>"))
    lines = [f"{k}: saved {a.get(k, '<absent>')!r}, now {b.get(k, '<absent>')!r}" for k in keys[:limit]]
    if len(keys) > limit:
        lines.append(f"... and {len(keys) - limit} more")
    return lines


def write_predictor(handle: IO[bytes], gp: GPRegressor, encoder: FeatureEncoder, sample_key: str) -> None:
    """Write a fitted GP with its feature spec, config fingerprint and sample-set key as ``.npz`` (no pickle)."""
    state = gp.state_dict()
    meta = {
        "spec": encoder.spec.to_dict(),
        "fingerprint": config_fingerprint(encoder.space, encoder.deploy, encoder.tech),
        "sample_key": sample_key,
        "settings": state["settings"],
        "targets": list(TARGETS),
        "version": PREDICTOR_VERSION,
    }
    arrays = {"x": state["x"], "y": state["y"]}
    arrays.update({f"model.{k}": v for k, v in state["model"].items()})
    np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)


def read_predictor(path: str | Path, encoder: FeatureEncoder) -> tuple[GPRegressor, str]:
    """The GP saved at ``path`` and the key of its training samples; PredictorMismatch if it was built for another
    config (space, deployment macro, technology, simulator) or feature encoding than ``encoder``'s."""
    with np.load(Path(path), allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        arrays = {k: data[k] for k in data.files if k != "meta"}
    if meta.get("version", 1) != PREDICTOR_VERSION:
        raise PredictorMismatch(
            f"predictor {path} has file version {meta.get('version', 1)}; this code reads "
            f"version {PREDICTOR_VERSION}: retrain it"
        )
    current = config_fingerprint(encoder.space, encoder.deploy, encoder.tech)
    diffs = describe_differences(meta["fingerprint"], current)
    if diffs:
        raise PredictorMismatch(f"predictor {path} was built for another config: " + "; ".join(diffs))
    saved_spec = FeatureSpec.from_dict(meta["spec"])
    if saved_spec != encoder.spec:
        raise PredictorMismatch(
            f"predictor {path} uses feature encoding v{saved_spec.version} ({len(saved_spec)} features); "
            f"this code has v{encoder.spec.version} ({len(encoder.spec)} features): retrain it"
        )
    state = {
        "x": arrays["x"],
        "y": arrays["y"],
        "model": {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("model.")},
        "settings": meta["settings"],
    }
    return GPRegressor.from_state_dict(state), meta["sample_key"]
