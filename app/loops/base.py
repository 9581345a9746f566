"""What every search loop shares: the run, the stop rules, controller timing and checkpoints.

A loop (multi-trial, ENAS, DARTS) supplies its step, its own state for the checkpoint, its part
of summary.json and its rows of the end-of-search table; the rest is here, once.

The checkpoint (version 3), one layout for every method, written before the first step and
after every step:

    {"version": 3, "method": <SearchLoop.method>, "state": asdict(SearchState),
     "controller": controller.state_dict(), "method_state": <SearchLoop.method_state()>}

Checkpoints of earlier versions (2: multi-trial, with "pending"; 1: shared weights, with
"evaluator") are converted on load by `migrate_checkpoint`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from app.config import BudgetConfig, SearchConfig
from app.console import SearchProgress
from app.parts import SearchParts
from app.run_files import RunFiles
from app.tb_log import SearchLogger
from child.evaluation.result import ChildResult, Status
from child.spaces import format_arch
from controller.base import Controller
from core.architecture import Architecture
from core.errors import ConfigError

CHECKPOINT_VERSION = 3


@dataclass
class SearchState:
    """Where a search stands, whatever its method; saved in every checkpoint.

    What only one method needs (the pipeline depth and proposals in flight of a multi-trial
    search, the epoch and supernet of a shared-weight one) is that loop's method state.
    """

    step: int = 0
    evaluated: int = 0
    sampled: int = 0
    cached: int = 0
    seconds: float = 0.0
    controller_seconds: float = 0.0
    lines: int = 0
    best: dict[str, Any] | None = None
    # Proposals in a row, up to now, that were cached repeats: what budget.patience reads (a
    # loop without a cache leaves it at 0).
    repeats: int = 0
    # Why the search stopped, recorded by a loop when it happened (a shared-weight search at
    # budget.target_reward), so that a resumed run stops there too; None: not recorded.
    stopped: str | None = None

    @property
    def best_reward(self) -> float:
        """The best reward so far (0 before the first child)."""
        return float(self.best["reward"]) if self.best else 0.0


@dataclass
class Saved:
    """What a stopped run left: its state, its controller, its children and the loop's own."""

    state: SearchState
    controller: dict[str, Any]
    children: list[dict[str, Any]]
    method_state: dict[str, Any] = field(default_factory=dict)


def max_samples(budget: BudgetConfig) -> int:
    """The cap on proposals, cached ones included, that stops a converged controller."""
    return budget.max_samples if budget.max_samples is not None else 20 * budget.children


def stopped_early(summary: dict[str, Any]) -> str | None:
    """Why a finished search stopped, when it was not because its children budget was spent."""
    stopped = summary.get("stopped")
    return stopped if stopped and not stopped.startswith("budget spent") else None


def child_record(result: ChildResult, sample: int, step: int, cached: bool) -> dict[str, Any]:
    """The children.jsonl line of `result`: the `sample`-th line, proposed at controller `step`."""
    return {
        "sample": sample,
        "step": step,
        **result.to_dict(),
        "cached": cached,
        "arch_str": format_arch(result.arch),
    }


def top_k_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The end-of-search rows about a top-k pick (app/finalists.py); none when top_k was off."""
    section = summary.get("top_k")
    if not section or section["picked_cheap_rank"] is None:
        return []
    best, test = summary["best"], summary["test_acc"]
    return [
        (f"best architecture (top-{section['k']}, trained alone)", best["arch_str"]),
        ("validation accuracy (trained alone, search recipe)", f"{best['val_acc']:.4f}"),
        ("test accuracy (search recipe)", f"{test:.4f}" if test is not None else "-"),
        (
            "its cheap score (rank)",
            f"{best['cheap_score']:.4g} ({best['cheap_rank']} of {section['trained']})",
        ),
        ("finalists' training", duration(section["seconds"])),
    ]


def duration(seconds: float) -> str:
    """`2.8 min`, or `14.7 s` under a minute."""
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


class SearchLoop(ABC):
    """Steps until a stop reason holds, each followed by a checkpoint; the rules are here."""

    method: ClassVar[str]  # the name in checkpoints and summary.json
    legacy_version: ClassVar[int]  # the checkpoint version this method wrote before version 3

    def __init__(
        self,
        controller: Controller,
        budget: BudgetConfig,
        files: RunFiles,
        logger: SearchLogger,
        progress: SearchProgress,
        state: SearchState | None = None,
    ) -> None:
        self.controller = controller
        self.budget = budget
        self.files = files
        self.logger = logger
        self.progress = progress
        self.state = state or SearchState()

    # What a method supplies -----------------------------------------------------------------

    @classmethod
    @abstractmethod
    def handles(cls, cfg: SearchConfig) -> bool:
        """Whether this loop runs the search `cfg` describes."""

    @classmethod
    @abstractmethod
    def progress_total(cls, cfg: SearchConfig) -> int:
        """What the progress bar counts up to (children, epochs)."""

    @classmethod
    @abstractmethod
    def from_parts(
        cls,
        cfg: SearchConfig,
        parts: SearchParts,
        files: RunFiles,
        logger: SearchLogger,
        progress: SearchProgress,
        saved: Saved | None,
    ) -> SearchLoop:
        """The loop for `cfg`, continuing `saved` (its controller is already restored)."""

    @classmethod
    @abstractmethod
    def legacy_method_state(cls, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """The method state held by a checkpoint of `legacy_version`."""

    @abstractmethod
    def step(self) -> None:
        """One unit of search (a controller update, an epoch)."""

    @abstractmethod
    def method_state(self) -> dict[str, Any]:
        """What this method alone needs to resume (torch.save-able)."""

    @abstractmethod
    def summary_section(self, cfg: SearchConfig, best: dict[str, Any] | None) -> dict[str, Any]:
        """The keys of summary.json only this method writes, after the common ones."""

    @staticmethod
    @abstractmethod
    def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
        """The rows of the end-of-search table; every number is labelled with what it is."""

    @classmethod
    def value_label(cls, cfg: SearchConfig) -> str:
        """What a child's `val_acc` is, in text and TensorBoard tags: the validation accuracy."""
        return "val_acc"

    def conclude(self) -> None:
        """Work after the last step, outside the progress bar (a derive); none by default."""
        return None

    def ranked(self) -> list[tuple[Architecture, float]]:
        """Every distinct architecture evaluated, best reward first, with that reward (its score).

        What `top_k` takes its finalists from; ties keep the order they were first seen in.
        """
        best: dict[Architecture, float] = {}
        for record in self.files.read_children():
            if record.get("cached") or record.get("status") != Status.OK:
                continue
            arch, reward = Architecture.from_dict(record["arch"]), float(record["reward"])
            best[arch] = max(reward, best.get(arch, reward))
        return sorted(best.items(), key=lambda item: -item[1])

    def ranked_by(self) -> str:
        """What `ranked` orders by, in words (for finalists.json)."""
        return "the children's rewards"

    def in_flight(self) -> bool:
        """Whether work already started must be finished before the search may stop."""
        return False

    def target_reached(self) -> bool:
        """Whether a child's reward has reached `budget.target_reward`."""
        target = self.budget.target_reward
        s = self.state
        return target is not None and s.best is not None and s.best_reward >= target

    # The run and its stop rules ---------------------------------------------------------------

    def run(self) -> SearchState:
        """Step until done, each step followed by a checkpoint; return the final state.

        A new run checkpoints once before its first step, so that a run directory with
        children but no checkpoint can only be one whose checkpoint was lost: resume refuses it.
        """
        if not self.files.checkpoint_path.exists():
            self.checkpoint()
        started, base = time.perf_counter(), self.state.seconds
        while not self.done():
            self.step()
            self.state.seconds = base + time.perf_counter() - started
            self.checkpoint()
        return self.state

    def done(self) -> bool:
        """Whether the search is over: a stop reason holds and nothing in flight must finish."""
        return self.stop_reason() is not None and not self.in_flight()

    def stop_reason(self) -> str | None:
        """Why the search stops now, in words; None while it goes on."""
        s, b = self.state, self.budget
        if s.stopped is not None:
            return s.stopped
        if self.target_reached():
            assert s.best is not None
            return (
                f"target reached: child {s.best['index']} has reward {s.best_reward:.4f} >= "
                f"budget.target_reward={b.target_reward:g}; "
                f"{s.evaluated} of {b.children} children evaluated"
            )
        if s.evaluated >= b.children:
            return f"budget spent: {s.evaluated} children evaluated"
        limit = self.limit_reason()
        return f"{limit}; {s.evaluated} of {b.children} children evaluated" if limit else None

    def limit_reason(self) -> str | None:
        """The limit other than the children budget that ends the search now (None: none does)."""
        s, b = self.state, self.budget
        if b.patience and s.repeats >= b.patience:
            return (
                f"the controller converged: its last {s.repeats} proposals were all "
                f"architectures it had already evaluated (budget.patience={b.patience})"
            )
        if s.sampled >= max_samples(b):
            return (
                f"proposal cap reached: {s.sampled} proposals, cached repeats included "
                "(budget.max_samples)"
            )
        if self.time_up():
            return f"time limit reached (budget.minutes={b.minutes:g})"
        return None

    def time_up(self) -> bool:
        """Whether the wall-clock budget (`budget.minutes`) is spent."""
        minutes = self.budget.minutes
        return minutes is not None and self.state.seconds >= 60 * minutes

    @contextmanager
    def timed_controller(self) -> Iterator[None]:
        """Count the time inside in `state.controller_seconds`."""
        tick = time.perf_counter()
        try:
            yield
        finally:
            self.state.controller_seconds += time.perf_counter() - tick

    # Checkpoints --------------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Save everything a resumed run needs, after the children it counts are on disk."""
        self.files.sync_children()
        self.files.save_checkpoint(
            {
                "version": CHECKPOINT_VERSION,
                "method": self.method,
                "state": asdict(self.state),
                "controller": self.controller.state_dict(),
                "method_state": self.method_state(),
            }
        )


def migrate_checkpoint(checkpoint: dict[str, Any], loop: type[SearchLoop]) -> dict[str, Any]:
    """`checkpoint` in the version-3 layout, converted from `loop`'s earlier version if need be.

    Raises ConfigError (one line) for a checkpoint of another method or an unknown version.
    """
    version = checkpoint.get("version")
    if version == CHECKPOINT_VERSION:
        method = checkpoint.get("method")
        if method != loop.method:
            raise ConfigError(
                f"the checkpoint is of a {method} search but the run's config is {loop.method}"
            )
        return checkpoint
    if version != loop.legacy_version:
        raise ConfigError(
            f"checkpoint version {version} cannot be read as a {loop.method} search "
            f"(it reads version {CHECKPOINT_VERSION} and its own old version {loop.legacy_version})"
        )
    old = checkpoint["state"]
    known = {f.name for f in fields(SearchState)}
    state = {k: v for k, v in old.items() if k in known}
    state["stopped"] = old.get("on_target")
    return {
        "version": CHECKPOINT_VERSION,
        "method": loop.method,
        "state": state,
        "controller": checkpoint["controller"],
        "method_state": loop.legacy_method_state(checkpoint),
    }
