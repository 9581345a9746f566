"""TensorBoard logging of a search: scalars per step, choice shares, best arch, hparams.

Axes: every per-update scalar is logged against the controller step (updates), and the reward
curves again under `reward_by_children/` against the number of children evaluated, so runs with
different batch sizes or controllers line up. Nothing is logged that was not measured: a table
child has no training time, a space without skips no skip KL.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from app.config import flatten_config
from child.evaluation.result import ChildResult, Status
from child.spaces import format_arch
from core.architecture import Architecture
from core.space import Choice, SearchSpace, outcome_labels


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
        self.writer.add_custom_scalars(LAYOUT)
        self._recent: deque[Architecture] = deque(maxlen=WINDOW)

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
            "search/failed_share": (len(results) - len(ok)) / len(results),
            "search/children_evaluated": evaluated,
            "search/cached_share": cached / len(results),
        }
        if ok:
            scalars["child/val_acc_mean"] = float(np.mean([r.val_acc for r in ok]))
            if any(r.params for r in ok):  # a table without a params column has none
                scalars["child/params_mean"] = float(np.mean([r.params for r in ok]))
            timed = [r.seconds for r in ok if r.seconds is not None]  # a table times nothing
            if timed:
                scalars["child/seconds_mean"] = float(np.mean(timed))
        for key, value in controller_stats.items():
            if key == "skip_kl" and not self.space.uses_skips:
                continue  # a KL over skip decisions the space does not have
            scalars[f"controller/{key}"] = value
        scalars.update({f"best/{column}": v for column, v in (best_report or {}).items()})
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)
        for tag in ("reward/mean", "reward/max", "reward/best_so_far"):
            self.writer.add_scalar(
                tag.replace("reward/", "reward_by_children/"), scalars[tag], evaluated
            )
        self._log_choices(step, [r.arch for r in results])

    def log_epoch(
        self, epoch: int, scalars: Mapping[str, float], archs: Sequence[Architecture]
    ) -> None:
        """Per-epoch scalars (x-axis: epoch) and histograms of the epoch's sampled choices."""
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, epoch)
        self._log_choices(epoch, archs, prefix="epoch_policy")

    def log_weights(self, step: int, weights: Mapping[str, Mapping[str, float]]) -> None:
        """DARTS's mixing weights, per decision and option, as `policy/<decision>/<option>`.

        The same tags as the sampled shares of the other controllers, so the same charts read
        them; for DARTS they are the softmax (sigmoid for skips) of the architecture logits.
        """
        for name, options in weights.items():
            for option, value in options.items():
                self.writer.add_scalar(f"policy/{name}/{option}", value, step)

    def _log_choices(
        self, step: int, archs: Sequence[Architecture], prefix: str = "policy"
    ) -> None:
        """Per decision and option, the share of recent proposals that chose it.

        Named by option (`policy/layer1.op/conv5`, `policy/layer3.skips/from_0`), so a chart
        reads as the policy's probabilities; per update over the last `WINDOW` proposals, per
        shared-weight epoch (`epoch_policy/...`) over that epoch's architectures.
        """
        if prefix == "policy":
            self._recent.extend(archs)
            archs = list(self._recent)
        counts: dict[str, dict[str, int]] = {}
        totals: dict[str, int] = {}
        for arch in archs:
            for decision, answer in self.space.walk(self.space.encode(arch)):
                labels = outcome_labels(decision)
                names = counts.setdefault(decision.name, {})
                for label in labels:  # every outcome charted, chosen or not
                    names.setdefault(label, 0)
                totals[decision.name] = totals.get(decision.name, 0) + 1
                if isinstance(decision, Choice):
                    names[labels[answer[0]]] += 1
                else:  # a skip decision: one share per earlier layer it may connect to
                    for label, bit in zip(labels, answer, strict=True):
                        names[label] += bit
        for name, options in counts.items():
            for option, count in options.items():
                self.writer.add_scalar(f"{prefix}/{name}/{option}", count / totals[name], step)

    def log_best(self, step: int, result: ChildResult) -> None:
        """The new best architecture, as text."""
        report = "".join(f", {column} {v:.4f}" for column, v in result.report.items())
        params = f", params {result.params:,}" if result.params else ""  # 0: not measured
        text = (
            f"**reward {result.reward:.4f}**, {self.value_label} {result.val_acc:.4f}{report}"
            f"{params}, child #{result.index}\n\n`{format_arch(result.arch)}`"
        )
        self.writer.add_text("best/architecture", text, step)

    def log_image(self, tag: str, image: np.ndarray, step: int) -> None:
        """An RGB image, uint8 of shape (H, W, 3), such as the best architecture's diagram."""
        self.writer.add_image(tag, image, step, dataformats="HWC")

    def log_hparams(
        self, config: Mapping[str, Any], metrics: Mapping[str, float], final: Mapping[str, float]
    ) -> None:
        """The run's settings and final metrics for the HParams dashboard, in this run's dir.

        The HParams plugin reads each metric as the last value of the scalar with its tag, so
        the metrics are curve tags (`reward/best_so_far`, `best/...`); `final` holds those not
        logged per step, written once at the last step. An absent metric is NaN, never missing:
        a metric that some runs lack would vanish from the dashboard.
        """
        # SummaryWriter.add_hparams would write into a new sub-directory; write in place instead.
        experiment, start, end = hparams(dict(config), dict(metrics))
        for summary in (experiment, start, end):
            self.writer.file_writer.add_summary(summary)
        for tag, (step, value) in final.items():
            self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()


WINDOW = 50  # proposals the per-option shares are taken over

# The settings the HParams dashboard compares runs by; the whole config is in summary.json.
HPARAM_KEYS = (
    "controller.name",
    "controller.lr",
    "controller.update",
    "controller.advantage",
    "controller.tanh_constant",
    "controller.entropy_weight",
    "controller.population",
    "controller.sample_size",
    "seed",
    "search_space.name",
    "evaluator.name",
    "dataset.name",
    "reward.name",
    "budget.children",
    "budget.batch",
    "budget.depth",
)


def unsmoothed(tag: str) -> list[Any]:
    """A custom-scalars chart of `tag` that TensorBoard's smoothing slider leaves alone.

    Smoothing a running maximum draws it below the true one, so a best shows up later than it
    was found. The custom-scalars page smooths its multiline charts but never its
    margin charts (tensorboard 2.21: tf-custom-scalar-margin-chart-card passes no smoothing
    to its line chart), so the curve is a margin chart whose margins are the curve itself.
    """
    return ["Margin", [tag, tag, tag]]


# TensorBoard's custom-scalars page: what a researcher looks at first, on one screen.
LAYOUT = {
    "1 reward": {
        "reward mean, max and the baseline (their gap is the advantage)": [
            "Multiline",
            ["reward/mean", "reward/max", "controller/baseline"],
        ],
        "best reward so far (vs controller step, never smoothed)": unsmoothed("reward/best_so_far"),
        "best reward so far vs children evaluated (never smoothed)": unsmoothed(
            "reward_by_children/best_so_far"
        ),
    },
    "2 controller": {
        "policy entropy": ["Multiline", ["controller/entropy"]],
        "share of failed children": ["Multiline", ["search/failed_share"]],
        "policy lag (updates)": ["Multiline", ["controller/policy_lag"]],
    },
}


def flat_hparams(cfg: Mapping[str, Any], unused: Collection[str] = ()) -> dict[str, Any]:
    """The curated settings of `HPARAM_KEYS` present in `cfg` and used, as TensorBoard values.

    `unused` names the settings the run did not use (`unused_settings`): the dashboard would
    otherwise compare runs by a value that had no effect, such as the data set of a table run.
    Booleans and None become text ("true", "null"): the dashboard shows numbers as 1.0000.
    """
    flat = flatten_config(cfg)
    out: dict[str, Any] = {}
    for key in HPARAM_KEYS:
        if key not in flat or key in unused:
            continue
        value = flat[key]
        if isinstance(value, bool) or value is None:
            value = "null" if value is None else str(value).lower()
        elif not isinstance(value, int | float | str):
            value = str(value)
        out[key] = value
    return out


def unused_settings(reads_data: bool, pipelined: bool = True) -> tuple[str, ...]:
    """The `HPARAM_KEYS` a run did not use, for `flat_hparams`.

    The data set when its evaluator read none (a table: `SearchParts.data is None`), the
    pipeline depth when its loop proposes no batch ahead (weight sharing, DARTS).
    """
    unused = () if reads_data else ("dataset.name",)
    return unused if pipelined else (*unused, "budget.depth")
