"""The search loop: propose a batch, evaluate it, learn from it, log it, checkpoint it."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from app.config import BudgetConfig
from app.console import SearchProgress
from app.run_files import RunFiles
from app.tb_log import SearchLogger
from child.evaluation.evaluator import ChildJob, Evaluator, child_seed
from child.evaluation.result import ChildResult, Status
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
    depth: int | None = None  # the pipeline depth the run started with, kept for its resume
    # evaluator=shared: why the search stopped at budget.target_reward (None: it has not).
    on_target: str | None = None

    @property
    def best_reward(self) -> float:
        """The best reward so far (0 before the first child)."""
        return float(self.best["reward"]) if self.best else 0.0


def max_samples(budget: BudgetConfig) -> int:
    """The cap on proposals, cached ones included, that stops a converged controller."""
    return budget.max_samples if budget.max_samples is not None else 20 * budget.children


def reached_target(state: SearchState, budget: BudgetConfig) -> bool:
    """Whether a child has reached `budget.target_reward`."""
    target = budget.target_reward
    return target is not None and state.best is not None and state.best_reward >= target


def stop_reason(state: SearchState, budget: BudgetConfig) -> str | None:
    """Why a search with this state stops now, in words; None while it goes on."""
    s, b = state, budget
    if s.on_target is not None:  # a shared-weight search (app/shared_loop.py)
        return s.on_target
    # A shared-weight search (epochs > 0) stops only through on_target: its derived best is
    # scored after the search, so reaching the target then stopped nothing.
    if reached_target(s, b) and not s.epoch:
        assert s.best is not None
        return (
            f"target reached: child {s.best['index']} has reward {s.best_reward:.4f} >= "
            f"budget.target_reward={b.target_reward:g}; "
            f"{s.evaluated} of {b.children} children evaluated"
        )
    if s.evaluated >= b.children:
        return f"budget spent: {s.evaluated} children evaluated"
    limit = limit_reason(s, b)
    return f"{limit}; {s.evaluated} of {b.children} children evaluated" if limit else None


def limit_reason(state: SearchState, budget: BudgetConfig) -> str | None:
    """The limit other than the children budget that ends the search now (None: none does)."""
    s, b = state, budget
    if b.patience and s.repeats >= b.patience:
        return (
            f"the controller converged: its last {s.repeats} proposals were all architectures "
            f"it had already evaluated (budget.patience={b.patience})"
        )
    if s.sampled >= max_samples(b):
        return (
            f"proposal cap reached: {s.sampled} proposals, cached repeats included "
            "(budget.max_samples)"
        )
    if b.minutes is not None and s.seconds >= 60 * b.minutes:
        return f"time limit reached (budget.minutes={b.minutes:g})"
    return None


def stopped_early(summary: dict[str, Any]) -> str | None:
    """Why a finished search stopped, when it was not because its children budget was spent."""
    stopped = summary.get("stopped")
    return stopped if stopped and not stopped.startswith("budget spent") else None


@dataclass
class Proposal:
    """One proposed architecture waiting to be learned from, and where its result comes from.

    `job` is the child it started (a new evaluation); otherwise the result is an earlier
    child's: `joins` names an evaluation still running, and neither means the cache had it.
    `step` is the number of controller updates done when it was proposed (for the policy lag).
    """

    arch: Architecture
    step: int
    job: int | None = None
    joins: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the checkpoint."""
        return {
            "arch": self.arch.to_json(),
            "step": self.step,
            "job": self.job,
            "joins": self.joins,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Proposal:
        """Inverse of `to_dict`."""
        return cls(Architecture.from_json(data["arch"]), data["step"], data["job"], data["joins"])


class Search:
    """Proposes, evaluates and learns until the budget is spent; every update is checkpointed.

    The controller proposes batches of `budget.batch` architectures and learns from each batch
    in the order it proposed them. With `depth` > 0 it runs ahead: it proposes the next batches
    while up to `depth` proposals still wait to be learned from, so the evaluator's workers
    always have children to train. Which children are proposed, evaluated and learned from, and
    in which order, depends only on the seed and `depth`, never on which child finishes first:
    results are learned in proposal order. With `depth` 0 every batch is learned before the next
    is proposed (synchronous steps).

    With `cache` on, an architecture proposed again reuses its stored result (or waits for the
    running evaluation of it): the controller still learns from it and children.jsonl records it
    with `cached: true`, but it does not count against `budget.children`.
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
        depth: int = 0,
        pending: Sequence[Sequence[dict[str, Any]]] = (),
    ) -> None:
        self.controller = controller
        self.evaluator = evaluator
        self.budget = budget
        self.seed = seed
        self.files = files
        self.logger = logger
        self.progress = progress
        self.use_cache = cache
        self.depth = depth
        self.state = state or SearchState()
        self.cache: dict[Architecture, ChildResult] = {}
        for record in history:
            if not record.get("cached"):
                result = ChildResult.from_dict(record)
                self.cache[result.arch] = result
        self.batches: deque[list[Proposal]] = deque()  # proposed, not yet learned from, in order
        self.running: dict[Architecture, int] = {}  # architecture → its unlearned job
        self.arrived: dict[int, ChildResult] = {}  # job index → result not yet learned from
        self.submitted = self.state.evaluated  # jobs started (learned from or not)
        self._restore_pending(pending)

    def _restore_pending(self, pending: Sequence[Sequence[dict[str, Any]]]) -> None:
        """Start again the evaluations a stopped run had proposed but not learned from."""
        for batch in pending:
            proposals = [Proposal.from_dict(p) for p in batch]
            jobs = [self._job(p) for p in proposals if p.job is not None]
            for proposal in proposals:
                if proposal.job is not None:
                    self.running[proposal.arch] = proposal.job
            self.submitted += len(jobs)
            self.evaluator.submit(jobs)
            self.batches.append(proposals)

    def _job(self, proposal: Proposal) -> ChildJob:
        assert proposal.job is not None
        return ChildJob(proposal.job, proposal.arch, child_seed(self.seed, proposal.job))

    @property
    def unlearned(self) -> int:
        """Proposals waiting to be learned from."""
        return sum(len(batch) for batch in self.batches)

    def may_propose(self) -> bool:
        """Whether the controller may propose another batch now."""
        if self.unlearned > self.depth or self.submitted >= self.budget.children:
            return False
        return limit_reason(self.state, self.budget) is None

    def done(self) -> bool:
        """Whether the search is over (at the target, proposals not yet learned are dropped)."""
        if reached_target(self.state, self.budget):
            return True
        return not self.batches and not self.may_propose()

    def run(self) -> SearchState:
        """Propose, evaluate and learn until done; return the final state."""
        started, base = time.perf_counter(), self.state.seconds
        while not self.done():
            self.step()
            self.state.seconds = base + time.perf_counter() - started
            self._checkpoint()
        return self.state

    def step(self) -> None:
        """Propose as far ahead as allowed, then learn from the oldest batch (one update)."""
        while self.may_propose():
            self._propose()
        self._learn(self.batches.popleft())

    def _propose(self) -> None:
        s = self.state
        n = min(self.budget.batch, self.budget.children - self.submitted)
        tick = time.perf_counter()
        archs = self.controller.propose(n)
        s.controller_seconds += time.perf_counter() - tick
        s.sampled += len(archs)
        batch, jobs = [], []
        for arch in archs:
            proposal = Proposal(arch, s.step)
            if self.use_cache and arch in self.cache:
                pass  # answered by the cache
            elif self.use_cache and arch in self.running:
                proposal.joins = self.running[arch]
            else:
                proposal.job = self.submitted
                self.submitted += 1
                self.running[arch] = proposal.job
                jobs.append(self._job(proposal))
            batch.append(proposal)
        self.evaluator.submit(jobs)
        self.batches.append(batch)

    def _result(self, job: int) -> ChildResult:
        """The result of `job`, waiting for results (of any job) until it is in."""
        while job not in self.arrived:
            result = self.evaluator.next_result()
            self.arrived[result.index] = result
            best = max(self.state.best_reward, result.reward)
            self.progress.child_done(self.state.evaluated + len(self.arrived), result.reward, best)
        return self.arrived[job]

    def _learn(self, batch: list[Proposal]) -> None:
        """Record the batch's children (new ones first, in job order), then one update."""
        s = self.state
        own: dict[int, ChildResult] = {}  # position in the batch → its own child's result
        for i, proposal in enumerate(batch):
            if proposal.job is not None:
                result = own[i] = self._result(proposal.job)
                del self.arrived[proposal.job]
                if self.running.get(proposal.arch) == proposal.job:
                    del self.running[proposal.arch]
                self.cache[proposal.arch] = result
                s.evaluated += 1
                self._record(result, cached=False)
        # A repeat learns from the stored result, which its batch may only now have recorded.
        answers = [own[i] if i in own else self.cache[p.arch] for i, p in enumerate(batch)]
        for proposal, result in zip(batch, answers, strict=True):
            if proposal.job is None:
                self._record(result, cached=True)
        archs = [p.arch for p in batch]
        rewards = [r.reward for r in answers]
        tick = time.perf_counter()
        stats = self.controller.learn(archs, rewards)
        s.controller_seconds += time.perf_counter() - tick
        cached = sum(p.job is None for p in batch)
        for proposal in batch:
            s.repeats = s.repeats + 1 if proposal.job is None else 0
        lag = s.step - batch[0].step  # updates made since this batch was proposed
        s.step += 1
        s.cached += cached
        best_report = (s.best or {}).get("report") or {}
        self.logger.log_step(
            s.step,
            answers,
            {**stats, "policy_lag": lag},
            s.best_reward,
            s.evaluated,
            cached,
            best_report,
        )
        self.progress.step_done(s.step, s.evaluated, rewards, s.best_reward, stats.get("entropy"))
        log.info(
            "step %d: children %d, cached %d, lag %d, reward mean %.4f max %.4f, best %.4f, "
            "stats %s",
            s.step,
            s.evaluated,
            s.cached,
            lag,
            sum(rewards) / len(rewards),
            max(rewards),
            s.best_reward,
            {k: round(v, 5) for k, v in stats.items()},
        )

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
        pending = [[p.to_dict() for p in batch] for batch in self.batches]
        self.files.save_checkpoint(
            {
                "version": 2,
                "state": asdict(self.state),
                "controller": self.controller.state_dict(),
                "pending": pending,
            }
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
