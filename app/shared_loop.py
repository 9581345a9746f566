"""The ENAS loop: shared weights and the controller trained in turns, then the final derive.

    for each epoch:
        train phase:      for each training minibatch: arch = controller.propose(1)
                                                        evaluator.train_step(arch)
        controller phase: controller_steps times: archs = controller.propose(M)
                                                   results = evaluator.evaluate(archs)
                                                   controller.learn(archs, rewards)
        checkpoint (supernet, optimizer, controller, RNG) at the epoch boundary
    derive: derive_samples sampled architectures + the greedy pick, each scored on the whole
            validation split with the shared weights → derive.json, best.json

The loop asks the controller and hands architectures to the evaluator; neither calls the other.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from app.config import BudgetConfig
from app.console import SearchProgress
from app.loop import SearchState, child_record
from app.run_files import RunFiles, atomic_write_json
from app.tb_log import SearchLogger
from child.evaluation.evaluator import ChildJob
from child.evaluation.result import ChildResult
from child.evaluation.shared import SharedEvaluator
from child.spaces import format_arch, param_free_share
from controller.base import Controller
from core.architecture import Architecture

log = logging.getLogger(__name__)
DERIVE = "derive.json"
SHARED_NOTE = "accuracy with the supernet's shared weights on a validation minibatch"
DERIVE_NOTE = "accuracy with the supernet's shared weights on the whole validation split"


class SharedWeightSearch:
    """Runs ENAS epochs until `recipe.epochs` (or `budget.minutes`) is spent, then derives."""

    def __init__(
        self,
        controller: Controller,
        evaluator: SharedEvaluator,
        budget: BudgetConfig,
        files: RunFiles,
        logger: SearchLogger,
        progress: SearchProgress,
        param_free_ops: frozenset[str],
        state: SearchState | None = None,
    ) -> None:
        self.controller = controller
        self.evaluator = evaluator
        self.cfg = evaluator.cfg
        self.budget = budget
        self.files = files
        self.logger = logger
        self.progress = progress
        self.param_free_ops = param_free_ops
        self.state = state or SearchState()

    def done(self) -> bool:
        """Whether every epoch has run, the wall-clock budget is spent, or the target reached."""
        s, minutes = self.state, self.budget.minutes
        return (
            s.epoch >= self.cfg.recipe.epochs
            or (minutes is not None and s.seconds >= 60 * minutes)
            or s.on_target is not None
        )

    def check_target(self, score: float, what: str, epoch: int) -> bool:
        """Whether the search has reached `budget.target_reward`, now that `what` scored `score`.

        Once reached, the search stops after the current update (ENAS) or epoch (DARTS), and the
        reason is kept in the state, so that a resumed run stops there too.
        """
        target = self.budget.target_reward
        if target is None or score < target or self.state.on_target is not None:
            return self.state.on_target is not None
        self.state.on_target = (
            f"target reached: {what} scored {score:.4f} >= budget.target_reward={target:g} "
            f"with shared weights in epoch {epoch} of {self.cfg.recipe.epochs}"
        )
        log.info("%s", self.state.on_target)
        return True

    def run(self) -> SearchState:
        """Epochs until done, each ending with a checkpoint; return the final state."""
        started, base = time.perf_counter(), self.state.seconds
        while not self.done():
            self.epoch()
            self.state.seconds = base + time.perf_counter() - started
            self.files.sync_children()
            self.files.save_checkpoint(
                {
                    "version": 1,
                    "state": asdict(self.state),
                    "controller": self.controller.state_dict(),
                    "evaluator": self.evaluator.state_dict(),
                }
            )
        return self.state

    def epoch(self) -> None:
        """One train phase and one controller phase; logs the epoch."""
        s = self.state
        steps = self.evaluator.begin_epoch(s.epoch)
        losses, accs, sampled = [], [], []
        for _ in range(steps):
            tick = time.perf_counter()
            (arch,) = self.controller.propose(1)
            s.controller_seconds += time.perf_counter() - tick
            loss, acc = self.evaluator.train_step(arch)
            losses.append(loss)
            accs.append(acc)
            sampled.append(arch)
        rewards: list[float] = []
        entropies: list[float] = []
        for _ in range(self.cfg.controller_steps):
            results, stats = self.update()
            rewards += [r.reward for r in results]
            sampled += [r.arch for r in results]
            if "entropy" in stats:
                entropies.append(stats["entropy"])
            top = max(results, key=lambda r: r.reward)
            what = f"child {top.index} (on a validation minibatch)"
            if self.check_target(top.reward, what, s.epoch + 1):
                break  # stop after the update in which a child reached the target
        s.epoch += 1
        share = param_free_share(sampled)
        self.logger.log_epoch(
            s.epoch,
            {
                "supernet/train_loss": sum(losses) / len(losses),
                "supernet/train_acc": sum(accs) / len(accs),
                "supernet/lr": self.evaluator.optimizer.param_groups[0]["lr"],
                "controller/param_free_share": share,
                "reward/epoch_mean": sum(rewards) / max(1, len(rewards)),
            },
            sampled,
        )
        self.progress.epoch_done(
            s.epoch,
            self.cfg.recipe.epochs,
            sum(losses) / len(losses),
            sum(rewards) / max(1, len(rewards)),
            entropies[-1] if entropies else None,
            share if self.param_free_ops else None,
        )
        self.warn_param_free(
            share,
            "the sampled layers",
            "the controller may be collapsing to them, as ENAS and DARTS did on NAS-Bench-201",
        )

    def update(self) -> tuple[list[ChildResult], dict[str, float]]:
        """One controller update: M children scored on one validation minibatch."""
        s = self.state
        tick = time.perf_counter()
        archs = self.controller.propose(self.budget.batch)
        s.controller_seconds += time.perf_counter() - tick
        jobs = [ChildJob(s.evaluated + i, arch, 0) for i, arch in enumerate(archs)]
        results = list(self.evaluator.evaluate(jobs))
        tick = time.perf_counter()
        stats = self.controller.learn(archs, [r.reward for r in results])
        s.controller_seconds += time.perf_counter() - tick
        s.step += 1
        s.sampled += len(archs)
        for result in results:
            s.evaluated += 1
            record = child_record(result, s.lines, s.step, cached=False)
            record.update(epoch=s.epoch + 1, evaluation="shared")
            self.files.append_child(record)
            s.lines += 1
        self.logger.log_step(s.step, results, stats, max(r.reward for r in results), s.evaluated, 0)
        log.info(
            "epoch %d step %d: reward mean %.4f max %.4f, stats %s",
            s.epoch + 1,
            s.step,
            sum(r.reward for r in results) / len(results),
            max(r.reward for r in results),
            {k: round(v, 5) for k, v in stats.items()},
        )
        return results, stats

    def warn_param_free(self, share: float, layers: str, collapse: str) -> None:
        """Warn when `share` of `layers` are parameter-free ops, past `param_free_warning`."""
        if share > self.cfg.param_free_warning:
            log.warning(
                "epoch %d: %.0f%% of %s are parameter-free ops (%s): %s",
                self.state.epoch,
                100 * share,
                layers,
                ", ".join(sorted(self.param_free_ops)),
                collapse,
            )

    def candidates(self) -> dict[Architecture, str]:
        """The architectures derive ranks, each with where it came from."""
        candidates: dict[Architecture, str] = {}
        favourite = self.controller.favourite()
        if favourite is not None:
            candidates[favourite] = "greedy"
        for arch in self.controller.propose(self.cfg.derive_samples):
            candidates.setdefault(arch, "sampled")
        return candidates

    def derive_details(self) -> dict[str, Any]:
        """What derive.json records besides the ranking (nothing more for ENAS)."""
        return {}

    def derive(self) -> dict[str, Any]:
        """Rank the candidates on the whole validation split; write derive.json and best.json."""
        ranking = []
        for arch, source in self.candidates().items():
            accuracy = self.evaluator.score(arch)
            ranking.append(
                {
                    "arch": arch.to_dict(),
                    "arch_str": format_arch(arch),
                    "val_acc": accuracy,
                    "params": self.evaluator.params(arch),
                    "source": source,
                }
            )
        ranking.sort(key=lambda r: -r["val_acc"])
        for rank, row in enumerate(ranking, start=1):
            row["rank"] = rank
        atomic_write_json(
            self.files.dir / DERIVE,
            {
                "note": DERIVE_NOTE,
                "epochs": self.state.epoch,
                **self.derive_details(),
                "ranking": ranking,
            },
        )
        top = ranking[0]
        best = {
            "index": self.state.evaluated,  # past every scored child: its own retraining seed
            "arch": top["arch"],
            "arch_str": top["arch_str"],
            "reward": top["val_acc"],
            "val_acc": top["val_acc"],
            "val_curve": [top["val_acc"]],
            "params": top["params"],
            "seconds": 0.0,
            "status": "ok",
            "message": "",
            "derived": top["source"],
            "evaluation": "shared",
            "note": DERIVE_NOTE,
        }
        self.state.best = best
        self.files.write_best(best)
        return best
