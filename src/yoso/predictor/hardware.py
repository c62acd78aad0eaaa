"""The hardware performance predictor (paper §II.F): candidate features -> GP on log-energy and log-latency.

Saved as one ``.npz`` (no pickle) with its feature spec, the config fingerprint it was
built for (space, deploy macro, tech, simulator) and the key of its training sample set;
loading it for another config raises :class:`PredictorMismatch` naming what differs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from yoso.cache import atomic_write
from yoso.hw import Deploy, Tech, load_tech
from yoso.predictor.dataset import SampleSet, config_fingerprint
from yoso.predictor.features import FeatureEncoder, FeatureSpec
from yoso.predictor.gp import GPRegressor
from yoso.predictor.settings import GPSettings
from yoso.space.joint import JointSpace

#: Regression targets, in column order (natural logs of mJ and ms).
TARGETS = ("log_energy_mj", "log_latency_ms")
#: Version of the saved file: bumped when its layout changes (2: the gpytorch model's parameters).
PREDICTOR_VERSION = 2


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


class HardwarePredictor:
    """Energy and latency of encoded candidates from a GP trained on simulator samples."""

    def __init__(self, encoder: FeatureEncoder, gp: GPRegressor, sample_key: str):
        self.encoder, self.gp, self.sample_key = encoder, gp, sample_key
        self.fingerprint = config_fingerprint(encoder.space, encoder.deploy, encoder.tech)

    @classmethod
    def fit(
        cls,
        samples: SampleSet,
        space: JointSpace,
        deploy: Deploy | None = None,
        tech: Tech | None = None,
        settings: GPSettings | None = None,
    ) -> HardwarePredictor:
        """Train on a sample set of ``space`` (labelled with ``deploy`` and ``tech``)."""
        encoder = FeatureEncoder(space, deploy, tech)
        gp = GPRegressor(settings or GPSettings()).fit(encoder(samples.vectors), samples.targets)
        return cls(encoder, gp, samples.key)

    @property
    def spec(self) -> FeatureSpec:
        return self.encoder.spec

    def predict(self, vectors: Any, return_std: bool = False) -> Prediction:
        """Prediction for ``(n, D)`` encoded candidates; ``return_std`` adds the log-space predictive std."""
        mean, std = self.gp.predict(self.encoder(vectors), return_std=return_std)
        e, l = np.exp(mean[:, 0]), np.exp(mean[:, 1])
        if std is None:
            return Prediction(e, l)
        return Prediction(e, l, std[:, 0], std[:, 1])

    def __call__(self, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(energy_mj, latency_ms)`` as the simulator's :func:`yoso.hw.evaluate` returns them."""
        p = self.predict(vectors)
        return p.energy_mj, p.latency_ms

    # ----------------------------------------------------------------- persistence

    def save(self, path: str | Path) -> Path:
        """Write the predictor to ``path`` (``.npz``), atomically."""
        return atomic_write(path, self.write)

    def write(self, handle: IO[bytes]) -> None:
        """Write the predictor as ``.npz`` to a binary file object."""
        state = self.gp.state_dict()
        meta = {
            "spec": self.spec.to_dict(),
            "fingerprint": self.fingerprint,
            "sample_key": self.sample_key,
            "settings": state["settings"],
            "targets": list(TARGETS),
            "version": PREDICTOR_VERSION,
        }
        arrays = {"x": state["x"], "y": state["y"]}
        arrays.update({f"model.{k}": v for k, v in state["model"].items()})
        arrays.update({f"scaler.{n}.{k}": v for n, s in state["scalers"].items() for k, v in s.items()})
        np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(
        cls, path: str | Path, space: JointSpace, deploy: Deploy | None = None, tech: Tech | None = None
    ) -> HardwarePredictor:
        """The predictor saved at ``path``; PredictorMismatch if it was built for another config or encoding."""
        encoder = FeatureEncoder(space, deploy, tech or load_tech())
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
            "scalers": {
                n: {k.rsplit(".", 1)[1]: v for k, v in arrays.items() if k.startswith(f"scaler.{n}.")}
                for n in ("x", "y")
            },
            "settings": meta["settings"],
        }
        return cls(encoder, GPRegressor.from_state_dict(state), meta["sample_key"])
