"""CIFAR-10 from the standard python batches (``data_batch_1..5``, ``test_batch``, ``batches.meta``)."""

from __future__ import annotations

import functools
import hashlib
import logging
import pickle  # CIFAR-10's python version is pickled dicts of numpy arrays; read by _BatchUnpickler, which runs no code
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yoso.cache import atomic_write
from yoso.config import check_int
from yoso.data.common import DatasetError, ImageDataModule, ImageDataset, Splits, normalise, seeded_permutation

log = logging.getLogger(__name__)

#: The files of the python version of CIFAR-10, as the archive unpacks them.
CIFAR10_FILES: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
_PIXELS = 3 * 32 * 32


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10: ``val_size`` images held out of the training batches (seeded), ``test_batch`` as test.

    Training images get a random crop (pad 4) and a horizontal flip (paper §III.A); all splits
    are normalised per channel with the train split's statistics. Downloads only when
    ``download`` is true.
    """

    name = "cifar10"

    def __init__(
        self,
        root: str | Path,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        batch_size: int = 144,
        val_size: int = 5000,
        augment: bool = True,
        download: bool = False,
        num_workers: int = 2,
        seed: int = 0,
        name: str | None = None,
    ):
        super().__init__(input_shape, num_classes, batch_size, num_workers, seed, name)
        self.root = Path(root)
        self.val_size = check_int("data.val_size", val_size, 1)
        self.augment = bool(augment)
        self.download = bool(download)

    def prepare_data(self) -> None:
        if self.download and missing_files(self.root):
            download_cifar10(self.root)

    def load_splits(self) -> Splits:
        self.prepare_data()
        missing = missing_files(self.root)
        if missing:
            where = "does not exist" if not self.root.is_dir() else f"lacks {missing}"
            raise DatasetError(
                f"CIFAR-10 folder {self.root} {where}: expected the python batches {list(CIFAR10_FILES)} "
                f"there (cifar-10-python.tar.gz unpacked). Set data.root to that folder, or "
                f"data.download=true to fetch it from {CIFAR10_URL}"
            )
        parts = [read_batch(self.root / f"data_batch_{i}") for i in range(1, 6)]
        train_x = np.concatenate([x for x, _ in parts])
        train_y = np.concatenate([y for _, y in parts])
        test_x, test_y = read_batch(self.root / "test_batch")
        for y, where in ((train_y, "data_batch_*"), (test_y, "test_batch")):
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise DatasetError(
                    f"{self.root}/{where}: labels must lie in [0, {self.num_classes}), found {y.min()}..{y.max()}"
                )
        if self.val_size >= len(train_y):
            raise DatasetError(
                f"data.val_size={self.val_size} but {self.root} holds only {len(train_y)} training images"
            )
        order = seeded_permutation(len(train_y), self.seed)
        val_idx, train_idx = order[: self.val_size], order[self.val_size :]
        images = torch.as_tensor(train_x).float().div_(255.0)
        x_train = images[train_idx]
        x_test = torch.as_tensor(test_x).float().div_(255.0)
        labels = torch.as_tensor(train_y)
        train = normalise(x_train, x_train)
        return Splits(
            train=ImageDataset(train, labels[train_idx], augment=self.augment),
            val=ImageDataset(normalise(images[val_idx], x_train), labels[val_idx]),
            test=ImageDataset(normalise(x_test, x_train), torch.as_tensor(test_y)),
            calibration=ImageDataset(train, labels[train_idx]),
        )


def missing_files(root: Path) -> list[str]:
    """The CIFAR-10 files absent from ``root``."""
    return [name for name in CIFAR10_FILES if not (root / name).is_file()]


#: The only globals a CIFAR-10 batch may name: numpy's array and dtype reconstructors (and, in a pickle of protocol
#: 2 written by Python 3, ``_codecs.encode`` for bytes). Each builds data; none runs code of the file's choosing.
_BATCH_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR-10 batch and refuses any global beyond :data:`_BATCH_GLOBALS` (a file cannot run code)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _BATCH_GLOBALS:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch never holds")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N x 3 x 32 x 32 uint8) and labels of one pickled batch; DatasetError if malformed."""
    try:
        with open(path, "rb") as f:
            batch: Any = _BatchUnpickler(f, encoding="bytes").load()
    except Exception as err:  # truncated file, not a pickle, ...
        raise DatasetError(f"{path}: not a readable CIFAR-10 python batch ({type(err).__name__}: {err})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DatasetError(f"{path}: expected a pickled dict with b'data' and b'labels', got {keys}")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        raise DatasetError(
            f"{path}: b'data' must be a uint8 array N x {_PIXELS} (3x32x32 images), got {data.dtype} {data.shape}"
        )
    if labels.shape != (len(data),):
        raise DatasetError(f"{path}: {len(data)} images but b'labels' has shape {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def download_cifar10(root: Path, url: str = CIFAR10_URL, md5: str = CIFAR10_MD5) -> None:
    """Fetch the CIFAR-10 python archive, check its MD5, and unpack its batches into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    log.info("downloading CIFAR-10 from %s to %s", url, root)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        archive = Path(tmp) / "cifar-10-python.tar.gz"
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as err:
            raise DatasetError(f"could not download CIFAR-10 from {url} into {root}: {err}") from None
        digest = hashlib.md5(archive.read_bytes()).hexdigest()
        if digest != md5:
            raise DatasetError(f"{url}: MD5 {digest} differs from the expected {md5}; the download is corrupt")
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if member.isfile() and name in CIFAR10_FILES:
                    source = tar.extractfile(member)
                    assert source is not None
                    with source:
                        atomic_write(root / name, functools.partial(shutil.copyfileobj, source))
