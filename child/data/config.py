"""Typed configs of the data sets (`dataset=<name>`): one dataclass per data set.

These dataclasses are the Hydra schemas (registered in `app.config`) and also the objects the
code runs on. Their defaults are the only ones: the YAML files in conf/dataset/ state only what
they change. Each checks its own settings (`check()`). The built-in sets' files are looked for,
never read; the user's own data (`dataset=folder`, `dataset=arrays`) is read and checked whole,
so that a bad file is refused before a run directory is written (and read once: `load` reuses it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from child.data.image_files import locate_cifar10, locate_fashion_mnist, locate_mnist
from child.data.image_folder import read_image_folder
from child.data.npz_arrays import KINDS, LAYOUTS, read_npz
from child.data.user_files import UserArrays
from core.errors import require


@dataclass
class DatasetConfig:
    """What every data set offers: its validation split and an optional class imbalance."""

    name: str = ""
    val_fraction: float = 0.1  # carved from the training set with the run's seed
    # Make the training and validation splits imbalanced: class k of C keeps the share
    # imbalance ** (k / (C - 1)) of its examples (class 0 all of them, the last class the
    # share `imbalance`). The test set stays as published. null: as published.
    imbalance: float | None = None

    def check(self) -> None:
        """The validation fraction and the imbalance must be shares."""
        require(
            0.0 < self.val_fraction < 1.0,
            "dataset.val_fraction",
            self.val_fraction,
            "a fraction strictly between 0 and 1",
        )
        require(
            self.imbalance is None or 0.0 < self.imbalance <= 1.0,
            "dataset.imbalance",
            self.imbalance,
            "null, or the share in (0, 1] that the last class keeps",
        )


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

    def check(self) -> None:
        """The shared settings, and a test fraction that leaves a training set."""
        super().check()
        check_test_fraction(self.test_fraction)


@dataclass
class ImageFilesConfig(DatasetConfig):
    """A published image set read from its files on disk; each subclass says where it looks."""

    path: str = ""  # folder of the files, relative to the cwd
    limit: int | None = None  # keep only the first N training images (e.g. 5000 on a CPU)

    @staticmethod
    def locate(path: str) -> None:
        """Raise ConfigError unless the set's files are under `path` (each set's own reader)."""
        raise NotImplementedError

    def check(self) -> None:
        """The shared settings, a limit that leaves both splits, and the files in place."""
        super().check()
        check_image_files(self, self.locate)


@dataclass
class Cifar10Config(ImageFilesConfig):
    """CIFAR-10 read from its binary or python version on disk (50,000 train / 10,000 test)."""

    name: str = "cifar10"
    path: str = "data/cifar10"
    locate = staticmethod(locate_cifar10)


@dataclass
class FashionMnistConfig(ImageFilesConfig):
    """Fashion-MNIST read from its IDX files on disk (60,000 train / 10,000 test)."""

    name: str = "fashion_mnist"
    path: str = "data/fashion_mnist"
    locate = staticmethod(locate_fashion_mnist)


@dataclass
class MnistConfig(ImageFilesConfig):
    """MNIST read from its IDX files on disk (60,000 train / 10,000 test)."""

    name: str = "mnist"
    path: str = "data/mnist"
    locate = staticmethod(locate_mnist)


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

    def check(self) -> None:
        """The shared settings, a shape, and sizes that make a data set."""
        super().check()
        require(
            len(self.shape) in (2, 3) and all(s >= 1 for s in self.shape),
            "dataset.shape",
            list(self.shape),
            "[channels, length] or [channels, height, width] of ints >= 1",
        )
        require(self.classes >= 2, "dataset.classes", self.classes, "an int >= 2")
        require(self.train >= 2, "dataset.train", self.train, "an int >= 2")
        require(self.test >= 1, "dataset.test", self.test, "an int >= 1")
        require(self.noise >= 0, "dataset.noise", self.noise, "a std >= 0")


@dataclass
class UserDataConfig(DatasetConfig):
    """What the user's own data sets share: a path, a test split, flips (see conf/dataset/)."""

    path: str = ""  # required: relative to the working directory
    val_fraction: float = 0.2  # carved from the training set with the run's seed
    # Without a test set in the files, this share is carved from them once, with split_seed,
    # the same for every run seed (as for the digits).
    test_fraction: float = 0.2
    split_seed: int = 0
    hflip: bool = False  # whether a mirrored image keeps its label (images only)

    def check(self) -> None:
        """The shared settings, a test fraction, and the files read and checked whole."""
        super().check()
        check_test_fraction(self.test_fraction)
        require(bool(self.path), "dataset.path", self.path, f"the path of your {self.what}")
        self.check_split_sizes(self.read())

    def check_split_sizes(self, arrays: UserArrays) -> None:
        """Enough examples for a train, a validation and a test split at these fractions."""
        n = len(arrays.train[1])
        n_test = len(arrays.test[1]) if arrays.test else int(round(n * self.test_fraction))
        n_train = n if arrays.test else n - n_test
        n_val = int(round(n_train * self.val_fraction))
        require(
            n_test >= 1 and 1 <= n_val < n_train,
            "dataset.path",
            self.path,
            f"enough examples for train, validation and test splits, but {n} examples leave "
            f"{n_train - n_val} / {n_val} / {n_test} at dataset.val_fraction={self.val_fraction} "
            f"and dataset.test_fraction={self.test_fraction}",
        )

    @property
    def what(self) -> str:
        """What `path` names, in words."""
        raise NotImplementedError

    def read(self) -> UserArrays:
        """The data as arrays (read once per process while the files are unchanged)."""
        raise NotImplementedError


@dataclass
class FolderConfig(UserDataConfig):
    """Your images: PNG/JPEG files, one sub-folder per class (child/data/image_folder.py)."""

    name: str = "folder"
    size: list[int] | None = None  # [H, W] to resize every image to; null: all must be one size
    channels: int | None = None  # 1 (grey) or 3 (RGB); null: grey if every image is, else RGB

    @property
    def what(self) -> str:
        """What `path` names, in words."""
        return "image folder (one sub-folder per class)"

    def check(self) -> None:
        """A size and channel count that make images, then the shared checks and the files."""
        require(
            self.size is None or (len(self.size) == 2 and all(int(s) >= 1 for s in self.size)),
            "dataset.size",
            self.size,
            "null or [H, W] of ints >= 1",
        )
        require(self.channels in (None, 1, 3), "dataset.channels", self.channels, "null, 1 or 3")
        super().check()

    def read(self) -> UserArrays:
        """The images as uint8 arrays (N, C, H, W) with their class indices."""
        size = (int(self.size[0]), int(self.size[1])) if self.size is not None else None
        return read_image_folder(self.path, size, self.channels)


@dataclass
class ArraysConfig(UserDataConfig):
    """Your arrays: an .npz with x, y and optionally x_test, y_test, class_names (npz_arrays.py)."""

    name: str = "arrays"
    kind: str = "auto"  # auto | sequence | image: what one example of x is
    layout: str = "auto"  # auto | channels_first | channels_last: where x's channel axis is
    classes: int | None = None  # null: one more than the largest label

    @property
    def what(self) -> str:
        """What `path` names, in words."""
        return ".npz file (arrays x and y)"

    def check(self) -> None:
        """Known kind and layout, a class count, then the shared checks and the file."""
        require(self.kind in KINDS, "dataset.kind", self.kind, f"one of {list(KINDS)}")
        require(self.layout in LAYOUTS, "dataset.layout", self.layout, f"one of {list(LAYOUTS)}")
        require(
            self.classes is None or self.classes >= 2,
            "dataset.classes",
            self.classes,
            "null or an int >= 2",
        )
        super().check()

    def read(self) -> UserArrays:
        """The examples as float32 (N, C, L) or (N, C, H, W) with int64 labels."""
        return read_npz(self.path, self.kind, self.layout, self.classes)


def check_test_fraction(fraction: float) -> None:
    """A test share carved from the data that leaves a training set: strictly in (0, 1)."""
    require(
        0.0 < fraction < 1.0,
        "dataset.test_fraction",
        fraction,
        "a fraction strictly between 0 and 1",
    )


def check_image_files(cfg: ImageFilesConfig, locate: Callable[[str], None]) -> None:
    """A limit that leaves a train and a validation split; the files where `locate` looks."""
    if cfg.limit is not None:
        require(cfg.limit >= 1, "dataset.limit", cfg.limit, "null or an int >= 1")
        carved = round(cfg.limit * cfg.val_fraction)
        require(
            1 <= carved < cfg.limit,
            "dataset.limit",
            cfg.limit,
            f"enough images for a train and a validation split at val_fraction={cfg.val_fraction}",
        )
    locate(cfg.path)
