"""Image data sets read from the files their authors publish: CIFAR-10, Fashion-MNIST, MNIST.

Nothing is downloaded and nothing is written. Each reader returns `(train_x, train_y, test_x,
test_y)`: uint8 images shaped (N, C, H, W) and int64 labels. A missing or malformed folder or
file raises a one-line `ConfigError` naming `dataset.path`, the files expected and where the
data set is published.

CIFAR-10's python version is a set of pickles, and unpickling runs whatever code a file asks
for; a data folder is outside input, so those files go through an unpickler that admits numpy
arrays and nothing else.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError

KEY = "dataset.path"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
FASHION_MNIST_URL = "https://github.com/zalandoresearch/fashion-mnist"
MNIST_URL = "https://yann.lecun.com/exdb/mnist/"
NUM_CLASSES = 10

ImageArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _Request:
    """What the user asked for and what a valid folder holds, to word one-line errors."""

    path: str
    expected: str
    published: str

    def error(self, problem: str) -> ConfigError:
        """A ConfigError naming the key, the path, the problem, the files expected, the source."""
        message = (
            f"{KEY}={self.path!r} is invalid: {problem}; expected {self.expected}; {self.published}"
        )
        # File names come from the user's disk; keep the message on one line whatever they hold.
        return ConfigError(" ".join(message.splitlines()))


def _root(request: _Request) -> Path:
    """The folder the user named, which must exist."""
    root = Path(request.path).expanduser()
    if not root.exists():
        # Relative paths resolve against the working directory: show where we looked.
        raise request.error(f"{os.path.abspath(root)} does not exist")
    if not root.is_dir():
        raise request.error(f"{os.path.abspath(root)} is not a folder")
    return root


def _read_bytes(request: _Request, file: Path) -> bytes:
    """The bytes of `file`, or a ConfigError if it cannot be read."""
    try:
        return file.read_bytes()
    except OSError as err:
        raise request.error(f"{file} cannot be read ({err.strerror})") from None


def _check_labels(request: _Request, file: Path, labels: np.ndarray) -> None:
    """Raise unless every label is a class index 0..9."""
    bad = labels[(labels < 0) | (labels >= NUM_CLASSES)]
    if bad.size:
        raise request.error(f"{file} holds label {int(bad[0])}, not a class in 0..9")


def _missing(folder: Path, names: list[str]) -> list[str]:
    """The names in `names` that are not files in `folder`."""
    return [name for name in names if not (folder / name).is_file()]


# --- CIFAR-10 ---------------------------------------------------------------------------------

CIFAR_PIXELS = 3 * 32 * 32
CIFAR_RECORD = 1 + CIFAR_PIXELS


@dataclass(frozen=True)
class _CifarLayout:
    """One of the two versions CIFAR-10 is published in: a folder name and its batch files."""

    folder: str
    train: list[str]
    test: str

    def holds_any(self, folder: Path) -> bool:
        """Whether `folder` holds at least one file of this layout."""
        return len(_missing(folder, [*self.train, self.test])) < len(self.train) + 1

    def describe(self) -> str:
        """E.g. `cifar-10-batches-bin/ (data_batch_1.bin … data_batch_5.bin, test_batch.bin)`."""
        return f"{self.folder}/ ({self.train[0]} … {self.train[-1]}, {self.test})"


CIFAR_BIN = _CifarLayout(
    "cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)], "test_batch.bin"
)
CIFAR_PY = _CifarLayout(
    "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch"
)
CIFAR_REQUEST = (
    f"a folder holding {CIFAR_BIN.describe()} or {CIFAR_PY.describe()}, or one of those "
    "folders itself"
)


def locate_cifar10(path: str | os.PathLike[str]) -> None:
    """Raise ConfigError unless `path` holds every CIFAR-10 batch file (nothing is read)."""
    _locate_cifar10(path)


def _locate_cifar10(path: str | os.PathLike[str]) -> tuple[_Request, Path, _CifarLayout]:
    request = _Request(str(path), CIFAR_REQUEST, f"CIFAR-10 is published at {CIFAR10_URL}")
    folder, layout = _find_cifar(request, _root(request))
    missing = _missing(folder, [*layout.train, layout.test])
    if missing:
        raise request.error(f"{folder} lacks {', '.join(missing)}")
    return request, folder, layout


def read_cifar10(path: str | os.PathLike[str]) -> ImageArrays:
    """CIFAR-10 from its binary or python version: images (N, 3, 32, 32) uint8, labels int64."""
    request, folder, layout = _locate_cifar10(path)
    read = _read_cifar_bin if layout is CIFAR_BIN else _read_cifar_py
    train = [read(request, folder / name) for name in layout.train]
    test = [read(request, folder / layout.test)]
    # concatenate copies even a single batch, so the arrays never alias read-only file bytes.
    return (
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        np.concatenate([x for x, _ in test]),
        np.concatenate([y for _, y in test]),
    )


def _find_cifar(request: _Request, root: Path) -> tuple[Path, _CifarLayout]:
    """The folder holding the batches and its layout; binary first, as it needs no unpickling."""
    for layout in (CIFAR_BIN, CIFAR_PY):
        if root.name == layout.folder or layout.holds_any(root):
            return root, layout
    for layout in (CIFAR_BIN, CIFAR_PY):
        if (root / layout.folder).is_dir():
            return root / layout.folder, layout
    raise request.error(f"{root} holds neither {CIFAR_BIN.folder}/ nor {CIFAR_PY.folder}/")


def _read_cifar_bin(request: _Request, file: Path) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch: records of 1 label byte, then the R, G and B planes of 32×32 pixels."""
    raw = _read_bytes(request, file)
    if not raw or len(raw) % CIFAR_RECORD:
        raise request.error(
            f"{file} holds {len(raw)} bytes, not a whole number of {CIFAR_RECORD}-byte records "
            "(1 label byte, then 3072 pixel bytes)"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    _check_labels(request, file, labels)
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


class _Forbidden(pickle.UnpicklingError):
    """A pickle asked for a global outside the allowed set; the message is `module.name`."""


def _numpy_reconstruct() -> Any:
    """The array-unpickling helper of numpy, wherever this numpy version keeps it."""
    # numpy 2 moved it from numpy.core to numpy._core; the array's own reduce finds it in either.
    return np.empty(0).__reduce__()[0]


# Exactly the globals a pickled numpy array needs: CIFAR-10's files were written by numpy 1 on
# Python 2 (numpy.core), a re-pickle by numpy 2 names numpy._core. Everything else is refused.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers and refuses any other global."""

    def find_class(self, module: str, name: str) -> Any:
        """The allowed object for `module.name`; anything else raises `_Forbidden`."""
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _Forbidden(f"{module}.{name}") from None


def _read_cifar_py(request: _Request, file: Path) -> tuple[np.ndarray, np.ndarray]:
    """One python batch: a pickled dict with b"data" (N×3072 uint8) and b"labels" (N ints)."""
    try:
        with open(file, "rb") as f:
            # The files were pickled by Python 2: its byte strings must stay bytes, not text.
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except _Forbidden as err:
        raise request.error(
            f"{file} asks for the forbidden type {err} (a CIFAR-10 batch holds only numpy "
            "arrays, and unpickling anything else may run code)"
        ) from None
    except OSError as err:
        raise request.error(f"{file} cannot be read ({err.strerror})") from None
    except MemoryError:
        raise request.error(f"{file} asks for more memory than there is") from None
    except Exception as err:
        # A corrupt pickle fails with nearly any exception type (EOFError, ValueError, ...).
        raise request.error(f"{file} is not a pickled CIFAR-10 batch ({err!r})") from None
    if not isinstance(batch, dict):
        raise request.error(f"{file} holds a {type(batch).__name__}, not a dict of a batch")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[0] > 0
        and data.shape[1] == CIFAR_PIXELS
    ):
        raise request.error(f"{file} has no b'data' array of uint8 shaped (N, 3072)")
    if not (
        isinstance(labels, list)
        and len(labels) == len(data)
        and all(type(v) is int for v in labels)
    ):
        raise request.error(f"{file} has no b'labels' list of {len(data)} ints")
    # Range-check as Python ints: a huge label would overflow int64 before _check_labels saw it.
    bad = next((v for v in labels if not 0 <= v < NUM_CLASSES), None)
    if bad is not None:
        raise request.error(f"{file} holds label {bad}, not a class in 0..9")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


# --- MNIST and Fashion-MNIST (IDX files) ------------------------------------------------------

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
IDX_UNSIGNED_BYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"


# (where it is published, the subfolders its archives unpack to)
FASHION_MNIST = (
    f"Fashion-MNIST is published at {FASHION_MNIST_URL}",
    ("fashion", "FashionMNIST/raw"),
)
MNIST = (f"MNIST is published at {MNIST_URL}", ("MNIST/raw",))


def locate_fashion_mnist(path: str | os.PathLike[str]) -> None:
    """Raise ConfigError unless `path` holds the four Fashion-MNIST IDX files (nothing is read)."""
    _locate_idx_set(str(path), *FASHION_MNIST)


def locate_mnist(path: str | os.PathLike[str]) -> None:
    """Raise ConfigError unless `path` holds the four MNIST IDX files (nothing is read)."""
    _locate_idx_set(str(path), *MNIST)


def read_fashion_mnist(path: str | os.PathLike[str]) -> ImageArrays:
    """Fashion-MNIST from its IDX files: images (N, 1, 28, 28) uint8, labels int64."""
    return _read_idx_set(str(path), *FASHION_MNIST)


def read_mnist(path: str | os.PathLike[str]) -> ImageArrays:
    """MNIST from its IDX files: images (N, 1, 28, 28) uint8, labels int64."""
    return _read_idx_set(str(path), *MNIST)


def _locate_idx_set(
    path: str, published: str, subfolders: tuple[str, ...]
) -> tuple[_Request, dict[str, Path]]:
    """The four IDX files of an MNIST-style data set in `path` or one of its `subfolders`."""
    places = " or ".join(f"{s}/" for s in subfolders)
    expected = (
        f"a folder holding {', '.join(IDX_FILES[:-1])} and {IDX_FILES[-1]}, each gzipped (.gz) "
        f"or not, in the folder itself or in {places} under it"
    )
    request = _Request(path, expected, published)
    root = _root(request)
    # The folder itself first, then the places the publishers' archives unpack to.
    folders = [root, *(root / s for s in subfolders)]
    folder = next((f for f in folders if any(_idx_file(f, n) for n in IDX_FILES)), None)
    if folder is None:
        raise request.error(f"{root} holds none of the IDX files")
    files = {name: _idx_file(folder, name) for name in IDX_FILES}
    missing = [f"{name}[.gz]" for name, file in files.items() if file is None]
    if missing:
        raise request.error(f"{folder} lacks {', '.join(missing)}")
    return request, {name: file for name, file in files.items() if file is not None}


def _read_idx_set(path: str, published: str, subfolders: tuple[str, ...]) -> ImageArrays:
    """Images and labels of the four IDX files `_locate_idx_set` finds."""
    request, files = _locate_idx_set(path, published, subfolders)
    train_x, train_y, test_x, test_y = (files[name] for name in IDX_FILES)
    train = _idx_images(request, train_x), _idx_labels(request, train_y)
    test = _idx_images(request, test_x), _idx_labels(request, test_y)
    for (x, y), (fx, fy) in ((train, (train_x, train_y)), (test, (test_x, test_y))):
        if len(x) != len(y):
            raise request.error(f"{fx} holds {len(x)} images but {fy} holds {len(y)} labels")
    return train[0], train[1], test[0], test[1]


def _idx_file(folder: Path, name: str) -> Path | None:
    """`folder/name`, or else `folder/name.gz`, if it is a file."""
    return next((f for f in (folder / name, folder / f"{name}.gz") if f.is_file()), None)


def _idx_images(request: _Request, file: Path) -> np.ndarray:
    """An IDX file of 28×28 unsigned-byte images, shaped (N, 1, 28, 28)."""
    x = _read_idx(request, file, ndim=3)
    if x.shape[1:] != (28, 28) or not len(x):
        raise request.error(f"{file} holds images of shape {x.shape}, not (N>0, 28, 28)")
    return x[:, None, :, :]


def _idx_labels(request: _Request, file: Path) -> np.ndarray:
    """An IDX file of unsigned-byte labels, as int64."""
    y = _read_idx(request, file, ndim=1).astype(np.int64)
    _check_labels(request, file, y)
    return y


def _read_idx(request: _Request, file: Path, ndim: int) -> np.ndarray:
    """The unsigned-byte array of an IDX file (gzipped or not), with its header checked."""
    raw = _read_bytes(request, file)
    # Decide on the content, not the name: a file gunzipped in place may keep its .gz name.
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise request.error(f"{file} is not a valid gzip file ({err})") from None
    header = 4 + 4 * ndim
    expected_magic = (IDX_UNSIGNED_BYTE << 8) | ndim
    if len(raw) < header:
        raise request.error(f"{file} is too short ({len(raw)} bytes) for an IDX header")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != expected_magic:
        raise request.error(
            f"{file} starts with magic number 0x{magic:08x}, not 0x{expected_magic:08x} "
            f"(IDX, unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''})"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    size = math.prod(dims)
    if len(raw) - header != size:
        raise request.error(
            f"{file} holds {len(raw) - header} data bytes but its header promises {size} "
            f"({' × '.join(map(str, dims))})"
        )
    # A copy: frombuffer over bytes is read-only, and torch warns on read-only arrays.
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()
