"""scripts/export.py: the found model as TorchScript and ONNX, matching PyTorch to 1e-4."""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

import app.export
from app.export import TOLERANCE, Standardized, export_module
from child.data.config import FolderConfig
from child.data.datasets import load_dataset
from child.evaluation.saved_model import load_network
from child.spaces import build_network, build_space, space_config
from core.errors import ConfigError
from tests.helpers import TINY, run_script, run_search
from tests.test_bad_input import assert_refused, tree
from tests.test_user_data import image_folder

# PyTorch deprecates TorchScript; the files it writes still load, which is what is tested.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.jit")

SMALL_SPACES = {
    "macro": {"num_layers": 3, "widths": [8]},
    "layers": {},
    "nb201": {"channels": 4, "cells_per_stage": 1},
    "rnn": {"hidden": 8, "nodes": 3},
}


def onnx_logits(path: Path, x: torch.Tensor) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x.numpy()})[0]


def ts_logits(path: Path, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.jit.load(str(path)).eval()(x).numpy()


def assert_match(path_ts: Path, path_onnx: Path, model: nn.Module, x: torch.Tensor) -> None:
    """Both files give the PyTorch model's logits on `x`, to 1e-4."""
    with torch.no_grad():
        want = model.eval()(x).numpy()
    np.testing.assert_allclose(ts_logits(path_ts, x), want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(onnx_logits(path_onnx, x), want, atol=1e-4, rtol=0)


class Reference(nn.Module):
    """What an exported model must compute, written here: the network on standardised input."""

    def __init__(self, net: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.net, self.mean, self.std = net, mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def calibrated(net: nn.Module, x: torch.Tensor) -> nn.Module:
    """Batch-norm statistics from `x`, as training leaves them (fresh ones blow logits up)."""
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # a plain average of what it sees
    net.train()
    with torch.no_grad():
        net(x)
    return net.eval()


@pytest.mark.parametrize(
    ("space", "shape"),
    [
        ("macro", (3, 8, 8)),
        ("macro", (1, 20)),
        ("layers", (1, 20)),
        ("nb201", (3, 8, 8)),
        ("rnn", (1, 20)),
        ("rnn", (1, 6, 6)),
    ],
)
def test_every_space_exports_and_both_files_match_pytorch(tmp_path, space, shape):
    cfg = space_config(space, SMALL_SPACES[space])
    arch = build_space(cfg).sample(np.random.default_rng(3))
    torch.manual_seed(0)
    net = build_network(arch, shape, 4, cfg)
    calibrated(net, torch.randn(64, *shape))
    model = Standardized(
        net, torch.full((1, shape[0], *[1] * (len(shape) - 1)), 0.5), torch.ones(1)
    )
    metadata = {"input_shape": json.dumps(["batch", *shape]), "input": "x", "num_classes": "4"}
    result = export_module(model, torch.randn(8, *shape), tmp_path, metadata, 17, str(arch))
    ts, onx = Path(result["torchscript"]), Path(result["onnx"])
    assert_match(ts, onx, model, torch.randn(5, *shape))  # another batch size than traced
    proto = onnx.load(str(onx))
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["num_classes"] == "4" and json.loads(props["input_shape"]) == ["batch", *shape]
    assert proto.opset_import[0].version == 17


class DataDependent(nn.Module):
    """A forward pass whose branch depends on the data: tracing keeps one branch only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Positive-mean rows one way, the rest another."""
        flat = x.flatten(1)[:, :3]
        return flat if bool(flat.mean() > 0) else -flat


class NoOnnx(nn.Module):
    """An op ONNX has no counterpart for."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Singular values of 2×2 blocks."""
        return torch.linalg.svd(x.flatten(1)[:, :4].reshape(-1, 2, 2))[1]


@pytest.mark.parametrize(
    ("module", "words"),
    [
        (DataDependent(), "cannot be exported faithfully"),
        (NoOnnx(), "cannot be exported to ONNX"),
    ],
)
def test_an_architecture_the_exporter_cannot_express_is_refused_and_nothing_is_left(
    tmp_path, module, words
):
    batch = torch.cat([torch.ones(2, 1, 8), -torch.ones(3, 1, 8)])
    with pytest.raises(ConfigError, match=words):
        export_module(module, batch, tmp_path / "out", {"input_shape": "[]", "input": "x"}, 17, "x")
    assert not (tmp_path / "out").exists()


# --- from runs --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory) -> Path:
    """A finished 2-child search on a folder of 8×8 grey images (classes bar, circle, dot)."""
    base = tmp_path_factory.mktemp("export")
    root = image_folder(base / "pics", per_class=8)
    tiny = [o for o in TINY if not o.startswith("budget.")]
    overrides = [*tiny, "dataset=folder", f"dataset.path={root}", "budget.children=2"]
    run_search(base / "run", [*overrides, "budget.batch=2", "test_best=false"])
    return base / "run"


def copy_run(run: Path, to: Path) -> Path:
    return Path(shutil.copytree(run, to / "run"))


def test_a_search_run_without_weights_gets_one_line_and_nothing_is_written(tmp_path, folder_run):
    run = copy_run(folder_run, tmp_path)
    before = tree(tmp_path)
    outcome = run_script("export.py", f"run={run}", cwd=tmp_path)
    assert_refused(outcome, "no trained weights", "train=true", "scripts/retrain.py")
    assert tree(tmp_path) == before


def test_a_run_with_no_best_yet_gets_one_line(tmp_path, folder_run):
    run = copy_run(folder_run, tmp_path)
    (run / "best.json").unlink()
    before = tree(tmp_path)
    assert_refused(run_script("export.py", f"run={run}", cwd=tmp_path), "no best architecture yet")
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], ("run=None",)),
        (["run=nowhere"], ("run=", "does not exist")),
        (["runn=x"], ("runn",)),
        (["opset=3", "run=."], ("opset",)),
    ],
)
def test_bad_arguments_get_one_line(tmp_path, args, words):
    assert_refused(run_script("export.py", *args, cwd=tmp_path), *words)
    assert tree(tmp_path) == {}


@pytest.fixture(scope="module")
def trained_run(folder_run, tmp_path_factory) -> Path:
    """A copy of `folder_run` exported with train=true (its best trained with its recipe)."""
    run = copy_run(folder_run, tmp_path_factory.mktemp("trained"))
    outcome = run_script("export.py", f"run={run}", "train=true", cwd=run.parent)
    assert outcome.code == 0, outcome.stderr
    return run


def test_train_true_exports_the_best_with_class_names_and_both_files_match(folder_run, trained_run):
    out = trained_run / "export"
    best = json.loads((trained_run / "best.json").read_text())
    summary = json.loads((out / "export.json").read_text())
    assert json.loads(summary["arch"]) == best["arch"]
    assert summary["class_names"] == ["bar", "circle", "dot"]
    props = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert json.loads(props["class_names"]) == ["bar", "circle", "dot"]
    assert props["opset"] == "17" and props["num_classes"] == "3"
    assert json.loads(props["input_shape"]) == ["batch", 1, 8, 8]
    extra = {"metadata.json": ""}
    torch.jit.load(str(out / "model.ts"), _extra_files=extra)
    assert json.loads(json.loads(extra["metadata.json"])["class_names"]) == ["bar", "circle", "dot"]
    # The files take raw pixels and standardise them themselves, like the PyTorch model did.
    net, _ = load_network(out / "model.pt")
    data = load_dataset(FolderConfig(path=str(folder_run.parent / "pics")), seed=0)
    raw = data.test_x * data.input_std + data.input_mean
    assert float(raw.min()) >= -1e-3 and float(raw.max()) <= 255 + 1e-3
    model = Reference(net, data.input_mean, data.input_std)
    assert_match(out / "model.ts", out / "model.onnx", model, raw)
    assert_match(out / "model.ts", out / "model.onnx", model, raw[:1])


def test_exporting_again_uses_the_weights_trained_before(tmp_path, trained_run):
    run = copy_run(trained_run, tmp_path)
    weights = (run / "export" / "model.pt").read_bytes()
    again = run_script("export.py", f"run={run}", cwd=tmp_path)
    assert again.code == 0 and "weights trained earlier" in again.stdout
    assert (run / "export" / "model.pt").read_bytes() == weights


def test_a_retrained_model_is_exported_beside_its_weights(tmp_path, folder_run):
    args = [f"run={folder_run}", "child.epochs=1", "child.warmup_epochs=0"]
    args += ["child.threads=1", "progress=false"]
    assert run_script("retrain.py", *args, cwd=tmp_path).code == 0
    [weights] = list((tmp_path / "outputs" / "retrain").glob("*/*/model.pt"))
    outcome = run_script("export.py", f"run={weights.parent}", cwd=tmp_path)
    assert outcome.code == 0, outcome.stderr
    summary = json.loads((weights.parent / "export.json").read_text())
    assert summary["class_names"] == ["bar", "circle", "dot"]
    assert max(summary["max_difference"].values()) <= TOLERANCE


@pytest.mark.parametrize("method", ["shared", "darts"])
def test_weight_sharing_and_darts_runs_export_their_derived_architecture(tmp_path, method):
    overrides = [
        "dataset=digits",
        "evaluator=shared",
        "search_space.num_layers=2",
        "search_space.widths=[8]",
        "evaluator.recipe.epochs=1",
        "child.epochs=1",
        "child.threads=1",
        "test_best=false",
    ]
    if method == "darts":
        overrides.append("controller=darts")
    else:
        overrides += ["evaluator.controller_steps=1", "budget.children=2", "budget.batch=2"]
    run_search(tmp_path / "run", overrides)
    outcome = run_script("export.py", f"run={tmp_path / 'run'}", "train=true", cwd=tmp_path)
    assert outcome.code == 0, outcome.stderr
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    summary = json.loads((tmp_path / "run" / "export" / "export.json").read_text())
    assert json.loads(summary["arch"]) == best["arch"]
    assert summary["class_names"] == [str(k) for k in range(10)]


def test_an_unexportable_network_gets_one_line_from_the_script(tmp_path, trained_run, monkeypatch):
    run = copy_run(trained_run, tmp_path)
    for name in ("model.ts", "model.onnx", "export.json"):
        (run / "export" / name).unlink()
    real = app.export.load_network

    def unexportable(path):
        _, saved = real(path)
        return NoOnnx(), saved

    monkeypatch.setattr(app.export, "load_network", unexportable)
    monkeypatch.setattr(app.export, "Standardized", lambda net, mean, std: net)
    before = tree(tmp_path)
    outcome = run_script("export.py", f"run={run}", cwd=tmp_path)
    assert_refused(outcome, "cannot be exported to ONNX", "linalg_svd")
    assert tree(tmp_path) == before
