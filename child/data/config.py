"""Typed configs of the data sets (`dataset=<name>`): one dataclass per data set.

These dataclasses are the Hydra schemas (registered in `app.config`) and also the objects the
code runs on. Their defaults are the only ones: the YAML files in conf/dataset/ state only what
they change.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DatasetConfig:
    """What every data set offers: its validation split and an optional class imbalance."""

    name: str = ""
    val_fraction: float = 0.1  # carved from the training set with the run's seed
    # Make the training and validation splits imbalanced: class k of C keeps the share
    # imbalance ** (k / (C - 1)) of its examples (class 0 all of them, the last class the
    # share `imbalance`). The test set stays as published. null: as published.
    imbalance: float | None = None


@dataclass
class Mnist1dConfig(DatasetConfig):
    """MNIST-1D, generated offline by the `mnist1d` package (4,000 train / 1,000 test)."""

    name: str = "mnist1d"
    val_fraction: float = 0.2  # carved from the training set with the run's seed: the reward's data


@dataclass
class DigitsConfig(DatasetConfig):
    """scikit-learn's 8×8 digits (1,797 images), with a fixed held-out test split."""

    name: str = "digits"
    val_fraction: float = 0.2  # carved from the training set with the run's seed
    test_fraction: float = 0.2  # held out once, with split_seed, the same for every run
    split_seed: int = 0


@dataclass
class Cifar10Config(DatasetConfig):
    """CIFAR-10 read from its binary or python version on disk (50,000 train / 10,000 test)."""

    name: str = "cifar10"
    path: str = "data/cifar10"  # folder of the files, relative to the cwd
    val_fraction: float = 0.1  # carved from the training set with the run's seed
    limit: int | None = None  # keep only the first N training images (e.g. 5000 on a CPU)


@dataclass
class FashionMnistConfig(DatasetConfig):
    """Fashion-MNIST read from its IDX files on disk (60,000 train / 10,000 test)."""

    name: str = "fashion_mnist"
    path: str = "data/fashion_mnist"  # folder of the files, relative to the cwd
    val_fraction: float = 0.1  # carved from the training set with the run's seed
    limit: int | None = None  # keep only the first N training images (e.g. 5000 on a CPU)


@dataclass
class MnistConfig(DatasetConfig):
    """MNIST read from its IDX files on disk (60,000 train / 10,000 test)."""

    name: str = "mnist"
    path: str = "data/mnist"  # folder of the files, relative to the cwd
    val_fraction: float = 0.1  # carved from the training set with the run's seed
    limit: int | None = None  # keep only the first N training images (e.g. 5000 on a CPU)


@dataclass
class SyntheticConfig(DatasetConfig):
    """Made-up data of any shape with a learnable signal: for benchmarks and smoke tests only.

    Each class has a fixed smooth random template (a coarse random grid, interpolated to
    `shape`); an example is its class's template plus Gaussian noise of std `noise`. Accuracy
    on it says a child learns, not how good it would be on real data.
    """

    name: str = "synthetic"
    # [channels, height, width] for images, [channels, length] for 1-D
    shape: list[int] = field(default_factory=lambda: [3, 32, 32])
    classes: int = 10
    train: int = 10000  # training images (the validation split is carved out of these)
    test: int = 2000
    noise: float = 2.0  # std of the noise added to the templates (whose std is ~0.75)
    val_fraction: float = 0.1  # carved from the training set with the run's seed
    data_seed: int = 0  # the templates and images: the same data for every run seed
