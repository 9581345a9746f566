"""Image data sets read from local files, written here in their published formats."""

import gzip
import io
import os
import pickle
import shlex
import struct
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from child.data.config import Cifar10Config, FashionMnistConfig, MnistConfig
from child.data.datasets import load_dataset
from child.data.image_files import (
    _ALLOWED_GLOBALS,
    CIFAR10_URL,
    FASHION_MNIST_URL,
    MNIST_URL,
    read_cifar10,
    read_fashion_mnist,
    read_mnist,
)
from core.errors import ConfigError
from tests.helpers import run_search

TRAIN_BATCHES = 5  # CIFAR-10 ships five training batches; two images each keeps this tiny
PER_BATCH = 2
N_TEST = 4


# --- writers of the published formats ---------------------------------------------------------


def cifar_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    y = (np.arange(n) * 3 + seed) % 10
    return x, y.astype(np.int64)


def cifar_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train_x, train_y = cifar_arrays(TRAIN_BATCHES * PER_BATCH, seed=1)
    test_x, test_y = cifar_arrays(N_TEST, seed=2)
    return train_x, train_y, test_x, test_y


def cifar_bin_record(x: np.ndarray, y: int) -> bytes:
    # The published layout: 1 label byte, then the R, G and B planes, each 32 rows of 32.
    return bytes([y]) + x[0].tobytes() + x[1].tobytes() + x[2].tobytes()


def write_cifar_bin(folder: Path, data=None) -> Path:
    train_x, train_y, test_x, test_y = data or cifar_data()
    folder.mkdir(parents=True, exist_ok=True)
    for b in range(TRAIN_BATCHES):
        part = slice(b * PER_BATCH, (b + 1) * PER_BATCH)
        records = [
            cifar_bin_record(x, y) for x, y in zip(train_x[part], train_y[part], strict=True)
        ]
        (folder / f"data_batch_{b + 1}.bin").write_bytes(b"".join(records))
    records = [cifar_bin_record(x, y) for x, y in zip(test_x, test_y, strict=True)]
    (folder / "test_batch.bin").write_bytes(b"".join(records))
    return folder


class Py2Pickler(pickle._Pickler):
    """Writes pickles as CIFAR-10's were written (Python 2, numpy 1): str as byte strings."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, data: bytes, key: object) -> None:
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(key)

    def save_str(self, obj: str) -> None:
        self.save_py2_str(obj.encode("latin1"), obj)

    def save_bytes(self, obj: bytes) -> None:
        self.save_py2_str(obj, obj)

    dispatch[str] = save_str
    dispatch[bytes] = save_bytes

    def save_global(self, obj, name=None):
        if obj is np.empty(0).__reduce__()[0]:
            # numpy 1 kept it in numpy.core, the name the published files use.
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def cifar_py_batch(x: np.ndarray, y: np.ndarray) -> dict:
    return {
        b"batch_label": b"training batch 1 of 5",
        b"labels": [int(v) for v in y],
        b"data": x.reshape(len(x), 3072),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(y))],
    }


def write_cifar_py(folder: Path, data=None, dumps: Callable[[object], bytes] = py2_pickle) -> Path:
    train_x, train_y, test_x, test_y = data or cifar_data()
    folder.mkdir(parents=True, exist_ok=True)
    for b in range(TRAIN_BATCHES):
        part = slice(b * PER_BATCH, (b + 1) * PER_BATCH)
        batch = cifar_py_batch(train_x[part], train_y[part])
        (folder / f"data_batch_{b + 1}").write_bytes(dumps(batch))
    (folder / "test_batch").write_bytes(dumps(cifar_py_batch(test_x, test_y)))
    return folder


def idx_bytes(a: np.ndarray) -> bytes:
    # Magic: two zero bytes, type 0x08 (unsigned byte), number of dimensions; then big-endian dims.
    header = bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(np.uint8).tobytes()


def mnist_data(n_train: int = 10, n_test: int = 3):
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    test_x = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    train_x[1, 3, 4] = 251  # a known pixel: image 1, row 3, column 4
    return train_x, np.arange(n_train) % 10, test_x, (np.arange(n_test) + 7) % 10


def write_idx(folder: Path, gz: bool, data=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    for name, array in zip(names, data or mnist_data(), strict=True):
        raw = idx_bytes(np.asarray(array))
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return folder


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


# --- CIFAR-10 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("point_at", ["parent", "folder"])
def test_cifar_binary_version_reads_shapes_labels_and_pixels(tmp_path, point_at):
    data = cifar_data()
    folder = write_cifar_bin(tmp_path / "cifar-10-batches-bin", data)
    train_x, train_y, test_x, test_y = read_cifar10(tmp_path if point_at == "parent" else folder)
    assert train_x.shape == (10, 3, 32, 32) and train_x.dtype == np.uint8
    assert test_x.shape == (4, 3, 32, 32)
    assert train_y.dtype == np.int64 and train_y.tolist() == data[1].tolist()
    assert test_y.tolist() == data[3].tolist()
    assert np.array_equal(train_x, data[0]) and np.array_equal(test_x, data[2])


def test_cifar_binary_pixel_order_is_label_then_red_green_blue_planes(tmp_path):
    folder = write_cifar_bin(tmp_path / "cifar-10-batches-bin")
    # Batch 3's second record: label 7, and one blue pixel at row 5, column 9, set to 200.
    record = bytearray(3073)
    record[0] = 7
    record[1 + 2 * 1024 + 5 * 32 + 9] = 200
    raw = (folder / "data_batch_3.bin").read_bytes()
    (folder / "data_batch_3.bin").write_bytes(raw[:3073] + bytes(record))
    train_x, train_y, _, _ = read_cifar10(tmp_path)
    image = 2 * PER_BATCH + 1
    assert train_y[image] == 7
    assert train_x[image, 2, 5, 9] == 200
    assert int(train_x[image].sum()) == 200


def test_cifar_python_version_reads_the_same_arrays_as_the_binary_version(tmp_path):
    data = cifar_data()
    write_cifar_bin(tmp_path / "bin" / "cifar-10-batches-bin", data)
    write_cifar_py(tmp_path / "py" / "cifar-10-batches-py", data)
    from_bin = read_cifar10(tmp_path / "bin")
    from_py = read_cifar10(tmp_path / "py")
    from_py_folder = read_cifar10(tmp_path / "py" / "cifar-10-batches-py")
    for a, b, c in zip(from_bin, from_py, from_py_folder, strict=True):
        assert a.dtype == b.dtype == c.dtype
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_cifar_python_pickle_re_saved_by_python3_and_this_numpy_also_reads(tmp_path):
    data = cifar_data()
    write_cifar_py(tmp_path / "cifar-10-batches-py", data, dumps=lambda o: pickle.dumps(o, 4))
    train_x, train_y, _, _ = read_cifar10(tmp_path)
    assert np.array_equal(train_x, data[0]) and np.array_equal(train_y, data[1])


def pickle_globals(data: bytes) -> set[tuple[str, str]]:
    """The (module, name) pairs unpickling `data` asks for, as find_class sees them."""
    seen = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            seen.add((module, name))
            return super().find_class(module, name)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy 2 on numpy.core names
        Recorder(io.BytesIO(data), encoding="bytes").load()
    return seen


def test_the_allowed_globals_are_exactly_those_a_pickled_numpy_array_asks_for():
    batch = cifar_py_batch(*cifar_arrays(2, seed=0))
    seen = pickle_globals(py2_pickle(batch)) | pickle_globals(pickle.dumps(batch, protocol=4))
    assert seen <= set(_ALLOWED_GLOBALS)
    # The one name not seen is the other numpy version's spelling of the same function.
    aliases = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
    assert set(_ALLOWED_GLOBALS) - seen <= aliases


class Call:
    """Pickles as a call of `fn(*args)`: what a malicious pickle would ask for."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize(
    "payload",
    [
        lambda marker: Call(os.system, f"touch {shlex.quote(str(marker))}"),
        lambda marker: Call(exec, f"open({str(marker)!r}, 'w').close()"),
        lambda marker: Call(np.save, str(marker), np.zeros(1)),
    ],
    ids=["os.system", "builtins.exec", "numpy.save"],
)
@pytest.mark.parametrize("protocol", [2, 4])
def test_a_pickle_asking_for_any_other_global_is_refused_and_never_run(tmp_path, payload, protocol):
    folder = write_cifar_py(tmp_path / "cifar-10-batches-py")
    marker = tmp_path / "marker.npy"
    evil = {b"data": payload(marker), b"labels": [0]}
    (folder / "data_batch_2").write_bytes(pickle.dumps(evil, protocol=protocol))
    with pytest.raises(ConfigError) as err:
        read_cifar10(tmp_path)
    assert not marker.exists()  # the payload never ran
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"dataset.path={str(tmp_path)!r} is invalid:")
    assert "data_batch_2 asks for the forbidden type" in message
    assert CIFAR10_URL in message


# --- MNIST and Fashion-MNIST ------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "plain"])
@pytest.mark.parametrize("read", [read_mnist, read_fashion_mnist])
def test_idx_files_read_as_single_channel_28x28_images(tmp_path, gz, read):
    data = mnist_data()
    write_idx(tmp_path, gz, data)
    train_x, train_y, test_x, test_y = read(tmp_path)
    assert train_x.shape == (10, 1, 28, 28) and train_x.dtype == np.uint8
    assert test_x.shape == (3, 1, 28, 28)
    assert train_x[1, 0, 3, 4] == 251
    assert np.array_equal(train_x[:, 0], data[0]) and np.array_equal(test_x[:, 0], data[2])
    assert train_y.dtype == np.int64 and train_y.tolist() == data[1].tolist()
    assert test_y.tolist() == data[3].tolist()


def test_idx_files_may_mix_gzipped_and_plain_and_sit_in_the_archive_subfolder(tmp_path):
    folder = write_idx(tmp_path / "fashion", gz=True)
    gzipped = folder / "t10k-images-idx3-ubyte.gz"
    (folder / "t10k-images-idx3-ubyte").write_bytes(gzip.decompress(gzipped.read_bytes()))
    gzipped.unlink()
    train_x, _, test_x, _ = read_fashion_mnist(tmp_path)
    assert train_x.shape == (10, 1, 28, 28) and test_x.shape == (3, 1, 28, 28)


# --- splits through load_dataset ----------------------------------------------------------------


def test_cifar_splits_are_seeded_standardised_and_flippable(tmp_path):
    write_cifar_bin(tmp_path / "cifar-10-batches-bin")
    cfg = Cifar10Config(path=str(tmp_path), val_fraction=0.2)
    a, b, c = (load_dataset(cfg, seed) for seed in (0, 0, 1))
    assert a.input_shape == (3, 32, 32) and a.num_classes == 10
    assert (len(a.train_y), len(a.val_y), len(a.test_y)) == (8, 2, 4)
    assert torch.equal(a.val_x, b.val_x) and torch.equal(a.val_y, b.val_y)
    assert not torch.equal(a.val_x, c.val_x)
    # The test images are the data set's own whatever the seed (scaled by train statistics).
    assert torch.equal(a.test_y, c.test_y)
    # Standardised per channel with training statistics.
    assert a.train_x.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert (a.train_x.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-3
    assert a.hflip


def test_limit_keeps_the_first_training_images_and_must_leave_a_validation_split(tmp_path):
    write_idx(tmp_path, gz=True)
    data = load_dataset(MnistConfig(path=str(tmp_path), val_fraction=0.5, limit=4), seed=0)
    assert len(data.train_y) + len(data.val_y) == 4
    assert sorted(data.train_y.tolist() + data.val_y.tolist()) == [0, 1, 2, 3]
    assert len(data.test_y) == 3
    assert not data.hflip
    assert load_dataset(FashionMnistConfig(path=str(tmp_path)), seed=0).hflip
    with pytest.raises(ConfigError, match=r"^dataset\.limit=1 is invalid: .*validation split"):
        load_dataset(MnistConfig(path=str(tmp_path), limit=1), seed=0)
    with pytest.raises(ConfigError, match=r"^dataset\.limit=0 is invalid: expected null or"):
        load_dataset(MnistConfig(path=str(tmp_path), limit=0), seed=0)


# --- bad folders and files ----------------------------------------------------------------------


def truncate(file: Path, keep: int) -> None:
    file.write_bytes(file.read_bytes()[:keep])


def cifar_bin(tmp: Path) -> Path:
    return write_cifar_bin(tmp / "cifar-10-batches-bin")


def cifar_py(tmp: Path) -> Path:
    return write_cifar_py(tmp / "cifar-10-batches-py")


def idx(tmp: Path) -> Path:
    return write_idx(tmp, gz=True)


def write_archive(tmp: Path) -> Path:
    archive = tmp / "cifar.tar.gz"
    archive.write_bytes(b"\x1f\x8b")
    return archive


def unrelated(tmp: Path) -> None:
    (tmp / "notes.txt").write_text("data goes here")


def bad_labels(tmp: Path) -> None:
    file = cifar_bin(tmp) / "data_batch_4.bin"
    file.write_bytes(b"\x0a" + file.read_bytes()[1:])


def bad_py_batch(tmp: Path, changes: dict) -> None:
    x, y = cifar_arrays(2, seed=0)
    batch = {**cifar_py_batch(x, y), **changes}
    (cifar_py(tmp) / "test_batch").write_bytes(py2_pickle(batch))


def replace_idx(tmp: Path, name: str, array: np.ndarray) -> None:
    (idx(tmp) / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array)))


CIFAR_CASES = {
    "missing folder": (lambda t: t.parent / "nowhere", "nowhere does not exist"),
    # The user names the archive itself instead of the folder it unpacks to.
    "a file": (write_archive, "cifar.tar.gz is not a folder"),
    "unrelated folder": (unrelated, "holds neither cifar-10-batches-bin/"),
    "missing batch": (
        lambda t: (cifar_bin(t) / "test_batch.bin").unlink(),
        "cifar-10-batches-bin lacks test_batch.bin",
    ),
    "empty layout folder": (
        lambda t: (t / "cifar-10-batches-py").mkdir(),
        "lacks data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch",
    ),
    "truncated binary": (
        lambda t: truncate(cifar_bin(t) / "data_batch_2.bin", 5000),
        "data_batch_2.bin holds 5000 bytes, not a whole number of 3073-byte records",
    ),
    "label 10": (bad_labels, "data_batch_4.bin holds label 10, not a class in 0..9"),
    "not a pickle": (
        lambda t: (cifar_py(t) / "data_batch_1").write_bytes(b"<html>Not found</html>"),
        "data_batch_1 is not a pickled CIFAR-10 batch",
    ),
    "truncated pickle": (
        lambda t: truncate(cifar_py(t) / "data_batch_5", 300),
        "data_batch_5 is not a pickled CIFAR-10 batch",
    ),
    "pickle of a list": (
        lambda t: (cifar_py(t) / "test_batch").write_bytes(pickle.dumps([1, 2])),
        "test_batch holds a list, not a dict of a batch",
    ),
    "wrong data shape": (
        lambda t: bad_py_batch(t, {b"data": np.zeros((2, 1024), np.uint8)}),
        "test_batch has no b'data' array of uint8 shaped (N, 3072)",
    ),
    "float data": (
        lambda t: bad_py_batch(t, {b"data": np.zeros((2, 3072), np.float32)}),
        "test_batch has no b'data' array",
    ),
    "too few labels": (
        lambda t: bad_py_batch(t, {b"labels": [1]}),
        "test_batch has no b'labels' list of 2 ints",
    ),
    "huge label": (
        lambda t: bad_py_batch(t, {b"labels": [1, 2**70]}),
        f"test_batch holds label {2**70}",
    ),
}

IDX_CASES = {
    "missing folder": (lambda t: t.parent / "nowhere", "nowhere does not exist"),
    "unrelated folder": (unrelated, "holds none of the IDX files"),
    "missing file": (
        lambda t: (idx(t) / "t10k-labels-idx1-ubyte.gz").unlink(),
        "lacks t10k-labels-idx1-ubyte[.gz]",
    ),
    "labels where images belong": (
        lambda t: replace_idx(t, "train-images-idx3-ubyte", np.zeros(10, np.uint8)),
        "train-images-idx3-ubyte.gz starts with magic number 0x00000801, not 0x00000803",
    ),
    "truncated data": (
        lambda t: (idx(t) / "train-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(np.zeros(10, np.uint8))[:-3])
        ),
        "train-labels-idx1-ubyte.gz holds 7 data bytes but its header promises 10 (10)",
    ),
    "short header": (
        lambda t: (idx(t) / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\0\0"),
        "t10k-labels-idx1-ubyte.gz is too short (2 bytes) for an IDX header",
    ),
    "corrupt gzip": (
        lambda t: truncate(idx(t) / "t10k-images-idx3-ubyte.gz", 30),
        "t10k-images-idx3-ubyte.gz is not a valid gzip file",
    ),
    "wrong image size": (
        lambda t: replace_idx(t, "t10k-images-idx3-ubyte", np.zeros((3, 27, 28), np.uint8)),
        "holds images of shape (3, 27, 28), not (N>0, 28, 28)",
    ),
    "count mismatch": (
        lambda t: replace_idx(t, "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8)),
        "t10k-images-idx3-ubyte.gz holds 3 images but",
    ),
    "label 12": (
        lambda t: replace_idx(t, "train-labels-idx1-ubyte", np.full(10, 12, np.uint8)),
        "train-labels-idx1-ubyte.gz holds label 12",
    ),
}


def check_one_line_error(tmp_path: Path, read, setup, problem: str, url: str, expects: str):
    data_path = tmp_path / "data"
    data_path.mkdir()
    named = setup(data_path)
    # A setup may name another path than the folder it filled: a missing folder, a file.
    data_path = named if isinstance(named, Path) else data_path
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as err:
        read(data_path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"dataset.path={str(data_path)!r} is invalid: ")
    assert problem in message
    assert expects in message and url in message
    assert snapshot(tmp_path) == before  # nothing written, nothing left behind


@pytest.mark.parametrize("case", list(CIFAR_CASES))
def test_bad_cifar_folders_give_one_line_naming_dataset_path(tmp_path, case):
    setup, problem = CIFAR_CASES[case]
    check_one_line_error(
        tmp_path, read_cifar10, setup, problem, CIFAR10_URL, "data_batch_1.bin … data_batch_5.bin"
    )


@pytest.mark.parametrize("case", list(IDX_CASES))
@pytest.mark.parametrize(
    "read, url", [(read_mnist, MNIST_URL), (read_fashion_mnist, FASHION_MNIST_URL)]
)
def test_bad_idx_folders_give_one_line_naming_dataset_path(tmp_path, case, read, url):
    setup, problem = IDX_CASES[case]
    check_one_line_error(tmp_path, read, setup, problem, url, "train-images-idx3-ubyte, ")


# --- through the real Hydra config -------------------------------------------------------------


def test_the_dataset_options_compose_with_their_defaults(compose_cfg):
    from app.config import typed_config

    for name, schema, path in [
        ("cifar10", Cifar10Config, "data/cifar10"),
        ("fashion_mnist", FashionMnistConfig, "data/fashion_mnist"),
        ("mnist", MnistConfig, "data/mnist"),
    ]:
        cfg = typed_config(compose_cfg([f"dataset={name}"])).dataset
        assert cfg == schema(name=name, path=path, val_fraction=0.1, limit=None)


def test_a_search_runs_on_a_tiny_cifar_folder(tmp_path):
    write_cifar_py(tmp_path / "data" / "cifar-10-batches-py")
    summary, _ = run_search(
        tmp_path / "run",
        [
            "dataset=cifar10",
            f"dataset.path={tmp_path / 'data'}",
            "child.epochs=1",
            "child.threads=1",
            "budget.children=2",
            "budget.batch=2",
            "search_space.widths=[8]",
            "search_space.pool_after=[1]",
        ],
    )
    assert summary["children"] == 2
    assert summary["config"]["dataset"]["name"] == "cifar10"


def test_a_search_on_a_missing_folder_stops_with_the_path_error(tmp_path):
    missing = tmp_path / "no-cifar"
    with pytest.raises(ConfigError, match=r"^dataset\.path=.*no-cifar does not exist; expected"):
        run_search(tmp_path / "run", ["dataset=cifar10", f"dataset.path={missing}"])
