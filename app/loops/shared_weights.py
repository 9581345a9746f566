"""The ENAS loop: shared weights and the controller trained in turns, then the final derive.

    for each epoch:
        train phase:      for each training minibatch: arch = controller.propose(1)
                                                        evaluator.train_step(arch)
        controller phase: controller_steps times: archs = controller.propose(M)
                                                   results = evaluator.evaluate(archs)
                                                   controller.learn(archs, rewards)
        checkpoint (supernet, optimizer, controller, RNG) at the epoch boundary
    derive: derive_samples sampled architectures + the greedy pick, each scored on the whole
            validation split with the shared weights, ranked by derive_by (loss or accuracy)
            → derive.json, best.json

The loop asks the controller and hands architectures to the evaluator; neither calls the other.
"""

from __future__ import annotations

import logging
from typing import Any

from scipy.stats import rankdata

from app.config import BudgetConfig, SearchConfig
from app.console import SearchProgress
from app.loops.base import Saved, SearchLoop, SearchState, child_record, duration, top_k_rows
from app.parts import SearchParts
from app.run_files import RunFiles, atomic_write_json
from app.tb_log import SearchLogger
from child.evaluation.config import TableEvaluatorConfig
from child.evaluation.evaluator import ChildJob
from child.evaluation.proxy import proxy_rewards
from child.evaluation.result import ChildResult
from child.evaluation.shared import SharedEvaluator
from child.evaluation.table import describe_column
from child.spaces import format_arch, param_free_share, space_def
from controller.base import Controller
from core.architecture import Architecture

log = logging.getLogger(__name__)
DERIVE = "derive.json"
SHARED_NOTE = "accuracy with the supernet's shared weights on a validation minibatch"
DERIVE_NOTE = (
    "accuracy (val_acc) and mean cross-entropy (val_loss) with the supernet's shared weights "
    "on the whole validation split; ranked by {by}"
)


class SharedWeightSearch(SearchLoop):
    """Runs ENAS epochs until `recipe.epochs` (or `budget.minutes`) is spent, then derives.

    Method state: the epochs done and the evaluator's (the supernet, its optimizer, the RNG).
    No cache: rewards change as the shared weights train.
    """

    method = "enas"
    legacy_version = 1

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
        epochs_done: int = 0,
    ) -> None:
        super().__init__(controller, budget, files, logger, progress, state)
        self.evaluator = evaluator
        self.cfg = evaluator.cfg
        self.param_free_ops = param_free_ops
        self.epochs_done = epochs_done
        self.ranking: list[dict[str, Any]] = []  # derive's, best first

    @classmethod
    def handles(cls, cfg: SearchConfig) -> bool:
        """evaluator=shared with a sampling controller."""
        return cfg.evaluator.name == "shared" and cfg.controller.name != "darts"

    @classmethod
    def progress_total(cls, cfg: SearchConfig) -> int:
        """The supernet's epochs."""
        return cfg.evaluator.recipe.epochs

    @classmethod
    def from_parts(
        cls,
        cfg: SearchConfig,
        parts: SearchParts,
        files: RunFiles,
        logger: SearchLogger,
        progress: SearchProgress,
        saved: Saved | None,
    ) -> SharedWeightSearch:
        """The loop for `cfg`, continuing `saved` with its supernet and its epochs done."""
        assert isinstance(parts.evaluator, SharedEvaluator)
        own = saved.method_state if saved else {}
        if own.get("evaluator") is not None:
            parts.evaluator.load_state_dict(own["evaluator"])
        return cls(
            parts.controller,
            parts.evaluator,
            cfg.budget,
            files,
            logger,
            progress,
            space_def(cfg.search_space.name).param_free_ops,
            saved.state if saved else None,
            own.get("epoch", 0),
        )

    @classmethod
    def legacy_method_state(cls, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """Version 1 kept the epoch in the state and the evaluator's state beside it."""
        return {
            "epoch": checkpoint["state"].get("epoch", 0),
            "evaluator": checkpoint.get("evaluator"),
        }

    def method_state(self) -> dict[str, Any]:
        """The epochs done and the supernet with its optimizer and RNG."""
        return {"epoch": self.epochs_done, "evaluator": self.evaluator.state_dict()}

    def done(self) -> bool:
        """After every epoch, at the wall-clock limit, or once the target is reached.

        The children budget, patience and proposal cap do not limit a shared-weight search, but
        summary.json's `stopped` (`stop_reason`) still names them as it always has.
        """
        return (
            self.epochs_done >= self.cfg.recipe.epochs
            or self.time_up()
            or self.state.stopped is not None
        )

    def target_reached(self) -> bool:
        """Never from the best child: `check_target` records the target with shared weights."""
        return False

    def check_target(self, score: float, what: str, epoch: int) -> bool:
        """Whether the search has reached `budget.target_reward`, now that `what` scored `score`.

        Once reached, the search stops after the current update (ENAS) or epoch (DARTS), and the
        reason is kept in the state, so that a resumed run stops there too.
        """
        target = self.budget.target_reward
        if target is None or score < target or self.state.stopped is not None:
            return self.state.stopped is not None
        self.state.stopped = (
            f"target reached: {what} scored {score:.4f} >= budget.target_reward={target:g} "
            f"with shared weights in epoch {epoch} of {self.cfg.recipe.epochs}"
        )
        log.info("%s", self.state.stopped)
        return True

    def step(self) -> None:
        """One epoch."""
        self.epoch()

    def epoch(self) -> None:
        """One train phase and one controller phase; logs the epoch."""
        steps = self.evaluator.begin_epoch(self.epochs_done)
        losses, accs, sampled = [], [], []
        for _ in range(steps):
            with self.timed_controller():
                (arch,) = self.controller.propose(1)
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
            if self.check_target(top.reward, what, self.epochs_done + 1):
                break  # stop after the update in which a child reached the target
        self.epochs_done += 1
        share = param_free_share(sampled)
        train_loss = sum(losses) / len(losses)
        reward_mean = sum(rewards) / max(1, len(rewards))
        self.logger.log_epoch(
            self.epochs_done,
            {
                "supernet/train_loss": train_loss,
                "supernet/train_acc": sum(accs) / len(accs),
                "supernet/lr": self.evaluator.optimizer.param_groups[0]["lr"],
                "controller/param_free_share": share,
                "reward/epoch_mean": reward_mean,
            },
            sampled,
        )
        entropy = entropies[-1] if entropies else None
        self.progress.update(self.epochs_done, f"loss {train_loss:.3f}  reward {reward_mean:.4f}")
        self.progress.line(
            f"epoch {self.epochs_done:3d}/{self.cfg.recipe.epochs}",
            f"supernet loss {train_loss:.4f}",
            f"reward mean {reward_mean:.4f}",
            *([f"entropy {entropy:.2f}"] if entropy is not None else []),
            *self.param_free_field(share),
        )
        self.warn_param_free(
            share,
            "the sampled layers",
            "the controller may be collapsing to them, as ENAS and DARTS did on NAS-Bench-201",
        )

    def update(self) -> tuple[list[ChildResult], dict[str, float]]:
        """One controller update: M children scored on one validation minibatch."""
        s = self.state
        with self.timed_controller():
            archs = self.controller.propose(self.budget.batch)
        jobs = [ChildJob(s.evaluated + i, arch, 0) for i, arch in enumerate(archs)]
        results = list(self.evaluator.evaluate(jobs))
        with self.timed_controller():
            stats = self.controller.learn(archs, [r.reward for r in results])
        s.step += 1
        s.sampled += len(archs)
        for result in results:
            s.evaluated += 1
            record = child_record(result, s.lines, s.step, cached=False)
            record.update(epoch=self.epochs_done + 1, evaluation="shared")
            self.files.append_child(record)
            s.lines += 1
        self.logger.log_step(s.step, results, stats, max(r.reward for r in results), s.evaluated, 0)
        log.info(
            "epoch %d step %d: reward mean %.4f max %.4f, stats %s",
            self.epochs_done + 1,
            s.step,
            sum(r.reward for r in results) / len(results),
            max(r.reward for r in results),
            {k: round(v, 5) for k, v in stats.items()},
        )
        return results, stats

    def param_free_field(self, share: float) -> list[str]:
        """The progress line's parameter-free share (none for a space without such ops)."""
        return [f"parameter-free {100 * share:.0f}%"] if self.param_free_ops else []

    def warn_param_free(self, share: float, layers: str, collapse: str) -> None:
        """Warn when `share` of `layers` are parameter-free ops, past `param_free_warning`."""
        if share > self.cfg.param_free_warning:
            log.warning(
                "epoch %d: %.0f%% of %s are parameter-free ops (%s): %s",
                self.epochs_done,
                100 * share,
                layers,
                ", ".join(sorted(self.param_free_ops)),
                collapse,
            )

    def conclude(self) -> None:
        """Derive the best architecture."""
        self.derive()

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
            accuracy, loss = self.evaluator.score_with_loss(arch)
            ranking.append(
                {
                    "arch": arch.to_dict(),
                    "arch_str": format_arch(arch),
                    "val_acc": accuracy,
                    "val_loss": loss,
                    "params": self.evaluator.params(arch),
                    "source": source,
                }
            )
        note = DERIVE_NOTE.format(by=self.order(ranking))
        atomic_write_json(
            self.files.dir / DERIVE,
            {
                "note": note,
                "derive_by": self.cfg.derive_by,
                "derive_prior": self.cfg.derive_prior or None,
                "epochs": self.epochs_done,
                **self.derive_details(),
                "ranking": ranking,
            },
        )
        self.ranking = ranking
        top = ranking[0]
        best = {
            "index": self.state.evaluated,  # past every scored child: its own retraining seed
            "arch": top["arch"],
            "arch_str": top["arch_str"],
            "reward": top["val_acc"],
            "val_acc": top["val_acc"],
            "val_loss": top["val_loss"],
            "val_curve": [top["val_acc"]],
            "params": top["params"],
            "seconds": None,  # scored with shared weights, never trained alone
            "status": "ok",
            "message": "",
            "derived": top["source"],
            "evaluation": "shared",
            "note": note,
        }
        self.state.best = best
        self.files.write_best(best)
        return best

    def order(self, ranking: list[dict[str, Any]]) -> str:
        """Sort derive's rows best first and number them; say by what, in words.

        By `derive_by`; with `derive_prior`, by the mean of that rank and the proxy's rank
        (each row then keeps `prior_reward` and `mean_rank`). Ties keep the candidates' order,
        the greedy pick first.
        """
        by, prior = self.cfg.derive_by, self.cfg.derive_prior
        primary = [r["val_loss"] if by == "loss" else -r["val_acc"] for r in ranking]
        order = rankdata(primary)  # 1: the best
        what = "lowest loss first" if by == "loss" else "accuracy"
        if prior:
            rewards = proxy_rewards(
                [Architecture.from_dict(r["arch"]) for r in ranking],
                prior,
                self.cfg.derive_prior_batch_size,
                self.evaluator.data,
                self.evaluator.space_cfg,
                self.evaluator.seed,
            )
            order = (order + rankdata([-r for r in rewards])) / 2
            for row, reward, mean in zip(ranking, rewards, order, strict=True):
                row.update(prior_reward=reward, mean_rank=float(mean))
            what = f"the mean of the ranks by {by} and by the zero-cost proxy {prior}"
        ranked = sorted(zip(order, primary, ranking, strict=True), key=lambda t: t[:2])
        ranking[:] = [row for _, _, row in ranked]  # stable: ties keep the candidates' order
        for rank, row in enumerate(ranking, start=1):
            row["rank"] = rank
        return what

    def ranked(self) -> list[tuple[Architecture, float]]:
        """The derived candidates, best first, each with the value derive ranked it by."""
        key = "val_loss" if self.cfg.derive_by == "loss" else "val_acc"
        key = "mean_rank" if self.cfg.derive_prior else key
        return [(Architecture.from_dict(r["arch"]), r[key]) for r in self.ranking]

    def ranked_by(self) -> str:
        """Derive's order: shared-weight validation loss or accuracy, and the prior if any."""
        prior = self.cfg.derive_prior
        with_prior = f", mean rank with the proxy {prior} (the value: that mean)" if prior else ""
        return f"derive's ranking by shared-weight validation {self.cfg.derive_by}{with_prior}"

    def summary_section(self, cfg: SearchConfig, best: dict[str, Any] | None) -> dict[str, Any]:
        """The epochs run and the derived cell's numbers in the NB201 table, if it is one."""
        assert best is not None  # derive always names one
        return {"shared": {"epochs": self.epochs_done, **table_accuracies(best)}}

    @staticmethod
    def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
        """The end-of-search table of a shared-weight search (evaluator=shared)."""
        best, shared = summary["best"], summary["shared"]
        rate = summary["children"] / max(summary["seconds"], 1e-9)
        picked = top_k_rows(summary) or [
            ("best architecture (derived)", best["arch_str"]),
            ("validation accuracy (shared weights)", f"{best['val_acc']:.4f}"),
            ("test accuracy (retrained, search recipe)", retrained_value(summary)),
        ]
        return [
            *picked,
            *looked_up_rows(shared),
            ("parameters (trained alone)", f"{best['params']:,}"),
            ("shared-weight epochs", str(shared["epochs"])),
            ("children scored (shared weights)", f"{summary['children']} ({rate:,.1f}/s)"),
            ("search time", duration(summary["seconds"])),
            ("controller's favourite (greedy)", summary["favourite"] or "-"),
            ("run directory", summary["run_dir"]),
        ]


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


def looked_up_rows(shared: dict[str, Any]) -> list[tuple[str, str]]:
    """The derived NB201 cell's table numbers (`table/<column>` in `shared`), looked up."""
    return [
        (
            f"NAS-Bench-201 table: {describe_column(key[6:])} ({key[6:]}, looked up)",
            f"{100 * value:.2f}%",
        )
        for key, value in shared.items()
        if key.startswith("table/")
    ]


def retrained_value(summary: dict[str, Any]) -> str:
    """The retrained test accuracy, or `-` when there is none."""
    test = summary["test_acc"]
    return f"{test:.4f}" if test is not None else "-"
