"""Fashion-MNIST from its four idx ``.gz`` files (Debian's ``dataset-fashion-mnist`` installs them).

60,000 training and 10,000 test 28x28 grayscale images of 10 clothing classes. A seeded
``val_size`` of the training images is the search's validation split; the test images are for
final reports only. Every file is checked (idx magic number, count, shape, label range) and a
wrong or truncated one is a :class:`DatasetError` naming the file and the problem.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from yoso.cache import atomic_path
from yoso.config import ConfigError, check_int
from yoso.data.common import DatasetError, ImageDataModule, ImageDataset, Splits, normalise, seeded_permutation

log = logging.getLogger(__name__)

#: Where Debian's ``dataset-fashion-mnist`` package puts the files (``dpkg -L dataset-fashion-mnist``).
DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist"
#: The dataset's official download location and the MD5 of each official ``.gz`` file.
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
IMAGE_SIZE = 28


@dataclass(frozen=True)
class IdxFile:
    """One idx file of the set: its name, whether it holds images (else labels), the official archive's MD5."""

    name: str
    images: bool
    md5: str


TRAIN_IMAGES = IdxFile("train-images-idx3-ubyte.gz", True, "8d4fb7e6c68d591d4c3dfef9ec88bf0d")
TRAIN_LABELS = IdxFile("train-labels-idx1-ubyte.gz", False, "25c81989df183df01b3e8a0aad5dffbe")
TEST_IMAGES = IdxFile("t10k-images-idx3-ubyte.gz", True, "bef4ecab320f06d8554ea6380940ec79")
TEST_LABELS = IdxFile("t10k-labels-idx1-ubyte.gz", False, "bb300cfdad3c16e7a12a480ee83cd310")
FASHION_MNIST_FILES: tuple[IdxFile, ...] = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
#: The official set's training images (the bound of data.val_size + data.train_size).
TRAIN_COUNT = 60_000
#: What to do when the files are missing: one sentence, shown in the error.
GET_THE_DATA = (
    "get the four idx files with `apt-get install dataset-fashion-mnist` as root (or `make data`), point "
    f"data.root at a folder holding them, or set data.download=true to fetch them from {FASHION_MNIST_URL}"
)
#: idx magic numbers: 0x0000, 0x08 (unsigned byte), then the number of dimensions.
_UBYTE = 0x08


def read_idx(path: Path, images: bool, num_classes: int = 10) -> np.ndarray:
    """The uint8 array of one idx ``.gz`` file: N x 28 x 28 images, or N labels in [0, num_classes)."""
    ndim = 3 if images else 1
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:  # not gzip, truncated archive, unreadable
        raise DatasetError(f"{path}: not a readable gzip idx file ({type(err).__name__}: {err})") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: {len(raw)} bytes, shorter than an idx header ({header} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != (_UBYTE << 8 | ndim):
        raise DatasetError(
            f"{path}: idx magic number {magic:#010x}, expected {(_UBYTE << 8 | ndim):#010x} "
            f"(unsigned bytes, {ndim}-dimensional: {'images' if images else 'labels'})"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if images and dims[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetError(f"{path}: images of {dims[1]}x{dims[2]} pixels, expected {IMAGE_SIZE}x{IMAGE_SIZE}")
    size = int(np.prod(dims))
    if len(raw) - header != size:
        raise DatasetError(
            f"{path}: {len(raw) - header} data bytes after the header, its shape {dims} needs {size} (truncated?)"
        )
    data = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    if not images and data.max(initial=0) >= num_classes:
        raise DatasetError(f"{path}: labels must lie in [0, {num_classes}), found {data.min()}..{data.max()}")
    return data


def read_pair(root: Path, images: IdxFile, labels: IdxFile, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one split, checked to be as many."""
    x, y = read_idx(root / images.name, True, num_classes), read_idx(root / labels.name, False, num_classes)
    if len(x) != len(y):
        raise DatasetError(f"{root}: {images.name} holds {len(x)} images but {labels.name} {len(y)} labels")
    return x, y


def missing_files(root: Path) -> list[str]:
    """The Fashion-MNIST files absent from ``root``."""
    return [f.name for f in FASHION_MNIST_FILES if not (root / f.name).is_file()]


def check_root(root: Path) -> None:
    """A DatasetError naming ``root`` and what is missing there, and how to get the data."""
    missing = missing_files(root)
    if missing:
        where = "does not exist" if not root.is_dir() else f"lacks {missing}"
        raise DatasetError(f"Fashion-MNIST folder {root} {where}: {GET_THE_DATA}")


def download_fashion_mnist(root: Path, url: str = FASHION_MNIST_URL) -> None:
    """Fetch the missing official ``.gz`` files into ``root``, each checked against its MD5."""
    root.mkdir(parents=True, exist_ok=True)
    for item in FASHION_MNIST_FILES:
        target = root / item.name
        if target.is_file():
            continue
        log.info("downloading %s%s to %s", url, item.name, root)
        with atomic_path(target) as part:  # kept only when whole and checked
            try:
                with urllib.request.urlopen(url + item.name, timeout=60) as response, open(part, "wb") as out:
                    shutil.copyfileobj(response, out)
            except OSError as err:
                raise DatasetError(f"could not download {url}{item.name} into {root}: {err}") from None
            digest = hashlib.md5(part.read_bytes()).hexdigest()
            if digest != item.md5:
                raise DatasetError(f"{url}{item.name}: MD5 {digest} differs from the official {item.md5}")


def area_resize(images: np.ndarray, resolution: int) -> torch.Tensor:
    """uint8 N x 28 x 28 images as float N x 1 x r x r in [0, 1], area (box) down-sampled to ``resolution``."""
    x = torch.from_numpy(images.copy()).unsqueeze(1).float().div_(255.0)
    if resolution != IMAGE_SIZE:
        x = F.interpolate(x, size=(resolution, resolution), mode="area")
    return x


class FashionMNISTDataModule(ImageDataModule):
    """Fashion-MNIST as 1 x r x r images: seeded validation / training subsets, the official test set.

    ``val_size`` images of the 60k training set are the validation split; ``train_size`` (None: the rest)
    of the remaining ones train. ``resolution`` area-down-samples every split (28: the original).
    """

    name = "fashion_mnist"

    def __init__(
        self,
        root: str | Path = DEBIAN_ROOT,
        input_shape: Sequence[int] = (1, IMAGE_SIZE, IMAGE_SIZE),
        num_classes: int = 10,
        batch_size: int = 128,
        val_size: int = 10_000,
        train_size: int | None = None,
        resolution: int = IMAGE_SIZE,
        augment: bool = False,
        download: bool = False,
        num_workers: int = 0,
        seed: int = 0,
        name: str | None = None,
    ):
        super().__init__(input_shape, num_classes, batch_size, num_workers, seed, name)
        self.root = Path(root)
        self.val_size = check_int("data.val_size", val_size, 1, TRAIN_COUNT - 1)
        self.train_size = (
            None if train_size is None else check_int("data.train_size", train_size, 1, TRAIN_COUNT - self.val_size)
        )
        self.resolution = check_int("data.resolution", resolution, 1, IMAGE_SIZE)
        if list(self.input_shape) != [1, self.resolution, self.resolution]:
            raise ConfigError(
                "data.input_shape", list(input_shape), f"[1, {resolution}, {resolution}] (data.resolution)"
            )
        self.augment = bool(augment)
        self.download = bool(download)

    def prepare_data(self) -> None:
        if self.download and missing_files(self.root):
            download_fashion_mnist(self.root)

    def load_splits(self) -> Splits:
        self.prepare_data()
        check_root(self.root)
        train_x, train_y = read_pair(self.root, TRAIN_IMAGES, TRAIN_LABELS, self.num_classes)
        test_x, test_y = read_pair(self.root, TEST_IMAGES, TEST_LABELS, self.num_classes)
        if self.val_size + (self.train_size or 1) > len(train_y):
            raise DatasetError(
                f"data.val_size={self.val_size} and data.train_size={self.train_size} need more than the "
                f"{len(train_y)} training images in {self.root / TRAIN_IMAGES.name}"
            )
        order = seeded_permutation(len(train_y), self.seed)
        val_idx, rest = order[: self.val_size], order[self.val_size :]
        train_idx = rest if self.train_size is None else rest[: self.train_size]
        x_train = area_resize(train_x[train_idx], self.resolution)
        train = normalise(x_train, x_train)
        labels = torch.from_numpy(train_y.astype(np.int64))
        return Splits(
            train=ImageDataset(train, labels[train_idx], augment=self.augment, crop_padding=2),
            val=ImageDataset(normalise(area_resize(train_x[val_idx], self.resolution), x_train), labels[val_idx]),
            test=ImageDataset(
                normalise(area_resize(test_x, self.resolution), x_train), torch.from_numpy(test_y.astype(np.int64))
            ),
            calibration=ImageDataset(train, labels[train_idx]),
        )
