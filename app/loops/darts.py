"""First-order DARTS (Liu et al. 2019) over the weight-sharing supernet, then the argmax.

    for each epoch:
        for each training minibatch:
            alpha step: Adam on the architecture logits, loss on the next validation minibatch
                        through the supernet's continuous relaxation (every option, weighted)
            w step:     SGD on the shared weights (evaluator.recipe), loss on the training
                        minibatch through the same relaxation, logits held fixed
        checkpoint (supernet, optimizer, logits, their optimizer, RNG) at the epoch boundary
    derive: the argmax architecture, scored on the whole validation split with the shared
            weights → derive.json, best.json

First order: the alpha gradient takes the shared weights as they are, not after a virtual
training step (DARTS's second order, which costs another forward and backward pass per step
and which DARTS found made little difference on its own benchmarks: 3.00% vs 2.76% CIFAR-10
error). The budget, checkpoints, resume and outputs are those of the ENAS loop this extends.
"""

from __future__ import annotations

import logging
from typing import Any

from app.config import SearchConfig
from app.loops.base import duration
from app.loops.shared_weights import SharedWeightSearch, looked_up_rows, retrained_value
from child.evaluation.result import ChildResult
from child.spaces import param_free_share
from controller.darts import DartsController
from core.architecture import Architecture

log = logging.getLogger(__name__)
METHOD = "DARTS (first order): argmax of the architecture weights"


class DartsSearch(SharedWeightSearch):
    """DARTS epochs until `recipe.epochs` (or `budget.minutes`) is spent, then the argmax.

    Method state: that of the ENAS loop (the epochs done and the supernet).
    """

    method = "darts"

    @classmethod
    def handles(cls, cfg: SearchConfig) -> bool:
        """controller=darts over evaluator=shared."""
        return cfg.evaluator.name == "shared" and cfg.controller.name == "darts"

    @property
    def darts(self) -> DartsController:
        """The controller, which must be DARTS's architecture weights."""
        assert isinstance(self.controller, DartsController)
        return self.controller

    def epoch(self) -> None:
        """One pass over the training split, alternating alpha and weight steps; logs it."""
        s, evaluator, darts = self.state, self.evaluator, self.darts
        steps = evaluator.begin_epoch(self.epochs_done)
        losses, accs, val_losses, val_accs = [], [], [], []
        for _ in range(steps):
            with self.timed_controller():
                val_loss, val_acc = evaluator.val_loss_mixed(darts.mixing_weights(evaluator.device))
                darts.step(val_loss)
            val_losses.append(float(val_loss.detach()))
            val_accs.append(val_acc)
            weights = darts.mixing_weights(evaluator.device, detach=True)
            loss, acc = evaluator.train_step_mixed(weights)
            losses.append(loss)
            accs.append(acc)
        self.epochs_done += 1
        epoch = self.epochs_done
        # Everything DARTS logs is per epoch: its step is the epoch, so that a resumed run's
        # purge_step drops exactly the events written after the last checkpoint.
        s.step = epoch
        argmax = darts.favourite()
        argmax_acc = evaluator.score(argmax)
        self.check_target(argmax_acc, f"the argmax {argmax} (whole validation split)", epoch)
        share = param_free_share([argmax])
        entropy = darts.entropy()
        train_loss = sum(losses) / len(losses)
        val_loss_mean = sum(val_losses) / len(val_losses)
        self.logger.log_epoch(
            epoch,
            {
                "supernet/train_loss": train_loss,
                "supernet/train_acc": sum(accs) / len(accs),
                "supernet/lr": evaluator.optimizer.param_groups[0]["lr"],
                "supernet/val_loss_mixed": val_loss_mean,
                "supernet/val_acc_mixed": sum(val_accs) / len(val_accs),
                "controller/entropy": entropy,
                "controller/param_free_share": share,
                "derive/argmax_val_acc_shared": argmax_acc,
            },
            [],
        )
        self.logger.log_weights(epoch, darts.probabilities())
        self.progress.update(epoch, f"loss {train_loss:.3f}  argmax {argmax_acc:.4f}")
        self.progress.line(
            f"epoch {epoch:3d}/{self.cfg.recipe.epochs}",
            f"supernet loss {train_loss:.4f}",
            f"val loss (mixed) {val_loss_mean:.4f}",
            f"argmax val acc (shared) {argmax_acc:.4f}",
            f"alpha entropy {entropy:.2f}",
            *self.param_free_field(share),
        )
        log.info(
            "epoch %d: supernet loss %.4f, mixed val loss %.4f, argmax %s scores %.4f (shared)",
            epoch,
            train_loss,
            val_loss_mean,
            argmax,
            argmax_acc,
        )
        self.warn_param_free(
            share,
            "the argmax's layers (edges)",
            "DARTS may be collapsing to them, as it did on NAS-Bench-201",
        )

    def candidates(self) -> dict[Architecture, str]:
        """Only the argmax: DARTS derives, it does not sample."""
        return {self.darts.favourite(): "argmax"}

    def derive_details(self) -> dict[str, Any]:
        """The method, and the mixing weights the argmax was read from."""
        return {
            "method": METHOD,
            "weights": self.darts.probabilities(),
            "param_free_share": param_free_share([self.darts.favourite()]),
        }

    def summary_section(self, cfg: SearchConfig, best: dict[str, Any] | None) -> dict[str, Any]:
        """The ENAS loop's, with the parameter-free share of the argmax (if the space has any)."""
        section = super().summary_section(cfg, best)
        if self.param_free_ops:
            derived = ChildResult.from_dict(best or {}).arch
            section["shared"]["param_free_share"] = param_free_share([derived])
        return section

    @staticmethod
    def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
        """The end-of-search table of a DARTS search (controller=darts evaluator=shared)."""
        best, shared = summary["best"], summary["shared"]
        free = shared.get("param_free_share")
        return [
            ("search", METHOD),
            ("derived architecture (argmax)", best["arch_str"]),
            *([("parameter-free ops in it", f"{100 * free:.0f}%")] if free is not None else []),
            ("validation accuracy (shared weights)", f"{best['val_acc']:.4f}"),
            ("test accuracy (retrained, search recipe)", retrained_value(summary)),
            *looked_up_rows(shared),
            ("parameters (trained alone)", f"{best['params']:,}"),
            ("supernet epochs", str(shared["epochs"])),
            ("search time", duration(summary["seconds"])),
            ("run directory", summary["run_dir"]),
        ]
