"""A folder of PNG/JPEG images, one sub-folder per class, read with Pillow (`dataset=folder`).

    <path>/<class>/*.png|*.jpg|*.jpeg                 a test set is carved from it, or
    <path>/train/<class>/...  and  <path>/test/<class>/...   the test set is given

Class names are the sub-folder names, sorted: class i is the i-th name. Every image is decoded
here, in the validation pass, so that an empty, unreadable or odd-sized file is refused before
a run directory is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from child.data.user_files import UserArrays, cached, existing, user_error

KEY = "dataset.path"
SUFFIXES = (".png", ".jpg", ".jpeg")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # everything else is read as RGB


def class_folders(root: Path) -> tuple[Path, Path | None]:
    """The folder of training classes, and of test classes when `root` holds train/ and test/."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        return root / "train", root / "test"
    return root, None


def class_names(path: str) -> tuple[str, ...] | None:
    """The class names of the folder at `path`, sorted; None when it is gone."""
    root = Path(path).expanduser()
    if not root.is_dir():
        return None
    return tuple(p.name for p in _classes(class_folders(root)[0]))


def _classes(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
    )


def read_image_folder(path: str, size: tuple[int, int] | None, channels: int | None) -> UserArrays:
    """Every image of the folder at `path`, as uint8 arrays (N, C, H, W); ConfigError if bad."""
    root = existing(KEY, path, "dir")
    train_dir, test_dir = class_folders(root)
    classes = _classes(train_dir)
    if len(classes) < 2:
        found = f"only {classes[0].name}/" if classes else "none"
        raise user_error(
            KEY,
            path,
            f"{train_dir} holds {found}: expected one sub-folder per class, at least 2 classes",
        )
    names = tuple(c.name for c in classes)
    files = {"train": _files_by_class(path, train_dir, names, required=True)}
    if test_dir is not None:
        test_names = tuple(c.name for c in _classes(test_dir))
        unknown = [n for n in test_names if n not in names]
        if unknown:
            raise user_error(
                KEY, path, f"{test_dir / unknown[0]} is a class that {train_dir} does not have"
            )
        files["test"] = _files_by_class(path, test_dir, names, required=False)
        if not any(files["test"]):
            raise user_error(KEY, path, f"{test_dir} holds no PNG/JPEG images")
    groups = tuple(tuple(tuple(group) for group in split) for split in files.values())
    every = [f for split in groups for group in split for f in group]
    return cached(_read, path, size, channels, names, groups, files=every)


def _files_by_class(
    path: str, folder: Path, names: tuple[str, ...], required: bool
) -> list[list[Path]]:
    """The images of each class in `folder`; with `required`, every class must have some."""
    groups = []
    for name in names:
        images = _images(folder / name) if (folder / name).is_dir() else []
        if required and not images:
            raise user_error(KEY, path, f"{folder / name} holds no PNG/JPEG images")
        groups.append(images)
    return groups


def _read(
    path: str,
    size: tuple[int, int] | None,
    channels: int | None,
    names: tuple[str, ...],
    groups: tuple[tuple[tuple[Path, ...], ...], ...],
) -> UserArrays:
    """Decode every file of `groups` (per split, per class), check sizes, convert, stack."""
    decoded = [
        [(f, k, _open(path, f)) for k, group in enumerate(split) for f in group] for split in groups
    ]
    every = [item for split in decoded for item in split]
    if size is None:
        first, _, image = every[0]
        for file, _, other in every:
            if other.size != image.size:
                raise user_error(
                    KEY,
                    path,
                    f"{file} is {_hw(other.size)} but {first} is {_hw(image.size)}: set "
                    "dataset.size=[H,W] to resize every image",
                )
    height, width = size if size is not None else (every[0][2].height, every[0][2].width)
    detected = channels is None
    if channels is None:
        channels = 1 if all(image.mode in GREY_MODES for _, _, image in every) else 3
    arrays = [_stack(split, channels, (height, width)) for split in decoded]
    counts = ", ".join(
        f"{k}={name} ({int((arrays[0][1] == k).sum())})" for k, name in enumerate(names)
    )
    how = "detected" if detected else "set"
    resized = f"resized to {height}×{width}" if size is not None else f"all {height}×{width}"
    report = (
        f"dataset=folder {path}: {len(every)} images, {resized}, "
        f"{'grey' if channels == 1 else 'RGB'} ({how}: channels={channels}); "
        f"{len(names)} classes: {counts}"
    )
    return UserArrays(
        train=arrays[0],
        test=arrays[1] if len(arrays) > 1 else None,
        num_classes=len(names),
        class_names=names,
        report=report,
        guessed=detected,
    )


def _hw(size: tuple[int, int]) -> str:
    width, height = size
    return f"{height}×{width} (H×W)"


def _open(path: str, file: Path) -> Image.Image:
    """The decoded image in `file`; ConfigError naming it if empty or unreadable."""
    if file.stat().st_size == 0:
        raise user_error(KEY, path, f"{file} is empty (0 bytes)")
    try:
        with Image.open(file) as image:
            image.load()  # decode now: a truncated file fails here, not mid-search
            return image.copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise user_error(KEY, path, f"{file} is not a readable PNG/JPEG image ({err})") from None


def _stack(
    items: list[tuple[Path, int, Image.Image]], channels: int, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    height, width = size
    x = np.empty((len(items), channels, height, width), dtype=np.uint8)
    y = np.empty(len(items), dtype=np.int64)
    mode = "L" if channels == 1 else "RGB"
    for i, (_, label, image) in enumerate(items):
        converted = _convert(image, mode)
        if converted.size != (width, height):
            converted = converted.resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.asarray(converted, dtype=np.uint8)
        x[i] = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
        y[i] = label
    return x, y


def _convert(image: Image.Image, mode: str) -> Image.Image:
    """`image` in mode L or RGB; 16-bit and float greys are scaled to 0..255, not clipped."""
    if image.mode in ("I", "I;16", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode != "F" and values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / top * 255.0, 0, 255).astype(np.uint8), "L")
    return image.convert(mode)
