"""The search application: config → parts → search loop → final report."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from app.config import SearchConfig, require_run_dir, typed_config
from app.console import SearchProgress, make_console, summary_table
from app.darts_loop import METHOD as DARTS_METHOD
from app.darts_loop import DartsSearch
from app.loop import Search, SearchState, restore_state, stop_reason, stopped_early
from app.pareto import PARETO_PNG, front_records, front_summary, plot_front
from app.parts import SearchParts, build_parts
from app.run_files import RunFiles, atomic_write_json
from app.shared_loop import SharedWeightSearch
from app.tb_log import SearchLogger, flat_hparams
from app.validate import validate
from child.evaluation.config import TableEvaluatorConfig
from child.evaluation.evaluator import ChildJob, child_seed, evaluate_child
from child.evaluation.result import ChildResult, Status
from child.evaluation.shared import SharedEvaluator
from child.evaluation.table import describe_column, is_test_column
from child.evaluation.trainer import resolve_device, torch_threads
from child.spaces import draw_architecture, format_arch, param_free_share, space_def
from controller.darts import DartsController
from core.errors import ConfigError

log = logging.getLogger(__name__)
SUMMARY = "summary.json"
TEST_NOTE = (
    "test accuracy of this architecture retrained from scratch with the search recipe and the "
    "child's seed; reward and val_acc are search-time validation numbers"
)


# What a resuming call may set besides resume=: the run's own settings are never changed.
RESUME_OVERRIDES = ("resume", "progress")


@dataclass
class Saved:
    """What a stopped run left: its state, its controller, and its children, all checked."""

    state: SearchState
    controller: dict[str, Any]
    children: list[dict[str, Any]]
    evaluator: dict[str, Any] | None = None  # the supernet and its optimizer (evaluator=shared)
    pending: list[list[dict[str, Any]]] = field(default_factory=list)  # proposed, not learned


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
    files = RunFiles(run_dir)
    if (run_dir / SUMMARY).exists() or files.checkpoint_path.exists():
        raise ConfigError(f"{run_dir} already holds a search: continue it with resume={run_dir}")
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
    if (run_dir / SUMMARY).exists():
        console.print(f"Run {run_dir} already finished; nothing to do.", markup=False)
        return json.loads((run_dir / SUMMARY).read_text())
    try:
        saved = read_saved(files)
    except ConfigError as err:
        raise ConfigError(
            f"resume={str(run_dir)!r} cannot continue, and nothing was changed: {err}"
        ) from err
    with torch_threads(cfg.child.threads):
        return run_search(cfg, run_dir, files, console, saved)


def read_saved(files: RunFiles) -> Saved | None:
    """The checkpoint and the children it counts, checked; None before the first checkpoint."""
    checkpoint = files.load_checkpoint()
    if checkpoint is None:
        return None
    try:
        state = restore_state(checkpoint)
        controller = checkpoint["controller"]
    except (KeyError, TypeError) as err:
        raise ConfigError(f"{files.checkpoint_path} is not a search checkpoint ({err})") from err
    children = files.read_children(state.lines)
    pending = checkpoint.get("pending") or []
    return Saved(state, controller, children, checkpoint.get("evaluator"), pending)


def run_search(
    cfg: SearchConfig, run_dir: Path, files: RunFiles, console: Console, saved: Saved | None
) -> dict:
    """Build the parts, restore what a stopped run saved, search, and report."""
    parts = build_parts(cfg)
    state, history = restore(files, parts, saved, console)
    log.info(
        "space %s, controller %s, evaluator %s, data %s",
        parts.space.name,
        cfg.controller.name,
        cfg.evaluator.name,
        parts.data.describe() if parts.data else "none",
    )
    if state.depth is None:  # a new run: resumed ones keep theirs, whatever the machine
        state.depth = pipeline_depth(cfg, parts)
    logger = SearchLogger(
        run_dir,
        parts.space,
        purge_step=state.step + 1 if state.step else None,
        value_label=value_label(cfg),
    )
    try:
        if isinstance(parts.evaluator, SharedEvaluator):
            state = search_with_shared_weights(cfg, parts, files, logger, console, state)
        else:
            with SearchProgress(cfg.budget.children, enabled=cfg.progress, console=console) as bar:
                bar.child_done(state.evaluated, 0.0, state.best_reward)
                search = Search(
                    parts.controller,
                    parts.evaluator,
                    cfg.budget,
                    cfg.seed,
                    files,
                    logger,
                    bar,
                    cache=cfg.cache,
                    state=state,
                    history=history,
                    depth=state.depth,
                    pending=saved.pending if saved else (),
                )
                state = search.run()
        summary = finish(cfg, run_dir, state, parts, logger)
    finally:
        parts.evaluator.close()
        logger.close()
    if stopped := stopped_early(summary):
        console.print(f"Stopped early: {stopped}.", markup=False)
    console.print(summary_table(summary_rows(summary), title="Search summary"))
    return summary


def search_with_shared_weights(
    cfg: SearchConfig,
    parts: SearchParts,
    files: RunFiles,
    logger: SearchLogger,
    console: Console,
    state: SearchState,
) -> SearchState:
    """ENAS (or DARTS) epochs (no cache: rewards change as the weights train), then derive."""
    assert isinstance(parts.evaluator, SharedEvaluator)
    epochs = parts.evaluator.cfg.recipe.epochs
    loop = DartsSearch if isinstance(parts.controller, DartsController) else SharedWeightSearch
    with SearchProgress(epochs, enabled=cfg.progress, console=console) as bar:
        search = loop(
            parts.controller,
            parts.evaluator,
            cfg.budget,
            files,
            logger,
            bar,
            space_def(cfg.search_space.name).param_free_ops,
            state,
        )
        state = search.run()
    search.derive()
    return state


def pipeline_depth(cfg: SearchConfig, parts: SearchParts) -> int:
    """`budget.depth`, or by default one proposal ahead per worker (0 with one worker)."""
    if cfg.budget.depth is not None:
        return cfg.budget.depth
    workers = getattr(parts.evaluator, "parallelism", 1)  # a shared-weight search has none
    return workers if workers > 1 else 0


def restore(
    files: RunFiles, parts: SearchParts, saved: Saved | None, console: Console
) -> tuple[SearchState, list[dict[str, Any]]]:
    """Continue from `saved` (the children of an unfinished step are dropped: they train again)."""
    if saved is None:
        if files.children_path.exists():
            files.keep_children([])  # killed before the first checkpoint: start clean
        return SearchState(), []
    parts.controller.load_state_dict(saved.controller)
    if saved.evaluator is not None:
        parts.evaluator.load_state_dict(saved.evaluator)  # type: ignore[attr-defined]
    files.keep_children(saved.children)
    if saved.state.best is not None:
        files.write_best(saved.state.best)  # best.json may name a child the checkpoint lost
    console.print(
        f"Resuming {files.dir} at step {saved.state.step}: {saved.state.evaluated} children done.",
        markup=False,
    )
    return saved.state, saved.children


def test_best(cfg: SearchConfig, best: dict[str, Any], parts: SearchParts) -> float | None:
    """Retrain the best architecture with the search recipe and its seed; its test accuracy."""
    if parts.data is None or not cfg.test_best or best["status"] != Status.OK:
        return None
    result = ChildResult.from_dict(best)
    job = ChildJob(result.index, result.arch, child_seed(cfg.seed, result.index))
    data = parts.data.to(resolve_device(cfg.child.device))  # Ray's copy stays on the CPU
    retrained = evaluate_child(
        job, data, parts.space_cfg, cfg.child, cfg.reward, evaluate_test=True
    )
    return retrained.test_acc


def finish(
    cfg: SearchConfig, run_dir: Path, state: SearchState, parts: SearchParts, logger: SearchLogger
) -> dict[str, Any]:
    """Report on the best child; write best.json, summary.json, the Pareto front and hparams."""
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
        "controller": cfg.controller.name,
        "steps": state.step,
        "children": state.evaluated,
        "cached": state.cached,
        "stopped": stop_reason(state, cfg.budget),
        "seconds": round(state.seconds, 2),
        "controller_seconds": round(state.controller_seconds, 4),
        "best": best,
        "best_reward": state.best_reward,
        "test_acc": test_acc,
        "favourite": format_arch(favourite) if favourite is not None else None,
        "config": asdict(cfg),
    }
    if isinstance(cfg.evaluator, TableEvaluatorConfig):
        summary["table"] = table_summary(cfg.evaluator, best)
    if best and best.get("evaluation") == "shared":
        summary["shared"] = {"epochs": state.epoch, **table_accuracies(best)}
        arch = ChildResult.from_dict(best).arch
        if best.get("derived") == "argmax" and space_def(arch.space).param_free_ops:  # DARTS
            summary["shared"]["param_free_share"] = param_free_share([arch])
    else:
        summary["pareto"] = pareto(cfg, run_dir, cfg.plots)
    nan = float("nan")
    best_value = float(best["val_acc"]) if best else nan
    final = {
        f"best/{value_label(cfg)}": (state.step, best_value),
        "best/test_acc": (state.step, test_acc if test_acc is not None else nan),
    }
    metrics = {
        "reward/best_so_far": state.best_reward,
        **{tag: value for tag, (_, value) in final.items()},
        **{f"best/{c}": v for c, v in ((best or {}).get("report") or {}).items()},
    }
    logger.log_hparams(flat_hparams(summary["config"]), metrics, final)
    atomic_write_json(run_dir / SUMMARY, summary)
    return summary


def value_label(cfg: SearchConfig) -> str:
    """What a child's `val_acc` is: a table's value column, else the validation accuracy."""
    if isinstance(cfg.evaluator, TableEvaluatorConfig):
        return cfg.evaluator.value_column
    return "val_acc"


def table_summary(table: TableEvaluatorConfig, best: dict[str, Any] | None) -> dict[str, Any]:
    """What a table search's numbers mean: the reward's column, oracle or not, the report."""
    return {
        "value_column": table.value_column,
        "value_meaning": describe_column(table.value_column),
        "oracle": is_test_column(table.value_column),
        "report": dict((best or {}).get("report") or {}),
        "report_meaning": {c: describe_column(c) for c in table.report_columns},
    }


def pareto(cfg: SearchConfig, run_dir: Path, draw: bool = True) -> dict[str, Any] | None:
    """The run's cost/accuracy Pareto front, drawn into pareto.png if `draw` (None: no costs)."""
    cost = "flops" if getattr(cfg.reward, "cost_metric", None) == "flops" else "params"
    records = [r for r in RunFiles(run_dir).read_children() if not r.get("cached")]
    front = front_records(records, cost)
    if not front:
        return None
    accuracy = (
        cfg.evaluator.value_column
        if isinstance(cfg.evaluator, TableEvaluatorConfig)
        else "validation accuracy (search)"
    )
    try:
        if draw:
            plot_front(records, front, run_dir / PARETO_PNG, cost, accuracy)
    except Exception as err:  # a picture is never worth losing a finished search
        log.warning("could not draw the Pareto front: %s: %s", type(err).__name__, err)
    return {"cost": cost, "accuracy": accuracy, "front": front_summary(front, cost)}


def table_accuracies(best: dict[str, Any]) -> dict[str, float]:
    """For an architecture of a space that ships a result table: its numbers there (else nothing).

    After a shared-weight NB201 search on one's own CIFAR-10 copy, these say at once whether the
    search collapsed (the all-skip cell scores 54.30% test after 200 epochs).
    """
    arch = ChildResult.from_dict(best).arch
    path = space_def(arch.space).table
    if path is None:
        return {}
    from child.evaluation.table import ResultTable  # reads the 15,625-row table: only when needed

    table = ResultTable.from_config(TableEvaluatorConfig(path=str(path)))
    value = table.get(arch)
    if value is None:
        return {}
    return {
        f"table/{table.value_column}": value,
        **{f"table/{column}": v for column, v in table.report(arch).items()},
    }


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows of the end-of-search table; every number is labelled with what it is."""
    best = summary["best"] or {}
    test = summary["test_acc"]
    if "shared" in summary:
        return shared_summary_rows(summary)
    minutes = summary["seconds"] / 60
    rate = summary["children"] / max(minutes, 1e-9)
    rows = [
        ("best architecture (by reward)", best.get("arch_str", "-")),
        ("reward (search)", f"{summary['best_reward']:.4f}"),
    ]
    if "table" in summary:
        rows += table_rows(summary["table"], best)
    else:
        rows += [
            ("validation accuracy (search)", f"{best.get('val_acc', 0.0):.4f}"),
            (
                "test accuracy (retrained, search recipe)",
                f"{test:.4f}" if test is not None else "-",
            ),
        ]
    rows += [
        ("parameters", f"{best['params']:,}" if best.get("params") else "-"),
        ("children evaluated / cached", f"{summary['children']} / {summary['cached']}"),
    ]
    if stopped := stopped_early(summary):
        rows.append(("stopped early", stopped))
    front = summary.get("pareto")
    if front:
        drawn = ", pareto.png" if summary["config"].get("plots", True) else ""
        rows.append(
            (
                f"Pareto front ({front['cost']} vs {front['accuracy']})",
                f"{len(front['front'])} cells{drawn}",
            )
        )
    rows += [
        ("search time", f"{_duration(summary['seconds'])} ({rate:,.1f} children/min)"),
        ("controller's favourite (greedy)", summary["favourite"] or "-"),
        ("run directory", summary["run_dir"]),
    ]
    return rows


def table_rows(table: dict[str, Any], best: dict[str, Any]) -> list[tuple[str, str]]:
    """The looked-up numbers of a table search's best cell, each under its column's meaning."""
    value = best.get("val_acc")
    label = f"reward's column: {table['value_meaning']} (table)"
    if table["oracle"]:
        label = f"ORACLE, a test column as the reward: {table['value_meaning']} (table)"
    rows = [(label, f"{100 * value:.2f}%" if value is not None else "-")]
    for column, meaning in table["report_meaning"].items():
        number = table["report"].get(column)
        rows.append(
            (
                f"found cell: {meaning} (table)",
                f"{100 * number:.2f}%" if number is not None else "-",
            )
        )
    return rows


def shared_summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The end-of-search table of a shared-weight search (evaluator=shared)."""
    if summary["controller"] == "darts":
        return darts_summary_rows(summary)
    best, shared = summary["best"], summary["shared"]
    rate = summary["children"] / max(summary["seconds"], 1e-9)
    return [
        ("best architecture (derived)", best["arch_str"]),
        ("validation accuracy (shared weights)", f"{best['val_acc']:.4f}"),
        ("test accuracy (retrained, search recipe)", _test_value(summary)),
        *_looked_up_rows(shared),
        ("parameters (trained alone)", f"{best['params']:,}"),
        ("shared-weight epochs", str(shared["epochs"])),
        ("children scored (shared weights)", f"{summary['children']} ({rate:,.1f}/s)"),
        ("search time", _duration(summary["seconds"])),
        ("controller's favourite (greedy)", summary["favourite"] or "-"),
        ("run directory", summary["run_dir"]),
    ]


def darts_summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The end-of-search table of a DARTS search (controller=darts evaluator=shared)."""
    best, shared = summary["best"], summary["shared"]
    free = shared.get("param_free_share")
    return [
        ("search", DARTS_METHOD),
        ("derived architecture (argmax)", best["arch_str"]),
        *([("parameter-free ops in it", f"{100 * free:.0f}%")] if free is not None else []),
        ("validation accuracy (shared weights)", f"{best['val_acc']:.4f}"),
        ("test accuracy (retrained, search recipe)", _test_value(summary)),
        *_looked_up_rows(shared),
        ("parameters (trained alone)", f"{best['params']:,}"),
        ("supernet epochs", str(shared["epochs"])),
        ("search time", _duration(summary["seconds"])),
        ("run directory", summary["run_dir"]),
    ]


def _looked_up_rows(shared: dict[str, Any]) -> list[tuple[str, str]]:
    """The derived NB201 cell's table numbers (`table/<column>` in `shared`), looked up."""
    return [
        (
            f"NAS-Bench-201 table: {describe_column(key[6:])} ({key[6:]}, looked up)",
            f"{100 * value:.2f}%",
        )
        for key, value in shared.items()
        if key.startswith("table/")
    ]


def _test_value(summary: dict[str, Any]) -> str:
    test = summary["test_acc"]
    return f"{test:.4f}" if test is not None else "-"


def _duration(seconds: float) -> str:
    """`2.8 min`, or `14.7 s` under a minute."""
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"
