"""Artifacts built once and reused: a stable config hash, an atomic file write and a get-or-build cache (no torch).

An artifact (a sample set, a trained predictor) lives at ``<cache_dir>/<folder>/<prefix>-<key>.<ext>``
(the HyperNet: ``<cache_dir>/hypernets/<key>/hypernet.ckpt``) where ``key`` is :func:`digest` of a plain
mapping of everything it depends on: any change gives a new key, so a stale artifact is never reused.
Parallel jobs (a sweep) build one artifact once: the first takes a file lock beside it and builds, the
others wait and load what it wrote. Every file that must never be seen half-written (caches, the
search checkpoint, ``history.csv`` rewrites, downloads) is written through :func:`atomic_path`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

from filelock import FileLock

T = TypeVar("T")


def digest(obj: Any) -> str:
    """Short stable hash of a JSON-able object (mapping keys sorted, so their order does not matter)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write (for writers that take a path: ``torch.save``, Lightning's
    ``save_checkpoint``); when the block ends without error it is fsynced and renamed over ``path``.

    Readers see the old file or the whole new one, never a part (also after a crash). The temporary
    name keeps ``path``'s suffix (``np.savez`` would add one) and the writer's process id; one that a killed
    writer left behind is removed by the next write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _remove_orphans(path: Path) -> None:
    """Delete the temporary files of ``path`` whose writing process no longer runs (it was killed mid-write)."""
    prefix = f".{path.stem}.tmp"
    for tmp in path.parent.glob(f"{prefix}*{path.suffix}"):
        pid = tmp.name[len(prefix) : len(tmp.name) - len(path.suffix)]
        if pid.isdigit() and not _running(int(pid)):
            tmp.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        return True
    return True


def atomic_write(path: str | Path, data: bytes | str | Callable[[IO[bytes]], None]) -> Path:
    """Write ``path`` atomically (:func:`atomic_path`): ``data`` is the content, or a function writing it to a
    binary file object (``np.savez``, ``torch.save``)."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        if callable(data):
            data(handle)
        else:
            handle.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


def artifact_path(
    cache_dir: str | Path | None, folder: str, prefix: str, config: Mapping[str, Any], suffix: str
) -> Path | None:
    """Where the artifact built from ``config`` is cached (None: no cache directory, build every time)."""
    if cache_dir is None:
        return None
    name = f"{prefix}-{digest(dict(config))}{suffix}" if prefix else f"{digest(dict(config))}{suffix}"
    return Path(cache_dir) / folder / name


def file_lock(path: Path) -> FileLock:
    """The lock file beside ``path`` (``<name>.lock``): parallel processes building or updating ``path`` take turns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path.with_name(path.name + ".lock"))


def get_or_build(
    path: Path | None, build: Callable[[], T], load: Callable[[Path], T], save: Callable[[T, Path], object]
) -> T:
    """The artifact at ``path`` if it exists, else ``build()`` saved there atomically; ``path`` None: just build.

    ``save(artifact, tmp)`` writes it to a temporary path (with ``path``'s suffix) that is then renamed
    to ``path`` (what ``save`` returns is ignored). A file lock beside ``path`` makes parallel callers build it
    once: a caller that waited for the lock loads what the first one wrote.
    """
    if path is None:
        return build()
    if path.is_file():
        return load(path)
    with file_lock(path):
        if path.is_file():
            return load(path)
        artifact = build()
        with atomic_path(path) as tmp:
            save(artifact, tmp)
    return artifact
