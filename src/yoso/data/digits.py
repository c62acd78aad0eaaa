"""scikit-learn's bundled 8x8 handwritten digits (1797 images): real data that needs no network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from yoso.config import ConfigError
from yoso.data.common import DatasetError, ImageDataModule, ImageDataset, Splits, check_fraction, normalise


class DigitsDataModule(ImageDataModule):
    """Digits as 1x8x8 images, normalised with the train split's statistics; stratified seeded splits.

    No augmentation: crops and flips change what a digit means at 8x8.
    """

    name = "digits"

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 8, 8),
        num_classes: int = 10,
        batch_size: int = 64,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        num_workers: int = 0,
        seed: int = 0,
        name: str | None = None,
    ):
        super().__init__(input_shape, num_classes, batch_size, num_workers, seed, name)
        self.val_fraction = check_fraction("data.val_fraction", val_fraction)
        self.test_fraction = check_fraction("data.test_fraction", test_fraction)
        if self.val_fraction + self.test_fraction >= 1.0:  # no training data left
            raise ConfigError(
                "data.test_fraction", test_fraction, f"< {1.0 - self.val_fraction} so that data.val_fraction + it < 1"
            )

    def load_splits(self) -> Splits:
        digits = load_digits()
        images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        labels = torch.as_tensor(digits.target, dtype=torch.long)
        if int(labels.max()) >= self.num_classes:
            raise DatasetError(f"digits has 10 classes, the config's data.num_classes is {self.num_classes}")
        index = torch.arange(len(labels)).numpy()
        rest, test = train_test_split(
            index, test_size=self.test_fraction, random_state=self.seed, stratify=labels.numpy()
        )
        train, val = train_test_split(
            rest,
            test_size=self.val_fraction / (1.0 - self.test_fraction),
            random_state=self.seed,
            stratify=labels.numpy()[rest],
        )
        x_train = images[train]
        part = {
            k: (normalise(images[v], x_train), labels[v]) for k, v in (("train", train), ("val", val), ("test", test))
        }
        return Splits(
            train=ImageDataset(*part["train"]),
            val=ImageDataset(*part["val"]),
            test=ImageDataset(*part["test"]),
            calibration=ImageDataset(*part["train"]),
        )
