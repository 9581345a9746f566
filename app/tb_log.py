"""TensorBoard logging of a search: scalars per step, choice histograms, best arch, hparams."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from app.config import flatten_config
from child.result import ChildResult, Status
from child.spaces import format_arch
from core.architecture import Architecture
from core.space import Choice, SearchSpace


class SearchLogger:
    """Writes one search's TensorBoard events into the run directory.

    The x-axis of every per-step scalar is the controller step. `purge_step` drops events a
    killed run wrote after its last checkpoint, so a resumed run's curves do not fold back.
    `value_label` names a child's `val_acc` in text: a table search's value column, say.
    """

    def __init__(
        self,
        run_dir: Path,
        space: SearchSpace,
        purge_step: int | None = None,
        value_label: str = "val_acc",
    ) -> None:
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)
        self.space = space
        self.value_label = value_label

    def log_step(
        self,
        step: int,
        results: Sequence[ChildResult],
        controller_stats: Mapping[str, float],
        best_reward: float,
        evaluated: int,
        cached: int,
        best_report: Mapping[str, float] | None = None,
    ) -> None:
        """Scalars for one controller step: rewards, controller statistics, children, budget.

        `best_report` holds the report columns of the best-by-reward child so far (a table
        search's test accuracies of the found cell), logged as `best/<column>`.
        """
        rewards = np.array([r.reward for r in results])
        ok = [r for r in results if r.status == Status.OK]
        scalars = {
            "reward/mean": rewards.mean(),
            "reward/max": rewards.max(),
            "reward/best_so_far": best_reward,
            "child/failed": len(results) - len(ok),
            "search/children_evaluated": evaluated,
            "search/cached_in_step": cached,
        }
        if ok:
            scalars["child/val_acc_mean"] = float(np.mean([r.val_acc for r in ok]))
            scalars["child/params_mean"] = float(np.mean([r.params for r in ok]))
            scalars["child/seconds_mean"] = float(np.mean([r.seconds for r in ok]))
        scalars.update({f"controller/{k}": v for k, v in controller_stats.items()})
        scalars.update({f"best/{column}": v for column, v in (best_report or {}).items()})
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)
        self._log_choices(step, [r.arch for r in results])

    def log_epoch(
        self, epoch: int, scalars: Mapping[str, float], archs: Sequence[Architecture]
    ) -> None:
        """Per-epoch scalars (x-axis: epoch) and histograms of the epoch's sampled choices."""
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, epoch)
        self._log_choices(epoch, archs, prefix="epoch_choices")

    def _log_choices(
        self, step: int, archs: Sequence[Architecture], prefix: str = "choices"
    ) -> None:
        values: dict[str, list[int]] = {}
        sizes: dict[str, int] = {}
        for arch in archs:
            for decision, answer in self.space.walk(self.space.encode(arch)):
                if isinstance(decision, Choice):
                    values.setdefault(decision.name, []).append(answer[0])
                    sizes[decision.name] = len(decision.options)
                else:  # a skip decision: which earlier layers were chosen
                    values.setdefault(decision.name, []).extend(
                        j for j, bit in enumerate(answer) if bit
                    )
                    sizes[decision.name] = decision.num_anchors
        for name, chosen in values.items():
            if chosen:
                bins = np.arange(sizes[name] + 1) - 0.5
                self.writer.add_histogram(f"{prefix}/{name}", np.array(chosen), step, bins=bins)

    def log_best(self, step: int, result: ChildResult) -> None:
        """The new best architecture, as text."""
        report = "".join(f", {column} {v:.4f}" for column, v in result.report.items())
        text = (
            f"**reward {result.reward:.4f}**, {self.value_label} {result.val_acc:.4f}{report}, "
            f"params {result.params:,}, child #{result.index}\n\n`{format_arch(result.arch)}`"
        )
        self.writer.add_text("best/architecture", text, step)

    def log_image(self, tag: str, image: np.ndarray, step: int) -> None:
        """An RGB image, uint8 of shape (H, W, 3), such as the best architecture's diagram."""
        self.writer.add_image(tag, image, step, dataformats="HWC")

    def log_hparams(self, config: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """The run's settings and final metrics for the HParams dashboard, in this run's dir."""
        # SummaryWriter.add_hparams would write into a new sub-directory; write in place instead.
        experiment, start, end = hparams(dict(config), dict(metrics))
        for summary in (experiment, start, end):
            self.writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()


def flat_hparams(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A nested config as `a.b.c` keys with values TensorBoard accepts (None left out)."""
    return {
        key: value if isinstance(value, bool | int | float | str) else str(value)
        for key, value in flatten_config(cfg).items()
        if value is not None
    }
