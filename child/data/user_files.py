"""What the user's own data sets share: the arrays they read into, and one-line errors.

A reader (child/data/image_folder.py, child/data/npz_arrays.py) turns the user's files into
`UserArrays` or raises a `ConfigError` naming the key, the file and the problem on one line. The
data set's `check()` reads the files in the validation pass, before anything is written, and
`load` reuses what it read (`cached`), so a data set is read once per process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError


@dataclass(frozen=True)
class UserArrays:
    """A user's data set as arrays: examples (N, C, L) or (N, C, H, W), labels int64 0..C-1.

    `test` is None when the files hold no test set (one is then carved from `train`).
    `report` is one line on what was read and what was detected, for the log.
    """

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray] | None
    num_classes: int
    class_names: tuple[str, ...]
    report: str
    guessed: bool  # whether `report` says something was detected rather than set


def user_error(key: str, value: Any, problem: str) -> ConfigError:
    """`key=value is invalid: problem`, on one line whatever the file names hold."""
    message = f"{key}={str(value)!r} is invalid: {problem}"
    return ConfigError(" ".join(message.splitlines()))


def existing(key: str, path: str, kind: str) -> Path:
    """`path` as a Path, which must be an existing folder (`kind="dir"`) or file."""
    if not path:
        raise user_error(key, path, f"expected the {'folder' if kind == 'dir' else 'file'} path")
    where = Path(path).expanduser()
    if not where.exists():
        raise user_error(key, path, f"{os.path.abspath(where)} does not exist")
    if kind == "dir" and not where.is_dir():
        raise user_error(key, path, f"{os.path.abspath(where)} is not a folder")
    if kind == "file" and not where.is_file():
        raise user_error(key, path, f"{os.path.abspath(where)} is not a file")
    return where


def fingerprint(files: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times: a changed file reads afresh."""
    stats = [(f, f.stat()) for f in files]
    return tuple((str(f), s.st_size, s.st_mtime_ns) for f, s in stats)


@lru_cache(maxsize=2)
def _cached(
    read: Callable[..., UserArrays], args: tuple[Hashable, ...], stamp: Hashable
) -> UserArrays:
    return read(*args)


def cached(read: Callable[..., UserArrays], *args: Hashable, files: list[Path]) -> UserArrays:
    """`read(*args)`, remembered while `files` are unchanged (check() then load() read once)."""
    # The fingerprint is in the key: an edited file is read again, and its errors reported.
    return _cached(read, args, fingerprint(files))


def carve_test_note(test_fraction: float, split_seed: int) -> str:
    """The words that say a test set was carved, not given."""
    return (
        f"no test set given: {test_fraction:.0%} carved as the test set "
        f"(split_seed={split_seed}, the same for every run seed)"
    )
