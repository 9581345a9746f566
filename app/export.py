"""Export a trained architecture as TorchScript (`model.ts`) and ONNX (`model.onnx`).

`run=` names either a directory holding trained weights (`model.pt`: a retraining's output
directory, or an earlier export's) or a search run directory. A search keeps no weights for its
children, so a search run is exported through trained weights of its best architecture (its
best.json: for weight sharing and DARTS, the derived architecture): those in `<out>/model.pt` if
an earlier `train=true` left them for the same architecture, else `train=true` trains it now
with the run's own recipe, data and seed; without it, one line says how to get weights.

The exported model takes the data as it is read (pixels 0..255 for images, the raw values of an
.npz) and standardises them itself, with the training split's statistics, then returns logits.
Both files are checked against the PyTorch model on a batch of test examples before the export
succeeds; an export that fails or does not match is removed and reported in one line.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from torch import nn

from app.config import RetrainConfig, require_run_dir, typed_config
from app.console import make_console, summary_table
from app.errors import describe
from app.retrain import pick_candidate, retrain_candidate
from app.run_files import RunFiles, atomic_write_json
from app.search import load_run_config
from child.data.datasets import DataSplits, check_dataset, class_names, load_dataset
from child.evaluation.saved_model import load_network
from child.evaluation.trainer import torch_threads
from child.spaces import format_arch
from core.architecture import Architecture
from core.errors import ConfigError, require

log = logging.getLogger(__name__)

WEIGHTS = "model.pt"
TORCHSCRIPT = "model.ts"
ONNX = "model.onnx"
SUMMARY = "export.json"
TOLERANCE = 1e-4  # largest |exported - PyTorch| logit difference, relative to max(1, |logit|)


@dataclass
class ExportConfig:
    """The settings of scripts/export.py, given as key=value arguments."""

    run: str | None = None  # a search run dir, or a dir with model.pt (a retraining's output)
    out: str | None = None  # where the files go; default: run= itself if it holds model.pt,
    # else <run>/export
    train: bool = False  # a search run without weights: train its best with the run's recipe
    opset: int = 17  # the ONNX opset
    batch: int = 8  # test examples the exported files are checked on


@dataclass
class Trained:
    """Trained weights to export, with the data settings they were trained with."""

    weights: Path
    dataset: Any | None  # the `dataset` config; None when unknown (no standardisation)
    origin: str


def parse_args(args: Sequence[str]) -> ExportConfig:
    """`key=value` arguments as a typed ExportConfig; ConfigError for a bad one."""
    for arg in args:
        if "=" not in arg:
            raise ConfigError(f"{arg!r} is not key=value: expected e.g. run=outputs/<date>/<time>")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(ExportConfig), OmegaConf.from_dotlist(args))
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as err:
        raise ConfigError(describe(err)) from err


def export_main(cfg: ExportConfig, console: Console | None = None) -> dict[str, Any]:
    """Find (or train) the weights `cfg.run` names, export both files, check them, report."""
    console = console or make_console()
    require(cfg.run is not None, "run", cfg.run, "a search run dir or a dir holding model.pt")
    require(7 <= cfg.opset <= 21, "opset", cfg.opset, "an ONNX opset in 7..21")
    require(cfg.batch >= 1, "batch", cfg.batch, "an int >= 1")
    run_dir = Path(str(cfg.run))
    if not run_dir.is_dir():
        problem = "does not exist" if not run_dir.exists() else "is not a directory"
        raise ConfigError(f"run={str(run_dir)!r} is invalid: {problem}; expected a run directory")
    trained, out_dir = find_weights(cfg, run_dir, console)
    return export_weights(trained, out_dir, cfg, console)


def find_weights(cfg: ExportConfig, run_dir: Path, console: Console) -> tuple[Trained, Path]:
    """The weights to export and the folder the files go to; ConfigError if there are none."""
    if (run_dir / WEIGHTS).is_file():
        out = Path(cfg.out) if cfg.out else run_dir
        return Trained(run_dir / WEIGHTS, weights_dataset(run_dir), str(run_dir / WEIGHTS)), out
    require_run_dir(run_dir, "run")
    run_cfg = load_run_config(run_dir, key="run")
    best = RunFiles(run_dir).read_best()
    if best is None:
        raise ConfigError(
            f"run={str(run_dir)!r} has no best architecture yet (no best.json): let the search "
            f"evaluate a child first (python scripts/search.py resume={run_dir})"
        )
    arch = Architecture.from_dict(best["arch"])
    out = Path(cfg.out) if cfg.out else run_dir / "export"
    if (out / WEIGHTS).is_file() and saved_arch(out / WEIGHTS) == arch:
        console.print(f"Using the weights trained earlier: {out / WEIGHTS}", markup=False)
        return Trained(out / WEIGHTS, run_cfg.dataset, f"{out / WEIGHTS}"), out
    if not cfg.train:
        raise ConfigError(
            f"run={str(run_dir)!r} holds its best architecture but no trained weights (a search "
            f"keeps none): add train=true to train it here with the run's recipe "
            f"(child.epochs={run_cfg.child.epochs}), or retrain it (python scripts/retrain.py "
            f"run={run_dir}) and export that directory"
        )
    return train_best(run_dir, run_cfg, out, console), out


def saved_arch(weights: Path) -> Architecture | None:
    """The architecture saved with `weights`, or None if the file cannot be read."""
    try:
        saved = torch.load(weights, map_location="cpu", weights_only=True)
        return Architecture.from_dict(saved["arch"])
    except Exception:  # a damaged file is simply not reused
        return None


def weights_dataset(folder: Path) -> Any | None:
    """The data settings `folder/model.pt` was trained with, from its retraining's config.

    A retraining run by scripts/retrain.py keeps its config in .hydra/; with `run=` the data set
    is that search run's. Weights that `train=true` left in <run>/export belong to <run>.
    """
    retrain = folder / ".hydra" / "config.yaml"
    if retrain.is_file():
        cfg: RetrainConfig = typed_config(OmegaConf.load(retrain), root=RetrainConfig)
        return load_run_config(Path(cfg.run), key="run").dataset if cfg.run else cfg.dataset
    if (folder.parent / ".hydra" / "config.yaml").is_file():
        return load_run_config(folder.parent, key="run").dataset
    return None


def train_best(run_dir: Path, run_cfg: Any, out: Path, console: Console) -> Trained:
    """Train the run's best architecture into `out` with the run's recipe, data and seed."""
    cfg = RetrainConfig(
        run=str(run_dir),
        dataset=run_cfg.dataset,
        search_space=run_cfg.search_space,
        child=run_cfg.child,
        seed=run_cfg.seed,
        progress=False,
    )
    candidate = pick_candidate(cfg)
    check_dataset(candidate.dataset)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with torch_threads(cfg.child.threads):
            retrain_candidate(cfg, candidate, out, console)
    except BaseException:
        if created:
            remove_tree(out)
        raise
    return Trained(out / WEIGHTS, run_cfg.dataset, f"{candidate.origin}, trained into {out}")


class Standardized(nn.Module):
    """The network behind the standardisation its training data had: raw inputs in, logits out."""

    def __init__(self, net: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", mean.detach().cpu().clone())
        self.register_buffer("std", std.detach().cpu().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, classes) for raw inputs (N, *input_shape)."""
        return self.net((x - self.mean) / self.std)


def export_weights(
    trained: Trained, out_dir: Path, cfg: ExportConfig, console: Console
) -> dict[str, Any]:
    """Export the network in `trained.weights` into `out_dir`; return what export.json holds."""
    net, saved = load_network(trained.weights)
    arch: Architecture = saved["arch"]
    input_shape = tuple(saved["input_shape"])
    seed = int(saved.get("info", {}).get("seed", 0))
    model, batch, inputs = with_standardisation(net, trained.dataset, seed, input_shape, cfg.batch)
    names = class_names(trained.dataset) if trained.dataset is not None else None
    if names is not None and len(names) != saved["num_classes"]:
        names = None  # the data changed since training: indices only
    metadata = {
        "architecture": format_arch(arch),
        "arch": json.dumps(arch.to_dict()),
        "space": arch.space,
        "input_name": "input",
        "input_shape": json.dumps(["batch", *input_shape]),
        "input": inputs,
        "output_name": "logits",
        "num_classes": str(saved["num_classes"]),
        "class_names": json.dumps(list(names)) if names else "",
        "dataset": trained.dataset.name if trained.dataset is not None else "",
        "weights": str(trained.weights),
        "opset": str(cfg.opset),
    }
    result = export_module(model, batch, out_dir, metadata, cfg.opset, format_arch(arch))
    summary = {**metadata, "class_names": list(names) if names else None, **result}
    atomic_write_json(out_dir / SUMMARY, summary)
    console.print(summary_table(export_rows(summary, trained.origin), title="Export"))
    return summary


def with_standardisation(
    net: nn.Module, dataset: Any | None, seed: int, input_shape: tuple[int, ...], n: int
) -> tuple[nn.Module, torch.Tensor, str]:
    """The model to export, a batch of raw inputs to check it on, and what its input is."""
    if dataset is None:
        batch = torch.randn(n, *input_shape, generator=torch.Generator().manual_seed(seed))
        return net, batch, "standardised values: the training data's settings are unknown"
    data: DataSplits = load_dataset(dataset, seed)
    if data.input_shape != input_shape or data.input_mean is None or data.input_std is None:
        raise ConfigError(
            f"dataset={dataset.name} now gives inputs {data.input_shape}, but the weights were "
            f"trained on {input_shape}: export from the data they were trained on"
        )
    model = Standardized(net, data.input_mean, data.input_std).eval()
    raw = data.test_x[:n] * data.input_std + data.input_mean  # the test examples as read
    kind = "images" if len(input_shape) == 3 else "sequences"
    return model, raw.float(), f"raw {kind} as dataset={dataset.name} reads them (float32)"


def export_module(
    model: nn.Module,
    batch: torch.Tensor,
    out_dir: Path,
    metadata: dict[str, str],
    opset: int,
    name: str,
) -> dict[str, Any]:
    """Write model.ts and model.onnx for `model`, checked on `batch`; ConfigError otherwise.

    Both are traced: the input shape is fixed but for the batch size. Files of a failed export
    are removed (and `out_dir` too if this call made it).
    """
    model = model.eval()
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / TORCHSCRIPT, out_dir / ONNX]
    try:
        with torch.no_grad():
            expected = model(batch)
        example = batch[: min(2, len(batch))]  # traced on 2, checked on the whole batch
        script = trace(model, example, name)
        torch.jit.save(
            script, str(written[0]), _extra_files={"metadata.json": json.dumps(metadata)}
        )
        to_onnx(model, example, written[1], opset, metadata, name)
        differences = {
            "torchscript": difference(run_torchscript(written[0], batch), expected),
            "onnx": difference(run_onnx(written[1], batch), expected),
        }
        for fmt, diff in differences.items():
            if diff > TOLERANCE:
                raise ConfigError(
                    f"{name} cannot be exported faithfully: its {fmt} output differs from "
                    f"PyTorch's by {diff:.2g} (> {TOLERANCE:g}) on a batch (a forward pass that "
                    "depends on the data cannot be traced)"
                )
    except BaseException:
        for file in written:
            file.unlink(missing_ok=True)
        if created:
            remove_tree(out_dir)
        raise
    return {
        "torchscript": str(written[0]),
        "onnx": str(written[1]),
        "checked_on": len(batch),
        "max_difference": differences,
    }


def trace(model: nn.Module, example: torch.Tensor, name: str) -> torch.jit.ScriptModule:
    """`model` traced by TorchScript on `example`; ConfigError if it cannot be."""
    try:
        with warnings.catch_warnings():
            # Tracing unrolls a recurrent cell over the fixed sequence length: meant, not a risk.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # PyTorch deprecates TorchScript for torch.export, but its files still load in
            # torch.jit.load and LibTorch (C++), which is what an export is for.
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.trace(model, example, check_trace=False)
    except Exception as err:
        raise ConfigError(f"{name} cannot be exported to TorchScript: {first_line(err)}") from err


def to_onnx(
    model: nn.Module,
    example: torch.Tensor,
    path: Path,
    opset: int,
    metadata: dict[str, str],
    name: str,
) -> None:
    """Write `model` as ONNX with a free batch axis and `metadata` in its metadata_props."""
    try:
        with warnings.catch_warnings():
            # The TorchScript-based exporter: no onnxscript needed, and every space exports.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
        proto = onnx.load(str(path))
    except Exception as err:
        raise ConfigError(f"{name} cannot be exported to ONNX: {first_line(err)}") from err
    onnx.helper.set_model_props(proto, {k: v for k, v in metadata.items() if v})
    proto.doc_string = f"{name}: input {metadata['input_shape']}, {metadata['input']}"
    onnx.save(proto, str(path))


def run_torchscript(path: Path, batch: torch.Tensor) -> np.ndarray:
    """The logits the saved TorchScript file gives for `batch`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # see trace()
        loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return loaded(batch).numpy()


def run_onnx(path: Path, batch: torch.Tensor) -> np.ndarray:
    """The logits onnxruntime gives for `batch` with the saved ONNX file."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": batch.numpy()})[0]


def difference(got: np.ndarray, expected: torch.Tensor) -> float:
    """The largest logit difference, relative to max(1, the largest |logit|)."""
    want = expected.numpy()
    if got.shape != want.shape:
        return float("inf")
    return float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))


def remove_tree(folder: Path) -> None:
    """Remove `folder` and what is in it (a folder this call made)."""
    shutil.rmtree(folder, ignore_errors=True)


def first_line(err: BaseException) -> str:
    """The first line of an exception's message, or its type."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def export_rows(summary: dict[str, Any], origin: str) -> list[tuple[str, str]]:
    """The rows of the export table."""
    names = summary["class_names"]
    diffs = summary["max_difference"]
    return [
        ("architecture", summary["architecture"]),
        ("weights", origin),
        ("input", f"{summary['input_shape']}: {summary['input']}"),
        ("output", f"logits ({summary['num_classes']} classes)"),
        ("classes", ", ".join(f"{i}={n}" for i, n in enumerate(names)) if names else "indices"),
        ("TorchScript", f"{summary['torchscript']}  (torch.jit.load)"),
        ("ONNX", f"{summary['onnx']}  (opset {summary['opset']}, onnxruntime)"),
        (
            f"checked on {summary['checked_on']} test examples",
            f"max |difference| TorchScript {diffs['torchscript']:.1e}, ONNX {diffs['onnx']:.1e}",
        ),
    ]
