"""Fashion-MNIST: the idx loader on a generated fixture (every kind of bad file is a clear error), seeded
splits, down-sampling, the start-up check of search.py, and the real set when it is installed."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ROOT

from yoso.data import DatasetError, FashionMNISTDataModule
from yoso.data.fashion_mnist import (
    DEBIAN_ROOT,
    FASHION_MNIST_FILES,
    TEST_IMAGES,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    missing_files,
    read_idx,
)


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in the idx format: magic 0x0000 08 <ndim>, big-endian dims, the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fixture(root: Path, train: int = 60, test: int = 20, seed: int = 0) -> Path:
    """A tiny Fashion-MNIST folder: the four idx .gz files, random 28x28 images, labels 0..9."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for (images, labels), n in (((TRAIN_IMAGES, TRAIN_LABELS), train), ((TEST_IMAGES, FASHION_MNIST_FILES[3]), test)):
        (root / images.name).write_bytes(gzip.compress(idx_bytes(rng.integers(0, 256, (n, 28, 28)))))
        (root / labels.name).write_bytes(gzip.compress(idx_bytes(np.arange(n) % 10)))
    return root


def module(root: Path, **kwargs) -> FashionMNISTDataModule:
    args = {"val_size": 20, "train_size": None, "resolution": 28, "input_shape": (1, 28, 28), "batch_size": 8}
    args.update(kwargs)
    return FashionMNISTDataModule(root=root, **args)


def test_fixture_splits_are_seeded_disjoint_and_normalised(tmp_path: Path) -> None:
    root = write_fixture(tmp_path / "fm")
    dm = module(root, seed=1)
    dm.setup()
    s = dm.splits
    assert (len(s.train), len(s.val), len(s.test)) == (40, 20, 20)
    assert s.train.images.shape == (40, 1, 28, 28)
    assert abs(float(s.train.images.mean())) < 1e-5 and abs(float(s.train.images.std()) - 1) < 1e-2
    rows = {p: {tuple(x.flatten().tolist()) for x in getattr(s, p).images} for p in ("train", "val")}
    assert not rows["train"] & rows["val"]
    again = module(root, seed=1)
    again.setup()
    assert torch.equal(again.splits.val.images, s.val.images)
    other = module(root, seed=2)
    other.setup()
    assert not torch.equal(other.splits.val.labels, s.val.labels)
    # train_size takes a seeded subset of what validation leaves
    small = module(root, seed=1, train_size=10)
    small.setup()
    assert len(small.splits.train) == 10 and torch.equal(small.splits.val.labels, s.val.labels)


def test_area_downsampling_averages_pixel_blocks(tmp_path: Path) -> None:
    root = write_fixture(tmp_path / "fm")
    raw = read_idx(root / TEST_IMAGES.name, images=True)
    dm = module(root, resolution=14, input_shape=(1, 14, 14))
    dm.setup()
    assert dm.splits.test.images.shape == (20, 1, 14, 14)
    # the test split is normalised with the train split's statistics: undo it and compare with 2x2 block means
    blocks = raw.reshape(20, 14, 2, 14, 2).mean(axis=(2, 4)) / 255.0
    test = dm.splits.test.images[:, 0].numpy()
    slope, intercept = np.polyfit(blocks.ravel(), test.ravel(), 1)
    assert np.allclose(test, slope * blocks + intercept, atol=1e-4)


def test_loaders_give_batches_of_the_configured_shape(tmp_path: Path) -> None:
    dm = module(write_fixture(tmp_path / "fm"), resolution=14, input_shape=(1, 14, 14))
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 1, 14, 14) and y.dtype == torch.long
    assert sum(len(b[1]) for b in dm.val_tensors()) == 20
    assert len(dm.calibration_batches(2)) == 2


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing_folder", "does not exist"),
        ("missing_file", "lacks ['t10k-labels-idx1-ubyte.gz']"),
        ("truncated_gzip", "not a readable gzip idx file"),
        ("truncated_data", "truncated?"),
        ("not_gzip", "not a readable gzip idx file"),
        ("wrong_magic", "idx magic number 0x00000801, expected 0x00000803"),
        ("wrong_size", "images of 32x32 pixels, expected 28x28"),
        ("label_range", "labels must lie in [0, 10), found 0..12"),
        ("count_mismatch", "holds 60 images but train-labels-idx1-ubyte.gz 59 labels"),
    ],
)
def test_bad_files_are_clear_errors_naming_the_file(tmp_path: Path, damage: str, message: str) -> None:
    root = write_fixture(tmp_path / "fm")
    target = root / TRAIN_IMAGES.name
    if damage == "missing_folder":
        root, target = tmp_path / "nowhere", tmp_path / "nowhere"
    elif damage == "missing_file":
        (root / FASHION_MNIST_FILES[3].name).unlink()
        target = root
    elif damage == "truncated_gzip":
        data = target.read_bytes()
        target.write_bytes(data[: len(data) // 2])
    elif damage == "truncated_data":
        target.write_bytes(gzip.compress(gzip.decompress(target.read_bytes())[:-100]))
    elif damage == "not_gzip":
        target.write_bytes(b"<html>not found</html>")
    elif damage == "wrong_magic":
        target.write_bytes(gzip.compress(idx_bytes(np.zeros(60, dtype=np.uint8))))
    elif damage == "wrong_size":
        target.write_bytes(gzip.compress(idx_bytes(np.zeros((60, 32, 32), dtype=np.uint8))))
    elif damage == "label_range":
        target = root / TRAIN_LABELS.name
        target.write_bytes(gzip.compress(idx_bytes(np.arange(60) % 13)))
    elif damage == "count_mismatch":
        target = root
        (root / TRAIN_LABELS.name).write_bytes(gzip.compress(idx_bytes(np.arange(59) % 10)))
    with pytest.raises(DatasetError) as err:
        module(root).setup()
    assert message in str(err.value) and str(target) in str(err.value)


def test_sizes_beyond_the_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="need more than the 60 training images"):
        module(write_fixture(tmp_path / "fm"), val_size=50, train_size=20).setup()


def test_missing_files_lists_what_is_absent(tmp_path: Path) -> None:
    assert missing_files(tmp_path) == [f.name for f in FASHION_MNIST_FILES]
    assert missing_files(write_fixture(tmp_path / "fm")) == []


def _search(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0"}
    cmd = [
        sys.executable,
        str(ROOT / "search.py"),
        "data=fashion_mnist",
        "logger=none",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        *overrides,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)


def test_search_stops_before_any_work_on_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    result = _search(tmp_path, f"data.root={missing}")
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and str(missing) in errors[0] and "apt-get install dataset-fashion-mnist" in errors[0]
    assert not (tmp_path / "cache" / "hypernets").exists()


def test_search_stops_before_any_training_on_a_truncated_file(tmp_path: Path) -> None:
    root = write_fixture(tmp_path / "fm", train=60, test=20)
    data = (root / TEST_IMAGES.name).read_bytes()
    (root / TEST_IMAGES.name).write_bytes(data[:-300])
    result = _search(tmp_path, f"data.root={root}", "data.val_size=20", "data.train_size=null")
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and str(root / TEST_IMAGES.name) in errors[0]
    assert not list((tmp_path / "cache").glob("hypernets/*/*.ckpt"))


needs_real_data = pytest.mark.skipif(
    bool(missing_files(Path(DEBIAN_ROOT))),
    reason=f"Fashion-MNIST is not installed under {DEBIAN_ROOT} (`make data` or apt-get install dataset-fashion-mnist)",
)


@needs_real_data
def test_the_installed_set_is_the_official_one() -> None:
    labels = read_idx(Path(DEBIAN_ROOT) / TRAIN_LABELS.name, images=False)
    assert labels.shape == (60_000,) and np.array_equal(np.bincount(labels), np.full(10, 6000))
    dm = FashionMNISTDataModule(val_size=10_000, train_size=2_000, resolution=14, input_shape=(1, 14, 14), seed=0)
    dm.setup()
    assert (len(dm.splits.train), len(dm.splits.val), len(dm.splits.test)) == (2_000, 10_000, 10_000)
    assert set(np.bincount(dm.splits.val.labels.numpy())) <= set(range(900, 1100))  # a seeded, roughly balanced draw
