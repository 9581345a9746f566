"""The search application: config → parts → search loop → final report."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from rich.console import Console

from app.config import SearchConfig, require_run_dir, typed_config
from app.console import SearchProgress, make_console, summary_table
from app.finalists import train_finalists
from app.loops import loop_for, summary_rows
from app.loops.base import Saved, SearchLoop, SearchState, migrate_checkpoint, stopped_early
from app.parts import SearchParts, build_parts
from app.preflight import require_new_run_dir
from app.run_files import RunFiles, atomic_write_json
from app.tb_log import SearchLogger, flat_hparams, unused_settings
from app.validate import validate
from app.warm_start import warm_start_run
from child.evaluation.evaluator import ChildJob, child_seed, evaluate_child
from child.evaluation.result import ChildResult, Status
from child.evaluation.trainer import resolve_device, torch_threads
from child.spaces import draw_architecture, format_arch
from core.errors import ConfigError

log = logging.getLogger(__name__)
SUMMARY = "summary.json"
TEST_NOTE = (
    "test accuracy of this architecture retrained from scratch with the search recipe and the "
    "child's seed; reward and val_acc are search-time validation numbers"
)


# What a resuming call may set besides resume=: the run's own settings are never changed.
RESUME_OVERRIDES = ("resume", "progress")


def load_run_config(run_dir: Path, key: str = "resume") -> SearchConfig:
    """The typed config a run was started with (its `.hydra/config.yaml`)."""
    require_run_dir(run_dir, key)
    return typed_config(OmegaConf.load(run_dir / ".hydra" / "config.yaml"))


def save_run_config(run_dir: Path, raw: DictConfig) -> None:
    """Keep the config in `.hydra/config.yaml`, as Hydra does, when called without Hydra."""
    path = run_dir / ".hydra" / "config.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(OmegaConf.to_yaml(raw))


def search_main(
    raw: DictConfig,
    run_dir: Path,
    console: Console | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Run (or resume) a whole search in `run_dir` and return its summary.

    `overrides` are the command line's (Hydra's `overrides.task`): a resuming call may set
    nothing but `resume=` and `progress=`.
    """
    console = console or make_console()
    cfg = typed_config(raw)
    if cfg.resume:
        return resume_search(cfg, overrides, console)
    validate(cfg)
    require_new_run_dir(run_dir)
    files = RunFiles(run_dir)
    save_run_config(run_dir, raw)
    with torch_threads(cfg.child.threads):
        return run_search(cfg, run_dir, files, console, saved=None)


def resume_search(call: SearchConfig, overrides: Sequence[str], console: Console) -> dict:
    """Continue the run `call.resume` with its own settings, after checking all it left."""
    run_dir = Path(call.resume or "")
    changed = [o for o in overrides if o.lstrip("+~").split("=")[0] not in RESUME_OVERRIDES]
    if changed:
        raise ConfigError(
            f"resume={str(run_dir)!r} continues the run with the settings it started with, so "
            f"{' '.join(changed)} cannot be applied; start a new run to change them"
        )
    cfg = load_run_config(run_dir)
    cfg.progress = call.progress
    validate(cfg)
    files = RunFiles(run_dir)
    try:
        if (run_dir / SUMMARY).exists():
            summary = read_summary(run_dir / SUMMARY)
            console.print(f"Run {run_dir} already finished; nothing to do.", markup=False)
            return summary
        require_checkpoint(files)
        saved = read_saved(files, loop_for(cfg))
    except ConfigError as err:
        raise ConfigError(
            f"resume={str(run_dir)!r} cannot continue, and nothing was changed: {err}"
        ) from err
    with torch_threads(cfg.child.threads):
        return run_search(cfg, run_dir, files, console, saved)


def read_summary(path: Path) -> dict[str, Any]:
    """A finished run's summary.json; ConfigError if it is damaged."""
    try:
        summary = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is damaged ({err})") from err
    if not isinstance(summary, dict):
        raise ConfigError(f"{path} is damaged (a JSON {type(summary).__name__}, not a summary)")
    return summary


def require_checkpoint(files: RunFiles) -> None:
    """Refuse a run that holds records but no checkpoint: resuming would start over on them.

    Every run checkpoints before its first child, so such a run lost its checkpoint (deleted,
    moved, or written by a version that checkpointed later); only a new run can search again.
    """
    if files.checkpoint_path.exists() or not (records := files.records()):
        return
    raise ConfigError(
        f"it holds {' and '.join(records)} but no {files.checkpoint_path.name} (deleted or moved: "
        f"every run writes one before its first child); start a new run instead: "
        f"{new_run_command(files.dir)}"
    )


def new_run_command(run_dir: Path) -> str:
    """The command that starts a new run with `run_dir`'s settings (its .hydra/overrides.yaml)."""
    path = run_dir / ".hydra" / "overrides.yaml"
    try:
        overrides = OmegaConf.load(path) if path.is_file() else None
    except Exception:  # a damaged file: point at the settings instead
        overrides = None
    if not isinstance(overrides, ListConfig):
        return f"python scripts/search.py with the settings in {run_dir / '.hydra' / 'config.yaml'}"
    kept = [str(o) for o in overrides if str(o).lstrip("+~").split("=")[0] not in RESUME_OVERRIDES]
    return " ".join(["python scripts/search.py", *kept])


def read_saved(files: RunFiles, loop: type[SearchLoop]) -> Saved | None:
    """The checkpoint and the children it counts, checked; None before the first checkpoint.

    A checkpoint of an earlier version is converted to today's layout (`migrate_checkpoint`).
    """
    checkpoint = files.load_checkpoint()
    if checkpoint is None:
        return None
    try:
        checkpoint = migrate_checkpoint(checkpoint, loop)
        state = SearchState(**checkpoint["state"])
        controller = checkpoint["controller"]
        method_state = dict(checkpoint["method_state"] or {})
    except (KeyError, TypeError) as err:
        raise ConfigError(f"{files.checkpoint_path} is not a search checkpoint ({err})") from err
    except ConfigError as err:
        raise ConfigError(f"{files.checkpoint_path} does not fit this run: {err}") from err
    children = files.read_children(state.lines)
    return Saved(state, controller, children, method_state)


def run_search(
    cfg: SearchConfig, run_dir: Path, files: RunFiles, console: Console, saved: Saved | None
) -> dict:
    """Build the parts, restore what a stopped run saved, search, and report."""
    method = loop_for(cfg)
    parts = build_parts(cfg)
    restore(files, parts, saved, console)
    state = saved.state if saved else SearchState()
    warmed = warm_start_run(
        cfg.warm_start,
        parts.controller,
        cfg.budget.batch,
        parts.data,
        parts.space_cfg,
        cfg.seed,
        run_dir,
        cfg.child.device,
        cfg.child.threads,
    )
    log.info(
        "space %s, controller %s, evaluator %s, data %s",
        parts.space.name,
        cfg.controller.name,
        cfg.evaluator.name,
        parts.data.describe() if parts.data else "none",
    )
    logger = SearchLogger(
        run_dir,
        parts.space,
        purge_step=state.step + 1 if state.step else None,
        value_label=method.value_label(cfg),
    )
    try:
        total = method.progress_total(cfg)
        with SearchProgress(total, enabled=cfg.progress, console=console) as progress:
            loop = method.from_parts(cfg, parts, files, logger, progress, saved)
            loop.run()
        loop.conclude()
        top_k = None
        if cfg.top_k:
            top_k = train_finalists(
                cfg.top_k, loop, parts, cfg.child, cfg.reward, cfg.seed, cfg.test_best, console
            )
        summary = finish(cfg, run_dir, loop, parts, logger, warmed, top_k)
    finally:
        parts.evaluator.close()
        logger.close()
    if stopped := stopped_early(summary):
        console.print(f"Stopped early: {stopped}.", markup=False)
    console.print(summary_table(summary_rows(summary), title="Search summary"))
    return summary


def restore(files: RunFiles, parts: SearchParts, saved: Saved | None, console: Console) -> None:
    """Continue from `saved` (the children of an unfinished step are dropped: they train again).

    The controller is restored here; the loop restores its own method state.
    """
    files.clear_torn_writes()
    if saved is None:  # killed before its first checkpoint, which comes before any child
        return
    parts.controller.load_state_dict(saved.controller)
    files.keep_children(saved.children)
    if saved.state.best is not None:
        files.write_best(saved.state.best)  # best.json may name a child the checkpoint lost
    console.print(
        f"Resuming {files.dir} at step {saved.state.step}: {saved.state.evaluated} children done.",
        markup=False,
    )


def test_best(cfg: SearchConfig, best: dict[str, Any], parts: SearchParts) -> float | None:
    """Retrain the best architecture with the search recipe and its seed; its test accuracy."""
    if parts.data is None or not cfg.test_best or best["status"] != Status.OK:
        return None
    if "picked_by" in best:  # a top-k finalist: measured when it was trained, with this seed
        return best["test_acc"]
    result = ChildResult.from_dict(best)
    job = ChildJob(result.index, result.arch, child_seed(cfg.seed, result.index))
    data = parts.data.to(resolve_device(cfg.child.device))  # Ray's copy stays on the CPU
    retrained = evaluate_child(
        job, data, parts.space_cfg, cfg.child, cfg.reward, evaluate_test=True
    )
    return retrained.test_acc


def finish(
    cfg: SearchConfig,
    run_dir: Path,
    loop: SearchLoop,
    parts: SearchParts,
    logger: SearchLogger,
    warmed: dict[str, Any] | None = None,
    top_k: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Report on the best child; write best.json, summary.json and hparams.

    The loop adds its own section to the summary (a multi-trial search's Pareto front, say).
    """
    state = loop.state
    best = state.best
    test_acc = test_best(cfg, best, parts) if best else None
    if test_acc is not None:
        best = {**best, "test_acc": test_acc, "test_note": TEST_NOTE}
        RunFiles(run_dir).write_best(best)
    if best and cfg.plots:
        try:
            image = draw_architecture(ChildResult.from_dict(best).arch, run_dir / "best.png")
            logger.log_image("best/diagram", image, state.step)
        except Exception as err:  # a picture is never worth losing a finished search
            log.warning("could not draw the best architecture: %s: %s", type(err).__name__, err)
    favourite = parts.controller.favourite()
    summary = {
        "run_dir": str(run_dir),
        "method": loop.method,
        "controller": cfg.controller.name,
        "steps": state.step,
        "children": state.evaluated,
        "cached": state.cached,
        "stopped": loop.stop_reason(),
        "seconds": round(state.seconds, 2),
        "controller_seconds": round(state.controller_seconds, 4),
        "best": best,
        "best_reward": state.best_reward,
        "test_acc": test_acc,
        "favourite": format_arch(favourite) if favourite is not None else None,
        "config": asdict(cfg),
    }
    summary.update(loop.summary_section(cfg, best))
    if warmed is not None:
        summary["warm_start"] = warmed
    picked = top_k is not None and top_k["picked_cheap_rank"] is not None
    if top_k is not None:
        summary["top_k"] = top_k
    nan = float("nan")
    best_value = float(best["val_acc"]) if best else nan
    value_label = "val_acc" if picked else loop.value_label(cfg)  # a finalist trained alone
    final = {
        f"best/{value_label}": (state.step, best_value),
        "best/test_acc": (state.step, test_acc if test_acc is not None else nan),
    }
    metrics = {
        "reward/best_so_far": state.best_reward,
        **{tag: value for tag, (_, value) in final.items()},
        **{f"best/{c}": v for c, v in ((best or {}).get("report") or {}).items()},
    }
    unused = unused_settings(
        reads_data=parts.data is not None, pipelined=loop.method == "multi_trial"
    )
    logger.log_hparams(flat_hparams(summary["config"], unused), metrics, final)
    atomic_write_json(run_dir / SUMMARY, summary)
    return summary
