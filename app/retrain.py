"""Retrain one architecture from scratch with the longer `child=final` recipe; report test accuracy.

The architecture comes from a search run (`run=<dir>`: its best child, or with
`source=favourite` the controller's greedy choice) or from a JSON file (`arch=<file>`). With
`run=`, the data set and search-space settings are the run's own.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from rich.console import Console
from torch.utils.tensorboard import SummaryWriter

from app.config import RetrainConfig, typed_config
from app.console import make_console, summary_table
from app.run_files import RunFiles, atomic_write_json
from app.search import load_run_config
from app.validate import MAX_SEED, check_finite
from child.data.datasets import check_dataset, load_dataset
from child.evaluation.costs import count_params
from child.evaluation.result import Status
from child.evaluation.saved_model import save_network
from child.evaluation.trainer import check_recipe, resolve_device, torch_threads, train
from child.spaces import SpaceConfig, build_network, build_space, draw_architecture, format_arch
from controller.factory import build_controller
from core.architecture import Architecture
from core.errors import ConfigError, require

log = logging.getLogger(__name__)
SOURCES = ("best", "favourite")


@dataclass
class Candidate:
    """The architecture to retrain, the settings it belongs with, and what search said of it."""

    arch: Architecture
    dataset: Any
    space_cfg: SpaceConfig
    origin: str
    search_val_acc: float | None = None


def read_arch_file(path: Path) -> Architecture:
    """An architecture from a JSON file: best.json, a children.jsonl line, or a bare arch dict."""
    if not path.is_file():
        raise ConfigError(f"arch={str(path)!r} is not a file: expected a JSON architecture")
    try:
        data = json.loads(path.read_text())
        return Architecture.from_dict(data.get("arch", data))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"arch={str(path)!r} holds no architecture: {err}") from err


def pick_candidate(cfg: RetrainConfig) -> Candidate:
    """Resolve run=/arch=/source= into one architecture and its data and space settings."""
    if cfg.source not in SOURCES:
        raise ConfigError(f"source={cfg.source!r} is unknown: expected one of {SOURCES}")
    if cfg.arch:
        arch = read_arch_file(Path(cfg.arch))
        if not cfg.run:
            return Candidate(arch, cfg.dataset, cfg.search_space, f"file {cfg.arch}")
    if not cfg.run:
        raise ConfigError("run=null and arch=null: give a search run dir or an architecture file")
    run_dir = Path(cfg.run)
    run_cfg = load_run_config(run_dir, key="run")
    space_cfg = run_cfg.search_space
    if cfg.arch:
        return Candidate(arch, run_cfg.dataset, space_cfg, f"file {cfg.arch}")
    if cfg.source == "favourite":
        return Candidate(
            favourite(run_dir, run_cfg, space_cfg),
            run_cfg.dataset,
            space_cfg,
            f"controller favourite of {run_dir}",
        )
    best = RunFiles(run_dir).read_best()
    if best is None:
        raise ConfigError(f"run={str(run_dir)!r} has no best.json yet")
    return Candidate(
        Architecture.from_dict(best["arch"]),
        run_cfg.dataset,
        space_cfg,
        f"best child #{best['index']} of {run_dir}",
        best.get("val_acc"),
    )


def favourite(run_dir: Path, run_cfg: Any, space_cfg: SpaceConfig) -> Architecture:
    """The greedy choice of the run's controller, restored from its checkpoint."""
    try:
        checkpoint = RunFiles(run_dir).load_checkpoint()
    except ConfigError as err:
        raise ConfigError(f"run={str(run_dir)!r} has no usable favourite: {err}") from err
    if checkpoint is None:
        raise ConfigError(f"run={str(run_dir)!r} has no checkpoint.pt to take a favourite from")
    controller = build_controller(run_cfg.controller, build_space(space_cfg), run_cfg.seed)
    controller.load_state_dict(checkpoint["controller"])
    arch = controller.favourite()
    if arch is None:
        raise ConfigError(
            f"controller {run_cfg.controller.name!r} has no favourite: use source=best"
        )
    return arch


def retrain_main(raw: DictConfig, out_dir: Path, console: Console | None = None) -> dict[str, Any]:
    """Retrain the chosen architecture into `out_dir`; return the result summary."""
    console = console or make_console()
    cfg: RetrainConfig = typed_config(raw, root=RetrainConfig)
    check_finite(cfg)
    require(0 <= cfg.seed <= MAX_SEED, "seed", cfg.seed, f"an int in [0, {MAX_SEED}]")
    check_recipe(cfg.child)
    candidate = pick_candidate(cfg)
    check_dataset(candidate.dataset)
    with torch_threads(cfg.child.threads):
        return retrain_candidate(cfg, candidate, out_dir, console)


def retrain_candidate(
    cfg: RetrainConfig, candidate: Candidate, out_dir: Path, console: Console
) -> dict[str, Any]:
    """Train the candidate from scratch, log it, save it and print the result."""
    data = load_dataset(candidate.dataset, cfg.seed).to(resolve_device(cfg.child.device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = build_network(
            candidate.arch, data.input_shape, data.num_classes, candidate.space_cfg
        ).to(data.train_x.device)
    name = format_arch(candidate.arch)
    console.print(
        f"Retraining {name} ({candidate.origin}) for {cfg.child.epochs} epochs",
        markup=False,
        highlight=False,
    )
    writer = SummaryWriter(str(out_dir))
    writer.add_text("retrain/architecture", f"`{name}` ({candidate.origin})")
    try:
        draw_architecture(candidate.arch, out_dir / "arch.png")
    except Exception as err:  # a picture is never worth losing a retraining
        log.warning("could not draw the architecture: %s: %s", type(err).__name__, err)

    def on_epoch(epoch: int, loss: float, val_acc: float | None) -> None:
        writer.add_scalar("retrain/train_loss", loss, epoch)
        if val_acc is not None:
            writer.add_scalar("retrain/val_acc", val_acc, epoch)
        if cfg.progress and (epoch % max(1, cfg.child.epochs // 10) == 0):
            console.print(
                f"epoch {epoch}/{cfg.child.epochs}: loss {loss:.4f}, val acc {val_acc:.4f}",
                highlight=False,
            )

    outcome = train(
        net,
        data,
        cfg.child,
        cfg.seed,
        validate_last=cfg.child.epochs,
        evaluate_test=True,
        on_epoch=on_epoch,
    )
    if outcome.status != Status.OK:
        writer.close()
        raise ConfigError(f"retraining failed ({outcome.status}): {outcome.message}")
    writer.add_scalar("retrain/test_acc", outcome.test_acc, cfg.child.epochs)
    writer.close()
    result = {
        "arch": candidate.arch.to_dict(),
        "arch_str": name,
        "origin": candidate.origin,
        "params": count_params(net),
        "epochs": cfg.child.epochs,
        "val_acc": outcome.val_curve[-1],
        "test_acc": outcome.test_acc,
        "test_metrics": outcome.test_metrics,
        "search_val_acc": candidate.search_val_acc,
        "seconds": round(outcome.seconds, 2),
        "seed": cfg.seed,
        "dataset": candidate.dataset.name,
    }
    save_network(
        out_dir / "model.pt",
        net,
        candidate.arch,
        data.input_shape,
        data.num_classes,
        candidate.space_cfg,
        info=result,
    )
    atomic_write_json(out_dir / "result.json", result)
    console.print(summary_table(result_rows(result, out_dir), title="Retraining result"))
    return result


def result_rows(result: dict[str, Any], out_dir: Path) -> list[tuple[str, str]]:
    """The rows of the retraining table; test accuracy is labelled apart from search numbers."""
    search = result["search_val_acc"]
    return [
        ("architecture", result["arch_str"]),
        ("from", result["origin"]),
        ("parameters", f"{result['params']:,}"),
        (f"TEST accuracy (retrained, {result['epochs']} epochs)", f"{result['test_acc']:.4f}"),
        *(
            (f"TEST {name.replace('_', ' ')} (retrained, {result['epochs']} epochs)", f"{v:.4f}")
            for name, v in result.get("test_metrics", {}).items()
            if name in ("balanced_accuracy", "macro_f1")
        ),
        ("validation accuracy (retrained)", f"{result['val_acc']:.4f}"),
        ("validation accuracy (search, short recipe)", f"{search:.4f}" if search else "-"),
        ("training time", f"{result['seconds']:.1f} s"),
        (
            "weights + architecture",
            f"{out_dir / 'model.pt'}  (child.evaluation.saved_model.load_network)",
        ),
    ]
