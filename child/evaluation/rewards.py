"""Rewards: a trained child's validation accuracies (and cost) → the controller's reward.

Each reward is a config schema (`reward=<name>`) that also computes itself, so a reward has
exactly the settings it uses: `reward=val_acc reward.power=3` is refused while composing. A
module declares its rewards as `REWARD` (a `RewardDef`, or a tuple of them), found by
`child.evaluation.registry`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from child.evaluation.metrics import METRICS
from core.errors import require
from core.registry import PartDef

COST_METRICS = ("params", "latency", "flops")


@dataclass
class Reward(ABC):
    """What every reward schema below offers (each is a dataclass with a `name`).

    `metric` is the validation metric the reward is computed from
    (`child.evaluation.metrics.METRICS`):
    accuracy, or balanced accuracy (= macro recall) or macro F1, which a network that ignores a
    rare class cannot score well on.
    """

    metric: str = "accuracy"

    def check_metric(self) -> None:
        """The metric must be one the trainer computes."""
        require(
            self.metric in METRICS, "reward.metric", self.metric, f"one of {', '.join(METRICS)}"
        )

    @property
    def epochs_to_validate(self) -> int:
        """How many final epochs the trainer must validate after."""
        return 1

    @property
    def needs_latency(self) -> bool:
        """Whether each child's latency must be measured."""
        return False

    def check(self) -> None:  # noqa: B027 (a reward without settings has nothing to check)
        """Raise ConfigError for settings that make no sense (none by default)."""

    @abstractmethod
    def compute(
        self,
        val_curve: Sequence[float],
        params: int,
        latency_ms: float | None = None,
        flops: int | None = None,
    ) -> float:
        """The reward of a child whose last epochs reached `val_curve`, with its cost."""


@dataclass
class ValAccReward(Reward):
    """`reward=val_acc`: the validation accuracy after the last epoch."""

    name: str = "val_acc"

    def compute(
        self,
        val_curve: Sequence[float],
        params: int,
        latency_ms: float | None = None,
        flops: int | None = None,
    ) -> float:
        """The last validation accuracy."""
        return float(val_curve[-1])


@dataclass
class ZophReward(Reward):
    """`reward=zoph` (Zoph & Le 2017): (max val. accuracy of the last `window` epochs) ** power."""

    name: str = "zoph"
    window: int = 5
    power: float = 3.0

    @property
    def epochs_to_validate(self) -> int:
        """The last `window` epochs."""
        return self.window

    def check(self) -> None:
        """Window and power must make sense."""
        require(self.window >= 1, "reward.window", self.window, "an int >= 1")
        require(self.power > 0, "reward.power", self.power, "a number > 0")

    def compute(
        self,
        val_curve: Sequence[float],
        params: int,
        latency_ms: float | None = None,
        flops: int | None = None,
    ) -> float:
        """max(last `window` accuracies) ** power."""
        return float(max(val_curve[-self.window :]) ** self.power)


@dataclass
class CostReward(Reward):
    """`reward=cost` (MnasNet, Tan et al. 2019): `acc × (cost / target) ** w`.

    `w = alpha` at or under the target and `w = beta` over it (alpha 0, beta -1 is a hard-ish
    limit). The cost is the parameter count (`cost_metric: params`, target `target_params`),
    the latency of one example's forward pass on the training device (`cost_metric: latency`,
    target `target_latency_ms`), or the FLOPs of one example's forward pass as a table lists
    them (`cost_metric: flops`, target `target_flops`; `evaluator=table` only).
    """

    name: str = "cost"
    cost_metric: str = "params"
    target_params: int = 5000
    target_latency_ms: float = 1.0
    target_flops: int = 100_000_000
    alpha: float = 0.0
    beta: float = -0.07

    @property
    def needs_latency(self) -> bool:
        """With `cost_metric: latency`."""
        return self.cost_metric == "latency"

    def check(self) -> None:
        """Known metric, positive targets."""
        require(
            self.cost_metric in COST_METRICS,
            "reward.cost_metric",
            self.cost_metric,
            f"one of {list(COST_METRICS)}",
        )
        require(self.target_params >= 1, "reward.target_params", self.target_params, ">= 1")
        require(
            self.target_latency_ms > 0, "reward.target_latency_ms", self.target_latency_ms, "> 0"
        )
        require(self.target_flops >= 1, "reward.target_flops", self.target_flops, ">= 1")

    def compute(
        self,
        val_curve: Sequence[float],
        params: int,
        latency_ms: float | None = None,
        flops: int | None = None,
    ) -> float:
        """The last accuracy, scaled by how far the cost is from its target."""
        if self.needs_latency:
            if latency_ms is None:
                raise ValueError("a latency reward needs the child's measured latency")
            ratio = latency_ms / self.target_latency_ms
        elif self.cost_metric == "flops":
            if flops is None:
                raise ValueError("a FLOPs reward needs the child's FLOPs (a table's flops column)")
            ratio = flops / self.target_flops
        else:
            ratio = params / self.target_params
        weight = self.alpha if ratio <= 1.0 else self.beta
        return float(val_curve[-1] * ratio**weight)


@dataclass(frozen=True)
class RewardDef(PartDef):
    """A reward, declared by its module: `config` is the `Reward` subclass, schema and formula."""


REWARD = (
    RewardDef(name="val_acc", config=ValAccReward),
    RewardDef(name="zoph", config=ZophReward),
    RewardDef(name="cost", config=CostReward),
)
