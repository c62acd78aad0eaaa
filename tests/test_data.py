"""DataModules: fixed seeded splits, normalisation, CIFAR-10's on-disk format and clear dataset errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from yoso.data import CIFAR10_FILES, CIFAR10DataModule, DatasetError, DigitsDataModule
from yoso.data.common import random_crop_flip


def write_cifar_fixture(root: Path, per_batch: int = 12, test: int = 10, seed: int = 0) -> Path:
    """A tiny CIFAR-10 folder in the exact on-disk format: pickled dicts, b'data' uint8 N x 3072, b'labels'."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = test if name == "test_batch" else per_batch
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)],
        }
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)], b"num_cases_per_batch": per_batch}
    with open(root / "batches.meta", "wb") as f:
        pickle.dump(meta, f)
    return root


def test_digits_splits_are_disjoint_seeded_and_normalised() -> None:
    dm = DigitsDataModule(batch_size=32, seed=3)
    dm.setup()
    s = dm.splits
    assert (len(s.train), len(s.val), len(s.test)) == (1077, 360, 360)
    assert s.train.images.shape[1:] == (1, 8, 8)
    assert abs(float(s.train.images.mean())) < 1e-5 and abs(float(s.train.images.std()) - 1) < 1e-2
    # disjoint: no image appears in two splits
    rows = {p: {tuple(x.flatten().tolist()) for x in getattr(s, p).images} for p in ("train", "val", "test")}
    assert not rows["val"] & rows["test"]
    again = DigitsDataModule(batch_size=32, seed=3)
    again.setup()
    assert torch.equal(again.splits.val.images, s.val.images) and torch.equal(again.splits.val.labels, s.val.labels)
    other = DigitsDataModule(batch_size=32, seed=4)
    other.setup()
    assert not torch.equal(other.splits.val.labels, s.val.labels)
    # every class is present in validation (stratified)
    assert set(s.val.labels.tolist()) == set(range(10))


def test_digits_loaders_and_calibration_batches() -> None:
    dm = DigitsDataModule(batch_size=50, seed=0)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (50, 1, 8, 8) and y.dtype == torch.long
    first = dm.calibration_batches(3)
    assert len(first) == 3 and all(b.shape == (50, 1, 8, 8) for b in first)
    assert all(torch.equal(a, b) for a, b in zip(first, dm.calibration_batches(3)))
    assert sum(len(v) for v, _ in dm.val_tensors()) == 360


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"val_fraction": 0.0}, "data.val_fraction"),
        ({"test_fraction": 1.5}, "data.test_fraction"),
        ({"batch_size": 0}, "data.batch_size"),
    ],
)
def test_digits_rejects_bad_settings(kwargs: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        DigitsDataModule(**kwargs)


def test_digits_rejects_wrong_input_shape() -> None:
    dm = DigitsDataModule(input_shape=(3, 32, 32))
    with pytest.raises(DatasetError, match=r"shape \(1, 8, 8\).*data.input_shape is \[3, 32, 32\]"):
        dm.setup()


def test_cifar10_reads_the_python_batches(tmp_path: Path) -> None:
    root = write_cifar_fixture(tmp_path / "cifar-10-batches-py")
    dm = CIFAR10DataModule(root, batch_size=8, val_size=10, num_workers=0, seed=0)
    dm.setup()
    s = dm.splits
    assert (len(s.train), len(s.val), len(s.test)) == (50, 10, 10)
    assert s.train.images.shape[1:] == (3, 32, 32)
    assert torch.allclose(s.train.images.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    # the test split is test_batch, image for image (row-major 3x32x32, normalised)
    with open(root / "test_batch", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    assert s.test.labels.tolist() == raw[b"labels"]
    first = torch.as_tensor(raw[b"data"][0].reshape(3, 32, 32)).float() / 255
    for c in range(3):  # normalisation is an increasing affine map per channel
        pair = torch.stack([s.test.images[0, c].flatten(), first[c].flatten()])
        assert float(torch.corrcoef(pair)[0, 1]) > 0.9999
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 3, 32, 32) and y.shape == (8,)
    assert s.train.augment and not s.val.augment and not s.calibration.augment


def test_random_crop_flip_keeps_shape_and_content() -> None:
    torch.manual_seed(0)
    x = torch.arange(3 * 6 * 6, dtype=torch.float32).reshape(3, 6, 6)
    outs = [random_crop_flip(x, 2) for _ in range(20)]
    assert all(o.shape == x.shape for o in outs)
    assert any(not torch.equal(o, x) for o in outs)
    assert torch.equal(random_crop_flip(x, 0).flip(-1), x) or torch.equal(random_crop_flip(x, 0), x)


def test_cifar10_missing_folder_names_files_and_path(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    dm = CIFAR10DataModule(root, val_size=10, num_workers=0)
    with pytest.raises(DatasetError) as info:
        dm.setup()
    message = str(info.value)
    assert str(root) in message and "does not exist" in message
    assert all(name in message for name in CIFAR10_FILES) and "data.download=true" in message


def test_cifar10_missing_file_is_named(tmp_path: Path) -> None:
    root = write_cifar_fixture(tmp_path / "c")
    (root / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match=r"lacks \['data_batch_3'\]"):
        CIFAR10DataModule(root, val_size=10, num_workers=0).setup()


class _RunsCode:
    """Pickles as a call of ``print``: what a malicious batch would do with ``os.system``."""

    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({b"data": np.zeros((4, 3072), np.uint8)}, "b'data' and b'labels'"),
        ({b"data": np.zeros((4, 1024), np.uint8), b"labels": [0] * 4}, "uint8 array N x 3072"),
        ({b"data": np.zeros((4, 3072), np.float32), b"labels": [0] * 4}, "uint8 array N x 3072"),
        ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3}, "4 images but b'labels'"),
        ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 11]}, "labels must lie in [0, 10)"),
        (b"not a pickle", "not a readable CIFAR-10 python batch"),
        # a pickle that would run code when loaded: refused before anything runs
        (pickle.dumps({b"data": _RunsCode(), b"labels": [0]}, protocol=2), "names __builtin__.print"),
    ],
)
def test_cifar10_malformed_batches_give_clear_errors(tmp_path: Path, payload, expected: str) -> None:
    root = write_cifar_fixture(tmp_path / "c")
    target = root / "data_batch_2"
    if isinstance(payload, bytes):
        target.write_bytes(payload)
    else:
        with open(target, "wb") as f:
            pickle.dump(payload, f)
    with pytest.raises(DatasetError) as info:
        CIFAR10DataModule(root, val_size=10, num_workers=0).setup()
    assert expected in str(info.value)
    if "labels must" not in expected:
        assert str(target) in str(info.value)


def test_cifar10_val_size_larger_than_data(tmp_path: Path) -> None:
    root = write_cifar_fixture(tmp_path / "c")
    with pytest.raises(DatasetError, match="data.val_size=100 but .* holds only 60"):
        CIFAR10DataModule(root, val_size=100, num_workers=0).setup()


def test_cifar10_download_unpacks_the_archive(tmp_path: Path, monkeypatch) -> None:
    """data.download=true fetches the archive (here a local file URL) and unpacks its batches."""
    import hashlib
    import tarfile

    from yoso.data import cifar10

    src = write_cifar_fixture(tmp_path / "src" / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    monkeypatch.setattr(cifar10, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(cifar10, "CIFAR10_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(cifar10.download_cifar10, "__defaults__", (archive.as_uri(), cifar10.CIFAR10_MD5))
    root = tmp_path / "data" / "cifar-10-batches-py"
    dm = CIFAR10DataModule(root, val_size=10, num_workers=0, download=True)
    dm.setup()
    assert len(dm.splits.train) == 50 and sorted(p.name for p in root.iterdir()) == sorted(CIFAR10_FILES)


def test_fashion_mnist_download_keeps_no_file_that_fails_its_md5(tmp_path: Path) -> None:
    """A downloaded file is renamed into the data folder only when whole and matching its MD5."""
    from yoso.data.fashion_mnist import FASHION_MNIST_FILES, download_fashion_mnist

    source = tmp_path / "mirror"
    source.mkdir()
    for item in FASHION_MNIST_FILES:
        (source / item.name).write_bytes(b"not the official file")
    root = tmp_path / "fm"
    with pytest.raises(DatasetError, match="MD5"):
        download_fashion_mnist(root, source.as_uri() + "/")
    assert list(root.iterdir()) == []
