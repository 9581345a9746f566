"""Data sets as tensors: train / validation / test splits, normalised, ready to move to a device.

The validation split is carved out of the training set with the run's seed; the reward is
computed on it. The test split is the data set's own held-out set and is touched only to report
the final accuracy of the best architecture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from child.data.config import (
    Cifar10Config,
    DigitsConfig,
    FashionMnistConfig,
    Mnist1dConfig,
    MnistConfig,
    SyntheticConfig,
)
from child.data.image_files import ImageArrays, read_cifar10, read_fashion_mnist, read_mnist
from core.errors import ConfigError
from core.registry import PartDef, Registry


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test tensors of one data set, with its number of classes."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    hflip: bool = False  # whether horizontal flips preserve the label (not for digits)
    # The per-channel statistics every split was standardised with, shaped (1, C, 1[, 1]): an
    # exported model applies them itself, so that it takes the data as read (app/export.py).
    input_mean: torch.Tensor | None = None
    input_std: torch.Tensor | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example: (C, L) for 1-D data, (C, H, W) for images."""
        return tuple(self.train_x.shape[1:])

    def to(self, device: torch.device | str) -> DataSplits:
        """The same splits with every tensor on `device`."""
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return dataclasses.replace(self, **moved)

    def describe(self) -> str:
        """One line: name, shape and split sizes."""
        return (
            f"{self.name}: input {tuple(self.input_shape)}, {self.num_classes} classes, "
            f"train {len(self.train_y)} / val {len(self.val_y)} / test {len(self.test_y)}"
        )


def carve(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices 0..n-1 into (kept, carved) with `fraction` carved, deterministically."""
    order = np.random.default_rng(seed).permutation(n)
    n_carved = int(round(n * fraction))
    return np.sort(order[n_carved:]), np.sort(order[:n_carved])


def make_splits(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    val_fraction: float,
    seed: int,
    num_classes: int,
) -> DataSplits:
    """Carve a validation split from `train` and standardise all splits with train statistics."""
    x, y = train
    keep, val = carve(len(y), val_fraction, seed)
    train_x = torch.as_tensor(x[keep], dtype=torch.float32)
    # Per-channel statistics over every axis but the channel axis.
    axes = [0] + list(range(2, train_x.ndim))
    mean = train_x.mean(dim=axes, keepdim=True)
    std = train_x.std(dim=axes, keepdim=True).clamp_min(1e-6)

    def norm(a: np.ndarray) -> torch.Tensor:
        return (torch.as_tensor(a, dtype=torch.float32) - mean) / std

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.long)

    return DataSplits(
        name=name,
        train_x=norm(x[keep]),
        train_y=labels(y[keep]),
        val_x=norm(x[val]),
        val_y=labels(y[val]),
        test_x=norm(test[0]),
        test_y=labels(test[1]),
        num_classes=num_classes,
        input_mean=mean,
        input_std=std,
    )


@lru_cache(maxsize=1)
def _mnist1d_arrays() -> dict[str, np.ndarray]:
    # make_dataset is deterministic (its args fix the seed) and takes ~1.5 s: build it once.
    from mnist1d.data import get_dataset_args, make_dataset

    return make_dataset(get_dataset_args())


def load_mnist1d(cfg: Mnist1dConfig, seed: int) -> DataSplits:
    """MNIST-1D (Greydanus 2020) from the `mnist1d` generator: inputs (1, 40), 10 classes."""
    d = _mnist1d_arrays()
    return make_splits(
        "mnist1d",
        train=(d["x"][:, None, :], d["y"]),
        test=(d["x_test"][:, None, :], d["y_test"]),
        val_fraction=cfg.val_fraction,
        seed=seed,
        num_classes=10,
    )


def load_digits(cfg: DigitsConfig, seed: int) -> DataSplits:
    """scikit-learn's 8×8 digits: inputs (1, 8, 8), 10 classes; the test split is fixed."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = bunch.images[:, None, :, :].astype(np.float32)
    y = bunch.target.astype(np.int64)
    # The test split depends on split_seed only, so that runs with different seeds share it.
    train, test = carve(len(y), cfg.test_fraction, cfg.split_seed)
    return make_splits(
        "digits", (x[train], y[train]), (x[test], y[test]), cfg.val_fraction, seed, 10
    )


def load_cifar10(cfg: Cifar10Config, seed: int) -> DataSplits:
    """CIFAR-10 from local files (binary or python version): inputs (3, 32, 32), 10 classes."""
    return _image_splits(cfg, seed, read_cifar10, hflip=True)


def load_fashion_mnist(cfg: FashionMnistConfig, seed: int) -> DataSplits:
    """Fashion-MNIST from local IDX files: inputs (1, 28, 28), 10 classes."""
    # A mirrored shoe or shirt is still a shoe or a shirt, unlike a mirrored digit.
    return _image_splits(cfg, seed, read_fashion_mnist, hflip=True)


def load_mnist(cfg: MnistConfig, seed: int) -> DataSplits:
    """MNIST from local IDX files: inputs (1, 28, 28), 10 classes."""
    return _image_splits(cfg, seed, read_mnist, hflip=False)


def _image_splits(
    cfg: Any, seed: int, read: Callable[[str], ImageArrays], hflip: bool
) -> DataSplits:
    """Read `cfg.path`, keep the first `cfg.limit` training images, carve and standardise."""
    train_x, train_y, test_x, test_y = read(cfg.path)
    if cfg.limit is not None:
        train_x, train_y = train_x[: cfg.limit], train_y[: cfg.limit]
    splits = make_splits(
        cfg.name, (train_x, train_y), (test_x, test_y), cfg.val_fraction, seed, num_classes=10
    )
    if not len(splits.train_y) or not len(splits.val_y):
        key, value = ("dataset.limit", cfg.limit) if cfg.limit else ("dataset.path", cfg.path)
        raise ConfigError(
            f"{key}={value!r} is invalid: expected enough training images for a train and a "
            f"validation split, but {len(train_y)} images with dataset.val_fraction="
            f"{cfg.val_fraction} leave {len(splits.train_y)} / {len(splits.val_y)}"
        )
    return dataclasses.replace(splits, hflip=hflip)


def load_synthetic(cfg: SyntheticConfig, seed: int) -> DataSplits:
    """Synthetic data (see `SyntheticConfig`): class templates plus noise, in `cfg.shape`."""
    generator = torch.Generator().manual_seed(cfg.data_seed)
    channels, *size = cfg.shape
    # Coarse grids smoothed to full size: structure a convolution can pick up.
    coarse = torch.randn(cfg.classes, channels, *[min(4, s) for s in size], generator=generator)
    mode = "linear" if len(size) == 1 else "bilinear"
    templates = F.interpolate(coarse, size=tuple(size), mode=mode, align_corners=False)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = torch.randint(cfg.classes, (n,), generator=generator)
        x = templates[y] + cfg.noise * torch.randn(n, *cfg.shape, generator=generator)
        return x.numpy(), y.numpy()

    train = draw(cfg.train)
    return make_splits("synthetic", train, draw(cfg.test), cfg.val_fraction, seed, cfg.classes)


@dataclass(frozen=True)
class DatasetDef(PartDef):
    """A data set, declared by its module as `DATASET = DatasetDef(...)` (or a tuple of them).

    - `config`: the dataclass schema of `dataset=<name>`, with a `check()` that reads no file.
    - `load`: (config, run seed) → its `DataSplits`, the validation split carved with the seed.
    - `class_names`: config → the name of each class index, read cheaply (None: unknown).
    """

    load: Callable[[Any, int], DataSplits]
    class_names: Callable[[Any], tuple[str, ...] | None] | None = None


DIGIT_NAMES = tuple(str(k) for k in range(10))
CIFAR10_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
FASHION_MNIST_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def _fixed(names: tuple[str, ...]) -> Callable[[Any], tuple[str, ...]]:
    return lambda cfg: names


DATASET = (
    DatasetDef("mnist1d", Mnist1dConfig, load_mnist1d, _fixed(DIGIT_NAMES)),
    DatasetDef("digits", DigitsConfig, load_digits, _fixed(DIGIT_NAMES)),
    DatasetDef("cifar10", Cifar10Config, load_cifar10, _fixed(CIFAR10_NAMES)),
    DatasetDef(
        "fashion_mnist", FashionMnistConfig, load_fashion_mnist, _fixed(FASHION_MNIST_NAMES)
    ),
    DatasetDef("mnist", MnistConfig, load_mnist, _fixed(DIGIT_NAMES)),
    DatasetDef(name="synthetic", config=SyntheticConfig, load=load_synthetic),
)

# Every `DATASET` of `child/data/`: a new data set is a module there plus conf/dataset/<name>.yaml.
DATASETS: Registry[DatasetDef] = Registry("dataset", __package__, DatasetDef, "DATASET")


def check_dataset(cfg: Any) -> None:
    """Raise ConfigError for a bad `dataset` config; files are looked for, never read."""
    DATASETS.check(cfg)


def load_dataset(cfg: Any, seed: int) -> DataSplits:
    """Load the data set of a checked `dataset` config (a `child.data.config` schema instance)."""
    check_dataset(cfg)
    splits = DATASETS[cfg.name].load(cfg, seed)
    if getattr(cfg, "imbalance", None) is not None:
        splits = imbalanced(splits, cfg.imbalance, seed)
    return splits


def class_names(cfg: Any) -> tuple[str, ...] | None:
    """The name of each class index of the data set `cfg` names, when it is known."""
    names = DATASETS.find(cfg.name).class_names
    return names(cfg) if names is not None else None


def imbalanced(splits: DataSplits, imbalance: float, seed: int) -> DataSplits:
    """The splits with training and validation classes thinned, the test set kept.

    Class k of C keeps the share imbalance ** (k / (C - 1)) of its examples, chosen with `seed`.
    """
    rng = np.random.default_rng([seed, 1])  # its own stream: the split itself stays as it was
    classes = splits.num_classes

    def thin(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = []
        labels = y.cpu().numpy()
        for k in range(classes):
            members = np.flatnonzero(labels == k)
            share = imbalance ** (k / max(1, classes - 1))
            count = max(1, int(round(len(members) * share))) if len(members) else 0
            keep.append(rng.permutation(members)[:count])
        index = torch.from_numpy(np.sort(np.concatenate(keep))).to(y.device)
        return x[index], y[index]

    train_x, train_y = thin(splits.train_x, splits.train_y)
    val_x, val_y = thin(splits.val_x, splits.val_y)
    name = f"{splits.name} (imbalanced {imbalance:g})"
    return dataclasses.replace(
        splits, name=name, train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y
    )
