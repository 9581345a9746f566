"""The multi-trial search: propose a batch, evaluate it, learn from it, log it, checkpoint it."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.config import BudgetConfig, SearchConfig
from app.console import SearchProgress
from app.loops.base import (
    Saved,
    SearchLoop,
    SearchState,
    child_record,
    duration,
    stopped_early,
    top_k_rows,
)
from app.pareto import PARETO_PNG, front_records, front_summary, plot_front
from app.parts import SearchParts
from app.run_files import RunFiles
from app.tb_log import SearchLogger
from child.evaluation.config import TableEvaluatorConfig
from child.evaluation.evaluator import ChildJob, Evaluator, child_seed
from child.evaluation.result import ChildResult, Status
from child.evaluation.table import describe_column, is_test_column
from controller.base import Controller
from core.architecture import Architecture

log = logging.getLogger(__name__)


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


def pipeline_depth(cfg: SearchConfig, parts: SearchParts) -> int:
    """`budget.depth`, or by default one proposal ahead per worker (0 with one worker)."""
    if cfg.budget.depth is not None:
        return cfg.budget.depth
    workers = getattr(parts.evaluator, "parallelism", 1)
    return workers if workers > 1 else 0


class MultiTrialSearch(SearchLoop):
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

    Method state: the pipeline `depth` the run started with (a resumed run keeps it, whatever
    the machine) and the proposals not yet learned from (`pending`, restarted on resume).
    """

    method = "multi_trial"
    legacy_version = 2

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
        super().__init__(controller, budget, files, logger, progress, state)
        self.evaluator = evaluator
        self.seed = seed
        self.use_cache = cache
        self.depth = depth
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

    @classmethod
    def handles(cls, cfg: SearchConfig) -> bool:
        """Every search whose children are evaluated one by one (not with shared weights)."""
        return cfg.evaluator.name != "shared"

    @classmethod
    def progress_total(cls, cfg: SearchConfig) -> int:
        """The children budget."""
        return cfg.budget.children

    @classmethod
    def from_parts(
        cls,
        cfg: SearchConfig,
        parts: SearchParts,
        files: RunFiles,
        logger: SearchLogger,
        progress: SearchProgress,
        saved: Saved | None,
    ) -> MultiTrialSearch:
        """The loop for `cfg`, continuing `saved` with its depth and its pending proposals."""
        own = saved.method_state if saved else {}
        state = saved.state if saved else SearchState()
        depth = own.get("depth")  # a resumed run keeps its own, whatever the machine
        progress.update(state.evaluated, _status(0.0, state.best_reward))
        return cls(
            parts.controller,
            parts.evaluator,
            cfg.budget,
            cfg.seed,
            files,
            logger,
            progress,
            cache=cfg.cache,
            state=state,
            history=saved.children if saved else (),
            depth=pipeline_depth(cfg, parts) if depth is None else depth,
            pending=own.get("pending") or [],
        )

    @classmethod
    def legacy_method_state(cls, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """Version 2 kept the depth in the state and the pending proposals beside it."""
        return {
            "depth": checkpoint["state"].get("depth"),
            "pending": checkpoint.get("pending") or [],
        }

    def method_state(self) -> dict[str, Any]:
        """The depth, and the proposals not yet learned from, batch by batch."""
        pending = [[p.to_dict() for p in batch] for batch in self.batches]
        return {"depth": self.depth, "pending": pending}

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
        return self.limit_reason() is None

    def in_flight(self) -> bool:
        """Proposals not yet learned from are learned before a limit stops the search.

        At the target they are dropped: the search stops at once.
        """
        return bool(self.batches) and not self.target_reached()

    def step(self) -> None:
        """Propose as far ahead as allowed, then learn from the oldest batch (one update)."""
        while self.may_propose():
            self._propose()
        self._learn(self.batches.popleft())

    def _propose(self) -> None:
        s = self.state
        n = min(self.budget.batch, self.budget.children - self.submitted)
        with self.timed_controller():
            archs = self.controller.propose(n)
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
            self.progress.update(
                self.state.evaluated + len(self.arrived), _status(result.reward, best)
            )
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
        with self.timed_controller():
            stats = self.controller.learn(archs, rewards)
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
        entropy = stats.get("entropy")
        self.progress.line(
            f"step {s.step:4d}",
            f"children {s.evaluated}/{self.budget.children}",
            f"reward mean {sum(rewards) / len(rewards):.4f} max {max(rewards):.4f}",
            f"best {s.best_reward:.4f}",
            *([f"entropy {entropy:.2f}"] if entropy is not None else []),
        )
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

    @classmethod
    def value_label(cls, cfg: SearchConfig) -> str:
        """What the evaluator says its value is (a table's column, a proxy), else val_acc."""
        return getattr(cfg.evaluator, "value_label", "val_acc")

    def summary_section(self, cfg: SearchConfig, best: dict[str, Any] | None) -> dict[str, Any]:
        """What a table search's numbers mean (if it is one), and the Pareto front."""
        section: dict[str, Any] = {}
        if isinstance(cfg.evaluator, TableEvaluatorConfig):
            section["table"] = table_summary(cfg.evaluator, best)
        elif meaning := getattr(cfg.evaluator, "value_meaning", None):
            section["value_meaning"] = meaning  # a score that is not an accuracy (a proxy)
        section["pareto"] = pareto(cfg, self.files, cfg.plots)
        return section

    @staticmethod
    def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
        """The best child by reward, its numbers, the budget used and the Pareto front."""
        best = summary["best"] or {}
        test = summary["test_acc"]
        minutes = summary["seconds"] / 60
        rate = summary["children"] / max(minutes, 1e-9)
        rows = top_k_rows(summary) or [
            ("best architecture (by reward)", best.get("arch_str", "-")),
            ("reward (search)", f"{summary['best_reward']:.4f}"),
            *best_value_rows(summary, best, test),
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
            ("search time", f"{duration(summary['seconds'])} ({rate:,.1f} children/min)"),
            ("controller's favourite (greedy)", summary["favourite"] or "-"),
            ("run directory", summary["run_dir"]),
        ]
        return rows


def best_value_rows(
    summary: dict[str, Any], best: dict[str, Any], test: float | None
) -> list[tuple[str, str]]:
    """The best child's value: its table numbers, its proxy score, or its accuracies."""
    if "table" in summary:
        return table_rows(summary["table"], best)
    meaning = summary.get("value_meaning")
    value = best.get("val_acc", 0.0)
    return [
        (meaning, f"{value:.4g}") if meaning else ("validation accuracy (search)", f"{value:.4f}"),
        ("test accuracy (retrained, search recipe)", f"{test:.4f}" if test is not None else "-"),
    ]


def _status(reward: float, best: float) -> str:
    """The progress bar's text beside the children count."""
    return f"reward {reward:.4f}  best {best:.4f}"


def pareto(cfg: SearchConfig, files: RunFiles, draw: bool = True) -> dict[str, Any] | None:
    """The run's cost/accuracy Pareto front, drawn into pareto.png if `draw` (None: no costs)."""
    cost = "flops" if getattr(cfg.reward, "cost_metric", None) == "flops" else "params"
    records = [r for r in files.read_children() if not r.get("cached")]
    front = front_records(records, cost)
    if not front:
        return None
    accuracy = getattr(cfg.evaluator, "value_label", "validation accuracy (search)")
    try:
        if draw:
            plot_front(records, front, files.dir / PARETO_PNG, cost, accuracy)
    except Exception as err:  # a picture is never worth losing a finished search
        log.warning("could not draw the Pareto front: %s: %s", type(err).__name__, err)
    return {"cost": cost, "accuracy": accuracy, "front": front_summary(front, cost)}


def table_summary(table: TableEvaluatorConfig, best: dict[str, Any] | None) -> dict[str, Any]:
    """What a table search's numbers mean: the reward's column, oracle or not, the report."""
    return {
        "value_column": table.value_column,
        "value_meaning": describe_column(table.value_column),
        "oracle": is_test_column(table.value_column),
        "report": dict((best or {}).get("report") or {}),
        "report_meaning": {c: describe_column(c) for c in table.report_columns},
    }


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
