"""LightningDataModules with fixed, seeded train / validation / test splits (docs/architecture.md §3).

The search reads the validation split only; the test split is for final reports.
"""

from yoso.data.cifar10 import CIFAR10_FILES, CIFAR10DataModule
from yoso.data.common import DatasetError, ImageDataModule, ImageDataset
from yoso.data.digits import DigitsDataModule
from yoso.data.fashion_mnist import FASHION_MNIST_FILES, FashionMNISTDataModule

__all__ = [
    "CIFAR10_FILES",
    "CIFAR10DataModule",
    "DatasetError",
    "DigitsDataModule",
    "FASHION_MNIST_FILES",
    "FashionMNISTDataModule",
    "ImageDataModule",
    "ImageDataset",
]
