"""Your own data: an image folder (`dataset=folder`) and an .npz (`dataset=arrays`), made here."""

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from child.data.config import ArraysConfig, FolderConfig
from child.data.datasets import class_names, load_dataset
from core.errors import ConfigError
from tests.helpers import TINY, TINY_ANYWHERE, run_script, run_search
from tests.test_bad_input import assert_refused, no_data, tree  # noqa: F401 (a fixture)

CLASSES = ("circle", "bar", "dot")  # sorted: bar=0, circle=1, dot=2


def picture(k: int, i: int, size=(8, 8), mode="L") -> Image.Image:
    """Class k: a bright pattern of its own on noise, so that a child can learn it."""
    rng = np.random.default_rng(100 * k + i)
    h, w = size
    pixels = rng.integers(0, 60, (h, w)).astype(np.uint8)
    if k == 0:
        pixels[h // 2 - 1 : h // 2 + 1, :] = 250
    elif k == 1:
        pixels[:, w // 2 - 1 : w // 2 + 1] = 250
    else:
        pixels[: h // 3, : w // 3] = 250
    image = Image.fromarray(pixels, "L")
    return image.convert(mode)


def image_folder(root: Path, per_class=10, size=(8, 8), mode="L", suffix=".png") -> Path:
    """root/<class>/<i>.png for each of CLASSES."""
    for k, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            picture(k, i, size, mode).save(root / name / f"{i}{suffix}")
    return root


def arrays_file(path: Path, x_shape=(40, 1, 12), classes=3, **extra) -> Path:
    """An .npz of n examples of x_shape[1:] whose class shifts their mean."""
    rng = np.random.default_rng(0)
    n = x_shape[0]
    y = np.arange(n) % classes
    x = rng.normal(size=x_shape).astype(np.float32) + y.reshape(-1, *[1] * (len(x_shape) - 1))
    np.savez(path, **{"x": x, "y": y, **extra})
    return path


# --- reading ----------------------------------------------------------------------------------


def test_a_folder_reads_classes_by_sorted_name_and_carves_a_test_set(tmp_path, caplog):
    root = image_folder(tmp_path / "pics")
    cfg = FolderConfig(path=str(root))
    cfg.check()
    with caplog.at_level(logging.INFO, "child.data"):
        data = load_dataset(cfg, seed=0)
    assert data.input_shape == (1, 8, 8) and data.num_classes == 3
    assert class_names(cfg) == ("bar", "circle", "dot")
    # 30 images: 6 carved for the test set, 20% of the other 24 for validation.
    assert (len(data.train_y), len(data.val_y), len(data.test_y)) == (19, 5, 6)
    [line] = [r.getMessage() for r in caplog.records if "dataset=folder" in r.getMessage()]
    assert "grey (detected: channels=1)" in line and "0=bar (10)" in line
    assert "20% carved as the test set" in line
    # The test set is fixed by split_seed, the validation split moves with the run seed.
    other = load_dataset(cfg, seed=1)
    assert torch_equal(data.test_y, other.test_y)
    raw, other_raw = (d.test_x * d.input_std + d.input_mean for d in (data, other))
    assert float((raw - other_raw).abs().max()) < 1e-3
    assert not torch_equal(data.val_x, other.val_x)


def torch_equal(a, b) -> bool:
    return a.shape == b.shape and bool((a == b).all())


def test_a_folder_with_train_and_test_keeps_its_test_set_and_rgb_jpegs(tmp_path):
    root = tmp_path / "pics"
    image_folder(root / "train", per_class=5, mode="RGB", suffix=".jpg")
    image_folder(root / "test", per_class=2, mode="RGB", suffix=".jpeg")
    data = load_dataset(FolderConfig(path=str(root)), seed=0)
    assert data.input_shape == (3, 8, 8) and len(data.test_y) == 6
    assert sorted(data.test_y.tolist()) == [0, 0, 1, 1, 2, 2]


def test_a_folder_of_mixed_sizes_is_resized_when_size_is_set(tmp_path):
    root = image_folder(tmp_path / "pics")
    picture(0, 99, size=(12, 10)).save(root / "circle" / "big.png")
    with pytest.raises(ConfigError, match="big.png is 12×10"):
        FolderConfig(path=str(root)).check()
    cfg = FolderConfig(path=str(root), size=[6, 7], channels=3)
    data = load_dataset(cfg, seed=0)
    assert data.input_shape == (3, 6, 7)


@pytest.mark.parametrize(
    ("shape", "settings", "input_shape", "words"),
    [
        ((40, 12), {}, (1, 12), "sequences (N, L)"),
        ((40, 2, 12), {}, (2, 12), "channels first (N, C, L)"),
        ((40, 12, 2), {}, (2, 12), "channels last (N, L, C)"),
        ((40, 6, 5), {}, (1, 6, 5), "grey images (N, H, W)"),
        ((40, 6, 5), {"kind": "sequence"}, (5, 6), "channels last (N, L, C)"),
        ((40, 6, 5), {"layout": "channels_first"}, (6, 5), "channels first (N, C, L)"),
        ((40, 3, 6, 5), {}, (3, 6, 5), "images, channels first"),
        ((40, 6, 5, 3), {}, (3, 6, 5), "images, channels last"),
        ((40, 6, 5, 3), {"layout": "channels_first"}, (6, 5, 3), "images, channels first"),
    ],
)
def test_arrays_layouts_are_detected_or_set_and_reported(
    tmp_path, caplog, shape, settings, input_shape, words
):
    path = arrays_file(tmp_path / "a.npz", shape)
    with caplog.at_level(logging.INFO, "child.data"):
        data = load_dataset(ArraysConfig(path=str(path), **settings), seed=0)
    assert data.input_shape == input_shape
    [line] = [r.getMessage() for r in caplog.records if "dataset=arrays" in r.getMessage()]
    assert words in line and f"x {shape}" in line


def test_arrays_keep_a_given_test_set_and_their_class_names(tmp_path):
    rng = np.random.default_rng(1)
    path = arrays_file(
        tmp_path / "a.npz",
        (30, 1, 12),
        x_test=rng.normal(size=(7, 1, 12)),
        y_test=np.array([0, 1, 2, 0, 1, 2, 0]),
        class_names=np.array(["low", "mid", "high"]),
    )
    cfg = ArraysConfig(path=str(path))
    data = load_dataset(cfg, seed=0)
    assert len(data.test_y) == 7 and len(data.train_y) + len(data.val_y) == 30
    assert class_names(cfg) == ("low", "mid", "high")
    # Standardised with the training split's statistics, which are kept for an export.
    assert data.input_mean is not None and data.input_mean.shape == (1, 1, 1)


# --- searches ---------------------------------------------------------------------------------


def test_a_search_runs_end_to_end_on_an_image_folder(tmp_path):
    root = image_folder(tmp_path / "pics")
    summary, _ = run_search(
        tmp_path / "run", [*TINY, "dataset=folder", f"dataset.path={root}", "budget.children=4"]
    )
    assert summary["children"] == 4 and 0.0 <= summary["best_reward"] <= 1.0
    assert summary["test_acc"] is not None


def test_a_search_runs_end_to_end_on_an_npz(tmp_path):
    path = arrays_file(tmp_path / "a.npz", (60, 8, 8))
    summary, _ = run_search(
        tmp_path / "run", [*TINY, "dataset=arrays", f"dataset.path={path}", "budget.children=4"]
    )
    assert summary["children"] == 4 and summary["test_acc"] is not None


@pytest.mark.parametrize(
    "overrides",
    [
        ["search_space=layers", "evaluator.workers=1"],
        [
            "search_space=nb201",
            "search_space.channels=4",
            "search_space.cells_per_stage=1",
            "evaluator.workers=1",
        ],
        ["search_space=rnn", "search_space.hidden=8", "evaluator.workers=1"],
        [
            "evaluator=shared",
            "search_space.num_layers=2",
            "search_space.widths=[8]",
            "evaluator.recipe.epochs=1",
            "evaluator.controller_steps=1",
        ],
        [
            "controller=darts",
            "evaluator=shared",
            "search_space.num_layers=2",
            "search_space.widths=[8]",
            "evaluator.recipe.epochs=1",
        ],
    ],
    ids=["layers", "nb201", "rnn", "shared", "darts"],
)
def test_user_images_work_with_every_space_and_evaluator(tmp_path, overrides):
    root = image_folder(tmp_path / "pics", per_class=6)
    tiny = [o for o in TINY_ANYWHERE if not o.startswith("budget.")]
    summary, _ = run_search(
        tmp_path / "run",
        [
            *tiny,
            "dataset=folder",
            f"dataset.path={root}",
            "budget.children=2",
            "budget.batch=2",
            "test_best=false",
            *overrides,
        ],
    )
    assert summary["best_reward"] is not None and (tmp_path / "run" / "best.json").is_file()


# --- bad files: one line, exit 2, nothing written ---------------------------------------------


def write_png(path: Path, size=(8, 8)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture(0, 0, size).save(path)


def bad_folder(root: Path, problem: str) -> tuple[str, ...]:
    """Make `root` a folder with `problem`; return the words the one line must hold."""
    image_folder(root, per_class=3)
    if problem == "mixed sizes":
        write_png(root / "dot" / "odd.png", size=(9, 8))
        return ("odd.png", "9×8", "dataset.size")
    if problem == "single class":
        for name in CLASSES[1:]:
            for f in (root / name).iterdir():
                f.unlink()
            (root / name).rmdir()
        return ("only circle/", "at least 2 classes")
    if problem == "empty image":
        (root / "bar" / "empty.png").write_bytes(b"")
        return ("empty.png", "is empty")
    if problem == "unreadable image":
        (root / "bar" / "junk.jpg").write_bytes(b"this is not a jpeg at all")
        return ("junk.jpg", "not a readable PNG/JPEG")
    if problem == "truncated image":
        good = (root / "bar" / "0.png").read_bytes()
        (root / "bar" / "cut.png").write_bytes(good[: len(good) // 2])
        return ("cut.png", "not a readable PNG/JPEG")
    if problem == "empty class":
        (root / "empty").mkdir()
        return ("empty", "holds no PNG/JPEG images")
    raise AssertionError(problem)


FOLDER_PROBLEMS = [
    "mixed sizes",
    "single class",
    "empty image",
    "unreadable image",
    "truncated image",
    "empty class",
]


def bad_arrays(path: Path, problem: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Write an .npz with `problem`; return extra overrides and the words of the one line."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 1, 10)), np.arange(20) % 2
    arrays = {"x": x, "y": y}
    extra: tuple[str, ...] = ()
    if problem == "label out of range":
        extra = ("dataset.classes=2",)
        arrays["y"] = np.where(np.arange(20) == 3, 5, y)
        words: tuple[str, ...] = ("label is 5", "0..1", "dataset.classes=2")
    elif problem == "negative label":
        arrays["y"] = np.where(np.arange(20) == 4, -1, y)
        words = ("y[4] = -1", "negative")
    elif problem == "non-integer label":
        arrays["y"] = y + np.where(np.arange(20) == 2, 0.5, 0.0)
        words = ("y[2] = 0.5", "not an integer")
    elif problem == "lengths differ":
        arrays["y"] = y[:19]
        words = ("x holds 20 examples but y holds 19 labels",)
    elif problem == "strings":
        arrays["x"] = np.array([["a"] * 10] * 20)
        words = ("x has dtype <U1", "not numbers")
    elif problem == "objects":
        arrays["x"] = np.array([[1, "a"]] * 20, dtype=object)
        words = ("x is an object array", "not numbers")
    elif problem == "single class":
        arrays["y"] = np.zeros(20, dtype=int)
        words = ("single class",)
    elif problem == "x_test alone":
        arrays["x_test"] = x[:3]
        words = ("x_test alone",)
    elif problem == "NaN":
        arrays["x"] = np.where(np.arange(20)[:, None, None] == 1, np.nan, x)
        words = ("NaN",)
    elif problem == "not an npz":
        path.write_bytes(b"not a zip file")
        return (), ("not a readable .npz",)
    else:
        raise AssertionError(problem)
    np.savez(path, **arrays)
    return extra, words


ARRAY_PROBLEMS = [
    "label out of range",
    "negative label",
    "non-integer label",
    "lengths differ",
    "strings",
    "objects",
    "single class",
    "x_test alone",
    "NaN",
    "not an npz",
]


@pytest.mark.usefixtures("no_data")
@pytest.mark.parametrize("problem", FOLDER_PROBLEMS)
def test_a_bad_image_folder_is_refused_in_one_line_and_nothing_is_written(tmp_path, problem):
    words = bad_folder(tmp_path / "pics", problem)
    before = tree(tmp_path)
    outcome = run_script("search.py", "dataset=folder", "dataset.path=pics", cwd=tmp_path)
    assert_refused(outcome, "dataset.path", *words)
    assert tree(tmp_path) == before  # no outputs/, no run directory


@pytest.mark.usefixtures("no_data")
@pytest.mark.parametrize("problem", ARRAY_PROBLEMS)
def test_a_bad_npz_is_refused_in_one_line_and_nothing_is_written(tmp_path, problem):
    extra, words = bad_arrays(tmp_path / "a.npz", problem)
    before = tree(tmp_path)
    outcome = run_script("search.py", "dataset=arrays", "dataset.path=a.npz", *extra, cwd=tmp_path)
    assert_refused(outcome, "dataset.path", *words)
    assert tree(tmp_path) == before


@pytest.mark.usefixtures("no_data")
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["dataset=folder"], ("dataset.path", "image folder")),
        (["dataset=folder", "dataset.path=nowhere"], ("dataset.path", "does not exist")),
        (["dataset=folder", "dataset.path=pics", "dataset.channels=2"], ("dataset.channels",)),
        (["dataset=folder", "dataset.path=pics", "dataset.size=[8]"], ("dataset.size",)),
        (["dataset=arrays", "dataset.path=pics"], ("dataset.path", "is not a file")),
        (["dataset=arrays", "dataset.path=a.npz", "dataset.layout=nhwc"], ("dataset.layout",)),
        (
            ["dataset=folder", "dataset.path=pics", "search_space=nb201", "evaluator=table"],
            ("dataset=folder", "evaluator=table"),
        ),
    ],
)
def test_bad_settings_of_your_own_data_are_refused(tmp_path, overrides, words):
    image_folder(tmp_path / "pics", per_class=2)
    arrays_file(tmp_path / "a.npz")
    before = tree(tmp_path)
    assert_refused(run_script("search.py", *overrides, cwd=tmp_path), *words)
    assert tree(tmp_path) == before


@pytest.mark.usefixtures("no_data")
def test_too_few_examples_for_the_splits_are_refused_before_loading(tmp_path):
    image_folder(tmp_path / "pics", per_class=1)
    before = tree(tmp_path)
    outcome = run_script("search.py", "dataset=folder", "dataset.path=pics", cwd=tmp_path)
    assert_refused(outcome, "dataset.path", "enough examples")
    assert tree(tmp_path) == before
