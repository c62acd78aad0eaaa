"""What the DataModules share: the dataset error, an in-memory image dataset with plain-torch
augmentation, and the split/loader logic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from yoso.config import InputError, check_float, check_int


class DatasetError(InputError):
    """A dataset folder or file that is missing or not in the expected format; the message says
    what was expected where."""


class ImageDataset(Dataset):
    """Images held in memory as a float tensor N x C x H x W, already normalised.

    ``augment`` applies the paper's standard CIFAR augmentation per sample in plain torch:
    a random crop of the zero-padded image (pad ``crop_padding``) and a horizontal flip.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, augment: bool = False, crop_padding: int = 4):
        if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(
                f"expected images N x C x H x W and N labels, got {tuple(images.shape)} and {tuple(labels.shape)}"
            )
        self.images = images.contiguous()
        self.labels = labels.long()
        self.augment = augment
        self.pad = crop_padding

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[index]
        if self.augment:
            x = random_crop_flip(x, self.pad)
        return x, self.labels[index]


def random_crop_flip(x: torch.Tensor, pad: int) -> torch.Tensor:
    """A random ``H x W`` crop of ``x`` zero-padded by ``pad`` pixels, flipped left-right with p=0.5."""
    _, h, w = x.shape
    if pad > 0:
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        top, left = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
        x = x[:, top : top + h, left : left + w]
    if torch.rand(()) < 0.5:
        x = x.flip(-1)
    return x


@dataclass(frozen=True)
class Splits:
    """Train / validation / test datasets and the train split's calibration view (no augmentation)."""

    train: ImageDataset
    val: ImageDataset
    test: ImageDataset
    calibration: ImageDataset


def check_shape(name: str, images: torch.Tensor, input_shape: Sequence[int]) -> None:
    """A DatasetError unless the images are N x ``input_shape``."""
    if tuple(images.shape[1:]) != tuple(int(v) for v in input_shape):
        raise DatasetError(
            f"{name}: images have shape {tuple(images.shape[1:])}, the config's data.input_shape is {list(input_shape)}"
        )


class ImageDataModule(pl.LightningDataModule):
    """Loaders over fixed, seeded splits: shuffled train, ordered val/test, and calibration batches.

    Subclasses implement :meth:`load_splits`; ``setup`` is idempotent.
    """

    name = "base"

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        batch_size: int,
        num_workers: int = 0,
        seed: int = 0,
        name: str | None = None,
    ):
        super().__init__()
        if name is not None and name != self.name:
            raise DatasetError(f"data.name={name!r} given to the {self.name!r} DataModule")
        self.input_shape = tuple(check_int(f"data.input_shape[{i}]", v, 1) for i, v in enumerate(input_shape))
        self.num_classes = check_int("data.num_classes", num_classes, 2)
        self.batch_size = check_int("data.batch_size", batch_size, 1)
        self.num_workers = check_int("data.num_workers", num_workers, 0)
        self.seed = check_int("seed", seed, 0, 2**32 - 1)
        self.splits: Splits | None = None

    def load_splits(self) -> Splits:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:
            self.splits = self.load_splits()
            for part in ("train", "val", "test"):
                check_shape(f"{self.name} {part} split", getattr(self.splits, part).images, self.input_shape)

    def _split(self) -> Splits:
        self.setup()
        assert self.splits is not None
        return self.splits

    def _loader(self, data: Dataset, shuffle: bool, drop_last: bool = False) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            data,
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            generator=generator,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self._split().train, shuffle=True, drop_last=len(self._split().train) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._split().val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._split().test, shuffle=False)

    def calibration_batches(self, num_batches: int) -> list[torch.Tensor]:
        """The first ``num_batches`` input batches of the train split in a fixed seeded order, without
        augmentation: the BatchNorm recalibration data of sub-network evaluation (deterministic)."""
        data = self._split().calibration
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(self.seed + 1))
        images = data.images[order]
        return [images[i : i + self.batch_size] for i in range(0, len(images), self.batch_size)][:num_batches]

    def val_tensors(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The validation split as ordered ``(inputs, labels)`` batches."""
        data = self._split().val
        return [
            (data.images[i : i + self.batch_size], data.labels[i : i + self.batch_size])
            for i in range(0, len(data), self.batch_size)
        ]


def normalise(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``images`` normalised per channel with the mean and std of ``reference`` (the train split)."""
    dims = (0, 2, 3)
    mean = reference.mean(dim=dims, keepdim=True)
    std = reference.std(dim=dims, keepdim=True).clamp_min(1e-6)
    return (images - mean) / std


def seeded_permutation(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)


def check_fraction(key: str, value: float) -> float:
    return check_float(key, value, greater_than=0.0, less_than=1.0)
