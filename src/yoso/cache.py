"""Artifacts built once and reused: a stable config hash, an atomic file write and a get-or-build cache (no torch).

An artifact (a sample set, a trained predictor) lives at ``<cache_dir>/<folder>/<prefix>-<key>.<ext>``
where ``key`` is :func:`digest` of a plain mapping of everything it depends on: any change gives a
new key, so a stale artifact is never reused. Parallel jobs (a sweep) build one artifact once: the
first takes a file lock beside it and builds, the others wait and load what it wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

from filelock import FileLock

T = TypeVar("T")


def digest(obj: Any) -> str:
    """Short stable hash of a JSON-able object (mapping keys sorted, so their order does not matter)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def atomic_write(path: str | Path, data: bytes | str | Callable[[IO[bytes]], None]) -> Path:
    """Write ``path`` so that readers see the old file or the whole new one, never a part (also after a crash).

    ``data`` is the content, or a function writing it to a binary file object (``np.savez``,
    ``torch.save``). It goes to a temporary file beside ``path``, is fsynced, then renamed over it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with tmp.open("wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def artifact_path(cache_dir: str | Path | None, folder: str, prefix: str, config: Mapping[str, Any],
                  suffix: str) -> Path | None:  # fmt: skip
    """Where the artifact built from ``config`` is cached (None: no cache directory, build every time)."""
    if cache_dir is None:
        return None
    name = f"{prefix}-{digest(dict(config))}{suffix}" if prefix else f"{digest(dict(config))}{suffix}"
    return Path(cache_dir) / folder / name


def get_or_build(path: Path | None, build: Callable[[], T], load: Callable[[Path], T],
                 save: Callable[[T, IO[bytes]], None]) -> T:  # fmt: skip
    """The artifact at ``path`` if it exists, else ``build()`` written there atomically; ``path`` None: just build.

    A file lock beside ``path`` makes parallel callers build it once: a caller that waited for the
    lock loads what the first one wrote.
    """
    if path is None:
        return build()
    if path.is_file():
        return load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(path.name + ".lock")):
        if path.is_file():
            return load(path)
        artifact = build()
        atomic_write(path, lambda handle: save(artifact, handle))
    return artifact
