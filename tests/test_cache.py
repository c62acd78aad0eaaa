"""The artifact cache: a stable key, an atomic write, and one build under parallel callers."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from yoso.cache import artifact_path, atomic_path, atomic_write, digest, get_or_build


def test_digest_is_stable_across_processes_and_key_order() -> None:
    # pinned: a cache key must not change between runs, Python versions or processes (no hash randomisation)
    assert digest({"a": 1, "b": [1, 2.5, "x"]}) == "b80e7b20d832f7d5ef62"
    assert digest({"b": [1, 2.5, "x"], "a": 1}) == digest({"a": 1, "b": [1, 2.5, "x"]})
    assert digest({"a": 1}) != digest({"a": 2}) and digest({"a": [1, 2]}) != digest({"a": [2, 1]})


def test_artifact_path_is_keyed_by_the_config(tmp_path: Path) -> None:
    path = artifact_path(tmp_path, "predictors", "gp", {"n": 3}, ".npz")
    assert path == tmp_path / "predictors" / f"gp-{digest({'n': 3})}.npz"
    assert artifact_path(tmp_path, "samples", "", {"n": 3}, ".npz").name == f"{digest({'n': 3})}.npz"
    assert artifact_path(None, "predictors", "gp", {"n": 3}, ".npz") is None


def test_atomic_write_replaces_whole_files_and_keeps_the_old_one_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.bin"
    assert atomic_write(path, b"one") == path and path.read_bytes() == b"one"
    atomic_write(path, "two")
    assert path.read_text() == "two"
    atomic_write(path, lambda handle: handle.write(b"three"))
    assert path.read_bytes() == b"three"

    def fail(handle) -> None:
        handle.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_bytes() == b"three"  # the old content, whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.bin"]  # no temporary file left behind


def test_atomic_path_hands_path_writers_a_temporary_file_with_the_same_suffix(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    with atomic_path(path) as tmp:
        assert tmp.parent == path.parent and tmp.suffix == ".npz" and tmp != path
        np.savez(tmp, x=np.arange(3))  # np.savez adds ".npz" to a path without it
    with np.load(path) as data:
        np.testing.assert_array_equal(data["x"], np.arange(3))
    with pytest.raises(RuntimeError, match="killed"), atomic_path(path) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"] and np.load(path)["x"].tolist() == [0, 1, 2]


def _build_slowly(path: str, log: str) -> str:
    def build() -> str:
        with open(log, "a") as handle:
            handle.write("built\n")
        time.sleep(0.5)
        return "artifact"

    return get_or_build(Path(path), build, lambda p: p.read_text(), lambda value, tmp: tmp.write_text(value))


def test_get_or_build_builds_once_then_loads(tmp_path: Path) -> None:
    path, log = tmp_path / "x" / "a.txt", tmp_path / "log"
    assert _build_slowly(str(path), str(log)) == "artifact" and path.read_text() == "artifact"
    path.write_text("cached")  # a second call loads the file, it does not build again
    assert _build_slowly(str(path), str(log)) == "cached"
    assert log.read_text().count("built") == 1
    calls = []
    assert get_or_build(None, lambda: calls.append(1) or "fresh", None, None) == "fresh"  # no cache: build
    assert calls == [1]


def test_parallel_callers_build_once(tmp_path: Path) -> None:
    path, log = tmp_path / "a.txt", tmp_path / "log"
    context = multiprocessing.get_context("fork")
    with context.Pool(3) as pool:
        results = pool.starmap(_build_slowly, [(str(path), str(log))] * 3)
    assert results == ["artifact"] * 3
    assert log.read_text().count("built") == 1


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path: Path) -> None:
    """SIGKILL in the middle of a write leaves ``.<stem>.tmp<pid><suffix>``; the next write of that path removes it
    (a live writer's temporary file is left alone)."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f".search.tmp{int(dead.stdout)}.ckpt"
    live = tmp_path / f".search.tmp{os.getppid()}.ckpt"
    orphan.write_bytes(b"half")
    live.write_bytes(b"busy")
    atomic_write(tmp_path / "search.ckpt", b"whole")
    assert (tmp_path / "search.ckpt").read_bytes() == b"whole"
    assert not orphan.exists() and live.exists()
