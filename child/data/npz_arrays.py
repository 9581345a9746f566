"""An `.npz` of arrays (`dataset=arrays`): `x`, `y`, optionally `x_test`/`y_test`, `class_names`.

One example of `x` is a sequence or an image; its layout is set (`dataset.kind`,
`dataset.layout`) or detected from the shape, and the detection is reported in one line:

    x.shape          read as                               detection (kind=auto, layout=auto)
    (N, L)           sequences of L steps, 1 channel
    (N, a, b)        sequences (N, C, L) or (N, L, C),       a sequence when a or b <= 4 (that
                     or grey images (N, H, W)                axis is the channels), else images
    (N, a, b, c)     images (N, C, H, W) or (N, H, W, C)    the smaller of a and c is channels

Labels are class indices 0..classes-1, with `classes` set or one more than the largest label.
Nothing is unpickled: an object array is refused, not read.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from child.data.user_files import UserArrays, cached, existing, user_error

KEY = "dataset.path"
LAYOUTS = ("auto", "channels_first", "channels_last")
KINDS = ("auto", "sequence", "image")
SMALL = 4  # an axis this short next to a longer one is taken for channels


def class_names(path: str) -> tuple[str, ...] | None:
    """The `class_names` array of the archive at `path`, if it has one (else None)."""
    try:
        with np.load(Path(path).expanduser(), allow_pickle=False) as archive:
            if "class_names" not in archive.files:
                return None
            return tuple(str(n) for n in archive["class_names"])
    except (OSError, ValueError, zipfile.BadZipFile):
        return None


def read_npz(path: str, kind: str, layout: str, classes: int | None) -> UserArrays:
    """The arrays of the archive at `path`, as (N, C, ...) float32 and int64 labels."""
    file = existing(KEY, path, "file")
    return cached(_read, path, kind, layout, classes, files=[file])


def _read(path: str, kind: str, layout: str, classes: int | None) -> UserArrays:
    arrays = _arrays(path)
    if "x" not in arrays or "y" not in arrays:
        raise user_error(KEY, path, f"{path} holds {sorted(arrays)}: expected at least x and y")
    if ("x_test" in arrays) != ("y_test" in arrays):
        given = "x_test" if "x_test" in arrays else "y_test"
        raise user_error(KEY, path, f"{path} holds {given} alone: give x_test and y_test, or none")
    x = _numeric(path, "x", arrays["x"])
    read_as, note, guessed = _layout(path, x.shape, kind, layout)
    train_x = read_as(x)
    y = _labels(path, "y", arrays["y"], len(x))
    test = None
    if "x_test" in arrays:
        x_test = _numeric(path, "x_test", arrays["x_test"])
        if x_test.shape[1:] != x.shape[1:]:
            raise user_error(
                KEY,
                path,
                f"{path}: x_test examples are shaped {x_test.shape[1:]} but x's {x.shape[1:]}",
            )
        test = (read_as(x_test), _labels(path, "y_test", arrays["y_test"], len(x_test)))
    every = np.concatenate([y, test[1]]) if test else y
    num_classes = _classes(path, every, classes)
    present = np.unique(y)
    if len(present) < 2:
        raise user_error(
            KEY, path, f"{path}: y holds a single class ({int(present[0])}): expected at least 2"
        )
    names = _names(path, arrays.get("class_names"), num_classes)
    how = f"classes={num_classes}" + (" (largest label + 1)" if classes is None else "")
    report = (
        f"dataset=arrays {path}: x {tuple(x.shape)} read as {note}; {how}; "
        f"{len(y)} examples" + (f", and a test set of {len(test[1])}" if test else "")
    )
    return UserArrays(
        train=(train_x, y),
        test=test,
        num_classes=num_classes,
        class_names=names,
        report=report,
        guessed=guessed,
    )


def _arrays(path: str) -> dict[str, np.ndarray]:
    """Every array of the archive; object arrays are refused by name, never unpickled."""
    try:
        archive = np.load(Path(path).expanduser(), allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise user_error(KEY, path, f"{path} is not a readable .npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise user_error(KEY, path, f"{path} is a single .npy array: expected an .npz with x, y")
    out = {}
    with archive:
        for name in archive.files:
            try:
                out[name] = archive[name]
            except ValueError:
                # numpy refuses object arrays without allow_pickle: say which and why.
                raise user_error(
                    KEY, path, f"{path}: {name} is an object array, not numbers"
                ) from None
            except (OSError, EOFError, zipfile.BadZipFile) as err:
                raise user_error(KEY, path, f"{path}: {name} cannot be read ({err})") from None
    return out


def _numeric(path: str, name: str, x: np.ndarray) -> np.ndarray:
    """`x` as float32 if it holds finite real numbers and at least one example."""
    if x.dtype.kind not in "biuf":
        raise user_error(
            KEY, path, f"{path}: {name} has dtype {x.dtype}, not numbers (bool, int or float)"
        )
    if x.ndim < 2 or len(x) == 0:
        raise user_error(
            KEY, path, f"{path}: {name} is shaped {x.shape}: expected (N, ...) with N >= 1"
        )
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise user_error(KEY, path, f"{path}: {name} holds NaN or infinite values")
    return x


def _labels(path: str, name: str, y: np.ndarray, n: int) -> np.ndarray:
    """`y` as int64 class indices >= 0, one per example of its `x`."""
    x_name = name.replace("y", "x", 1)
    if y.dtype.kind not in "biuf":
        raise user_error(KEY, path, f"{path}: {name} has dtype {y.dtype}, not integer labels")
    if y.ndim != 1:
        raise user_error(KEY, path, f"{path}: {name} is shaped {y.shape}: expected (N,)")
    if len(y) != n:
        raise user_error(
            KEY, path, f"{path}: {x_name} holds {n} examples but {name} holds {len(y)} labels"
        )
    if y.dtype.kind == "f":
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            i = int(np.flatnonzero(~whole)[0])
            raise user_error(
                KEY, path, f"{path}: {name}[{i}] = {y[i].item()!r} is not an integer class label"
            )
    negative = np.flatnonzero(y < 0)
    if len(negative):
        i = int(negative[0])
        raise user_error(
            KEY,
            path,
            f"{path}: {name}[{i}] = {y[i].item()!r} is negative: labels are classes 0, 1, ...",
        )
    return y.astype(np.int64)


def _classes(path: str, labels: np.ndarray, classes: int | None) -> int:
    """`classes`, which every label must be below, or one more than the largest label."""
    top = int(labels.max())
    if classes is None:
        return top + 1
    if top >= classes:
        raise user_error(
            KEY,
            path,
            f"{path}: a label is {top}, not a class in 0..{classes - 1} "
            f"(dataset.classes={classes})",
        )
    return classes


def _names(path: str, names: np.ndarray | None, num_classes: int) -> tuple[str, ...]:
    """The archive's `class_names`, one per class, or the indices as names."""
    if names is None:
        return tuple(str(k) for k in range(num_classes))
    if names.ndim != 1 or len(names) != num_classes:
        raise user_error(
            KEY,
            path,
            f"{path}: class_names is shaped {names.shape}: expected one name per class "
            f"({num_classes},)",
        )
    return tuple(str(n) for n in names)


def _layout(path: str, shape: tuple[int, ...], kind: str, layout: str):
    """How to read one example of `shape[1:]` as (C, L) or (C, H, W); the words; if guessed."""
    dims = shape[1:]
    if len(dims) == 1:
        if kind == "image":
            raise user_error(KEY, path, f"{path}: x is shaped {shape}: images need (N, H, W, ...)")
        return (lambda a: a[:, None, :]), f"sequences (N, L), 1 channel: L={dims[0]}", False
    if len(dims) == 2:
        a, b = dims
        sequence = kind == "sequence" or (
            kind == "auto" and (layout != "auto" or min(a, b) <= SMALL)
        )
        guessed = kind == "auto" and layout == "auto"
        if not sequence:
            return (lambda x: x[:, None, :, :]), f"grey images (N, H, W): {a}×{b}", guessed
        first = layout == "channels_first" or (layout == "auto" and a <= b)
        if first:
            return (lambda x: x), f"sequences, channels first (N, C, L): C={a}, L={b}", guessed
        return (
            (lambda x: x.transpose(0, 2, 1)),
            f"sequences, channels last (N, L, C): C={b}, L={a}",
            guessed,
        )
    if len(dims) == 3:
        if kind == "sequence":
            raise user_error(KEY, path, f"{path}: x is shaped {shape}: sequences are (N, C, L)")
        a, _, c = dims
        first = layout == "channels_first" or (layout == "auto" and a <= c)
        guessed = layout == "auto"
        if first:
            return (lambda x: x), f"images, channels first (N, C, H, W): C={a}", guessed
        return (
            (lambda x: x.transpose(0, 3, 1, 2)),
            f"images, channels last (N, H, W, C): C={c}",
            guessed,
        )
    raise user_error(
        KEY, path, f"{path}: x is shaped {shape}: expected (N, L), (N, C, L), (N, H, W) or 4-D"
    )
