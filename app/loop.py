"""The search loop: propose a batch, evaluate it, learn from it, log it, checkpoint it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from app.config import BudgetConfig
from app.console import SearchProgress
from app.run_files import RunFiles
from app.tb_log import SearchLogger
from child.evaluators import ChildJob, Evaluator, child_seed
from child.result import ChildResult, Status
from child.spaces import format_arch
from controller.base import Controller
from core.architecture import Architecture

log = logging.getLogger(__name__)


@dataclass
class SearchState:
    """Where a search stands; saved in every checkpoint so that a resumed run continues here."""

    step: int = 0
    evaluated: int = 0
    sampled: int = 0
    cached: int = 0
    seconds: float = 0.0
    controller_seconds: float = 0.0
    lines: int = 0
    best: dict[str, Any] | None = None
    epoch: int = 0  # shared-weight epochs done (evaluator=shared only)
    repeats: int = 0  # proposals in a row, up to now, that were cached repeats

    @property
    def best_reward(self) -> float:
        """The best reward so far (0 before the first child)."""
        return float(self.best["reward"]) if self.best else 0.0


def max_samples(budget: BudgetConfig) -> int:
    """The cap on proposals, cached ones included, that stops a converged controller."""
    return budget.max_samples if budget.max_samples is not None else 20 * budget.children


def stop_reason(state: SearchState, budget: BudgetConfig) -> str | None:
    """Why a search with this state stops now, in words; None while it goes on."""
    s, b = state, budget
    if s.evaluated >= b.children:
        return f"budget spent: {s.evaluated} children evaluated"
    if b.patience and s.repeats >= b.patience:
        return (
            f"the controller converged: its last {s.repeats} proposals were all architectures "
            f"it had already evaluated (budget.patience={b.patience}); "
            f"{s.evaluated} of {b.children} children evaluated"
        )
    if s.sampled >= max_samples(b):
        return (
            f"proposal cap reached: {s.sampled} proposals, cached repeats included "
            f"(budget.max_samples); {s.evaluated} of {b.children} children evaluated"
        )
    if b.minutes is not None and s.seconds >= 60 * b.minutes:
        return (
            f"time limit reached (budget.minutes={b.minutes:g}); "
            f"{s.evaluated} of {b.children} children evaluated"
        )
    return None


class Search:
    """Runs controller steps until the budget is spent; every step ends with a checkpoint.

    With `cache` on, an architecture proposed again reuses its stored result: the controller
    still learns from it and children.jsonl records it with `cached: true`, but it does not
    count against `budget.children`.
    """

    def __init__(
        self,
        controller: Controller,
        evaluator: Evaluator,
        budget: BudgetConfig,
        seed: int,
        files: RunFiles,
        logger: SearchLogger,
        progress: SearchProgress,
        cache: bool = True,
        state: SearchState | None = None,
        history: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.controller = controller
        self.evaluator = evaluator
        self.budget = budget
        self.seed = seed
        self.files = files
        self.logger = logger
        self.progress = progress
        self.use_cache = cache
        self.state = state or SearchState()
        self.cache: dict[Architecture, ChildResult] = {}
        for record in history:
            if not record.get("cached"):
                result = ChildResult.from_dict(record)
                self.cache[result.arch] = result

    def done(self) -> bool:
        """Whether the budget is spent or the controller has converged (`stop_reason`)."""
        return stop_reason(self.state, self.budget) is not None

    def run(self) -> SearchState:
        """Step until done; return the final state."""
        started, base = time.perf_counter(), self.state.seconds
        while not self.done():
            self.step()
            self.state.seconds = base + time.perf_counter() - started
            self._checkpoint()
        return self.state

    def step(self) -> None:
        """One controller step: propose, evaluate (or look up), learn, log."""
        s = self.state
        n = min(self.budget.batch, self.budget.children - s.evaluated)
        tick = time.perf_counter()
        archs = self.controller.propose(n)
        s.controller_seconds += time.perf_counter() - tick

        results, cached_flags = self._evaluate(archs)
        rewards = [r.reward for r in results]
        tick = time.perf_counter()
        stats = self.controller.learn(archs, rewards)
        s.controller_seconds += time.perf_counter() - tick

        cached = sum(cached_flags)
        for repeat in cached_flags:
            s.repeats = s.repeats + 1 if repeat else 0
        s.step += 1
        s.sampled += len(archs)
        s.cached += cached
        best_report = (s.best or {}).get("report") or {}
        self.logger.log_step(
            s.step, results, stats, s.best_reward, s.evaluated, cached, best_report
        )
        self.progress.step_done(s.step, s.evaluated, rewards, s.best_reward, stats.get("entropy"))
        log.info(
            "step %d: children %d, cached %d, reward mean %.4f max %.4f, best %.4f, stats %s",
            s.step,
            s.evaluated,
            s.cached,
            sum(rewards) / len(rewards),
            max(rewards),
            s.best_reward,
            {k: round(v, 5) for k, v in stats.items()},
        )

    def _evaluate(self, archs: list[Architecture]) -> tuple[list[ChildResult], list[bool]]:
        """Each arch's result and whether it was cached; repeats are not trained again."""
        s = self.state
        found: dict[int, ChildResult] = {}
        cached = [False] * len(archs)
        jobs: list[ChildJob] = []
        positions: dict[int, list[int]] = {}  # job index → positions in `archs`
        job_of: dict[Architecture, int] = {}
        for i, arch in enumerate(archs):
            if self.use_cache and arch in self.cache:
                found[i], cached[i] = self.cache[arch], True
            elif self.use_cache and arch in job_of:
                positions[job_of[arch]].append(i)
                cached[i] = True
            else:
                index = s.evaluated + len(jobs)
                jobs.append(ChildJob(index, arch, child_seed(self.seed, index)))
                positions[index], job_of[arch] = [i], index
        for result in self.evaluator.evaluate(jobs):
            s.evaluated += 1
            self._record(result, cached=False)
            self.cache[result.arch] = result
            self.progress.child_done(s.evaluated, result.reward, s.best_reward)
            for i in positions[result.index]:
                found[i] = result
        for i in range(len(archs)):
            if cached[i]:
                self._record(found[i], cached=True)
        return [found[i] for i in range(len(archs))], cached

    def _record(self, result: ChildResult, cached: bool) -> None:
        s = self.state
        record = child_record(result, s.lines, s.step + 1, cached)
        self.files.append_child(record)
        s.lines += 1
        if not cached and result.status != Status.OK:
            log.warning("child %d %s: %s", result.index, result.status, result.message)
        if not cached and (s.best is None or result.reward > s.best["reward"]):
            s.best = record
            self.files.write_best(record)
            self.logger.log_best(s.step + 1, result)

    def _checkpoint(self) -> None:
        self.files.sync_children()
        self.files.save_checkpoint(
            {"version": 1, "state": asdict(self.state), "controller": self.controller.state_dict()}
        )


def child_record(result: ChildResult, sample: int, step: int, cached: bool) -> dict[str, Any]:
    """The children.jsonl line of `result`: the `sample`-th line, proposed at controller `step`."""
    return {
        "sample": sample,
        "step": step,
        **result.to_dict(),
        "cached": cached,
        "arch_str": format_arch(result.arch),
    }


def restore_state(checkpoint: dict[str, Any]) -> SearchState:
    """The `SearchState` stored in a checkpoint."""
    return SearchState(**checkpoint["state"])
