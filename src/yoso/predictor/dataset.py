"""Reference sample sets: seeded candidates of the joint space labelled with energy and latency, cached on disk.

The labels come from the run's reference cost model (``reference_cost``, by default the
simulator). A set is keyed by a hash of everything its labels depend on (the reference's
fingerprint: for the simulator the space's decisions and choices, the deployment macro, the
technology constants and the simulator's source code), N and the seed. A second request with the same key loads the ``.npz``; any change gives a
new key, so stale labels are never reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yoso.cache import artifact_path, digest, get_or_build
from yoso.hw import Deploy, Tech
from yoso.space.joint import JointSpace

#: Bumped when the sampling or labelling procedure changes.
SAMPLES_VERSION = 1


def simulator_fingerprint() -> str:
    """Hash of the simulator's source files (``yoso.hw``): labels of an edited simulator are not reused."""
    import yoso.hw

    digest = hashlib.sha256()
    for path in sorted(Path(yoso.hw.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def config_fingerprint(space: JointSpace, deploy: Deploy, tech: Tech) -> dict[str, Any]:
    """Everything a label depends on, as a JSON-able mapping (space choices, deploy macro, tech, simulator)."""
    return json.loads(
        json.dumps(
            {
                "space": {d.name: list(d.choices) for d in space.decisions},
                "deploy": dataclasses.asdict(deploy),
                "tech": dataclasses.asdict(tech),
                "simulator": simulator_fingerprint(),
            },
            default=str,
        )
    )


@dataclass(frozen=True)
class SampleSet:
    """``vectors`` (n, D) int64 candidates with their simulated ``energy_mj`` and ``latency_ms``; ``key`` identifies it."""

    vectors: np.ndarray
    energy_mj: np.ndarray
    latency_ms: np.ndarray
    key: str
    seed: int

    def __len__(self) -> int:
        return len(self.vectors)

    def split(self, n_first: int) -> tuple[SampleSet, SampleSet]:
        """The first ``n_first`` candidates and the rest (e.g. train / held-out test)."""
        if not 0 < n_first < len(self):
            raise ValueError(f"split point {n_first} must lie in (0, {len(self)})")
        a, b = slice(0, n_first), slice(n_first, None)
        return tuple(  # type: ignore[return-value]
            SampleSet(
                self.vectors[s], self.energy_mj[s], self.latency_ms[s], f"{self.key}[{s.start}:{s.stop}]", self.seed
            )
            for s in (a, b)
        )

    @property
    def targets(self) -> np.ndarray:
        """``(n, 2)`` log-energy and log-latency, the regression targets."""
        return np.log(np.stack([self.energy_mj, self.latency_ms], axis=1))


def sample_set_config(reference: Any, n: int, seed: int) -> dict[str, Any]:
    """Everything the sample set of ``n`` candidates drawn with ``seed`` and labelled by ``reference`` (a
    :class:`~yoso.predictor.cost.ReferenceCostModel`) depends on; its key is the digest of this."""
    return {"config": reference.fingerprint(), "n": int(n), "seed": int(seed), "version": SAMPLES_VERSION}


def sample_set_key(reference: Any, n: int, seed: int) -> str:
    return digest(sample_set_config(reference, n, seed))


def label(
    vectors: np.ndarray,
    reference: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    *,
    n_jobs: int = 1,
    chunk: int = 200,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(energy mJ, latency ms) of encoded candidates by ``reference``, in chunks over ``n_jobs`` processes, with a
    progress bar."""
    parts = [vectors[i : i + chunk] for i in range(0, len(vectors), chunk)]
    if n_jobs == 1:
        results: Iterable[tuple[np.ndarray, np.ndarray]] = (reference(p) for p in parts)
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(reference)(p) for p in parts)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    if progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(f"labelling {len(vectors)} candidates", total=len(vectors))
            for p, r in zip(parts, results):
                out.append(r)
                bar.advance(task, len(p))
    else:
        out = list(results)
    if not out:
        return np.empty(0), np.empty(0)
    return np.concatenate([e for e, _ in out]), np.concatenate([l for _, l in out])


def load_sample_set(
    space: JointSpace,
    n: int,
    seed: int,
    reference: Any,
    *,
    cache_dir: str | Path | None = None,
    n_jobs: int = 1,
    progress: bool = True,
) -> SampleSet:
    """The ``n`` candidates drawn from ``space`` with ``seed``, labelled by ``reference`` (the run's reference cost,
    unwrapped); cached under ``cache_dir/samples`` by its fingerprint. ``cache_dir=None`` builds without caching.
    """
    if int(n) < 1:
        raise ValueError(f"sample set size must be >= 1, got {n}")
    config = sample_set_config(reference, n, seed)
    key = digest(config)

    def build() -> SampleSet:
        vectors = space.sample(n, np.random.default_rng(seed))
        energy, latency = label(vectors, reference, n_jobs=n_jobs, progress=progress)
        return SampleSet(vectors, energy, latency, key, int(seed))

    def load(path: Path) -> SampleSet:
        with np.load(path, allow_pickle=False) as data:
            return SampleSet(data["vectors"], data["energy_mj"], data["latency_ms"], key, int(seed))

    def save(samples: SampleSet, path: Path) -> None:
        np.savez(path, vectors=samples.vectors, energy_mj=samples.energy_mj, latency_ms=samples.latency_ms)

    return get_or_build(artifact_path(cache_dir, "samples", "", config, ".npz"), build, load, save)
