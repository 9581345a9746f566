import io
import logging

import matplotlib.image
import numpy as np
import pytest
from rich.console import Console
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import app.search
from app.config import compose_config
from app.retrain import retrain_main
from child.spaces import draw_architecture
from child.spaces.nb201.space import make_arch
from core.architecture import Architecture, Layer
from tests.helpers import TINY, run_search

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def macro(num_layers):
    """A macro arch whose every layer from 2 on takes a skip from the layers two and three back."""
    ops = ("conv3", "sep5", "maxpool3", "identity", "conv7", "avgpool3")
    layers = tuple(
        Layer(
            ops[i % len(ops)],
            (("width", 16 * (1 + i % 3)),),
            tuple(j for j in (i - 3, i - 2) if j >= 0),
        )
        for i in range(num_layers)
    )
    return Architecture("macro", layers)


LAYERS = Architecture(
    "layers",
    (
        Layer("conv", (("kernel", 5), ("stride", 1), ("filters", 32), ("activation", "relu"))),
        Layer("pool", (("size", 3), ("stride", 2))),
        Layer("fc", (("units", 256), ("activation", "tanh"))),
        Layer("dropout", (("rate", 0.3),)),
    ),
)
NB201 = make_arch(
    ["nor_conv_3x3", "none", "avg_pool_3x3", "skip_connect", "nor_conv_1x1", "nor_conv_3x3"]
)
# A space nobody registered: it still gets a chain of str(layer) boxes.
GENERIC = Architecture(
    "toy",
    (Layer("embed", (("dim", 32),)), Layer("attn", (("heads", 4),), (0,)), Layer("mlp")),
)
RNN = Architecture(
    "rnn",
    (
        Layer("tanh"),
        Layer("relu", inputs=(0,)),
        Layer("sigmoid", inputs=(0,)),
        Layer("identity", inputs=(1,)),
    ),
)
ARCHS = {
    "macro": macro(6),
    "layers": LAYERS,
    "nb201": NB201,
    "rnn": RNN,
    "generic": GENERIC,
}


def non_white(image):
    return int((image < 250).any(axis=2).sum())


@pytest.mark.parametrize("name", ARCHS)
def test_every_space_draws_a_picture_and_a_png(tmp_path, name):
    path = tmp_path / f"{name}.png"
    image = draw_architecture(ARCHS[name], path)
    assert image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] > 200 and image.shape[1] > 300
    assert non_white(image) > 0.02 * image.shape[0] * image.shape[1]  # boxes, arrows, text
    assert tuple(image[0, 0]) == (255, 255, 255)  # a white background, not a transparent one
    assert path.read_bytes().startswith(PNG_MAGIC)
    saved = matplotlib.image.imread(path)
    assert saved.shape[:2] == image.shape[:2]
    assert np.array_equal((saved[..., :3] * 255).round().astype(np.uint8), image)


def test_without_a_path_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    draw_architecture(GENERIC)
    assert not list(tmp_path.iterdir())


def test_a_deeper_net_gives_a_taller_picture():
    shallow, deep = draw_architecture(macro(3)), draw_architecture(macro(12))
    assert deep.shape[0] > shallow.shape[0] + 500
    assert deep.shape[1] >= shallow.shape[1]


def test_odd_architectures_still_draw():
    odd = [
        Architecture("macro", ()),
        Architecture("toy", ()),
        Architecture("nb201", (Layer("conv"),)),  # not a cell: drawn as a chain
        Architecture("macro", (Layer("mystery"), Layer("conv3", (("width", 8),), (0, 7, -1)))),
        Architecture("toy", (Layer("a$b$", (("k", "$x$"),)),)),  # no mathtext
    ]
    for arch in odd:
        assert non_white(draw_architecture(arch)) > 1000


@pytest.mark.slow
def test_a_search_ends_with_best_png_and_a_tensorboard_image(finished_run):
    # finished_run is run_search(tmp, TINY), shared with the other tests that only read it.
    png = finished_run / "best.png"
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert matplotlib.image.imread(png).shape[2] in (3, 4)
    events = EventAccumulator(str(finished_run), size_guidance={"images": 0})
    events.Reload()
    assert "best/diagram" in events.Tags()["images"]
    (image,) = events.Images("best/diagram")
    assert image.width > 300 and image.height > 200


@pytest.mark.slow
def test_a_drawing_failure_does_not_lose_the_search(tmp_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("no ink")

    monkeypatch.setattr(app.search, "draw_architecture", broken)
    with caplog.at_level(logging.WARNING, logger="app.search"):
        summary, _ = run_search(tmp_path, [*TINY, "test_best=false"])
    assert summary["best"] is not None
    assert (tmp_path / "summary.json").exists() and (tmp_path / "best.json").exists()
    assert not (tmp_path / "best.png").exists()
    assert "could not draw the best architecture: RuntimeError: no ink" in caplog.text


@pytest.mark.slow
def test_retraining_draws_the_architecture(tmp_path, finished_run):
    overrides = ["child.epochs=1", "child.warmup_epochs=0", "child.threads=1", "progress=false"]
    cfg = compose_config([*overrides, f"run={finished_run}"], name="retrain")
    retrain_main(cfg, tmp_path, Console(file=io.StringIO(), width=200))
    assert (tmp_path / "arch.png").read_bytes().startswith(PNG_MAGIC)
