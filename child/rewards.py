"""Rewards: a trained child's validation accuracies (and size) → the controller's reward."""

from __future__ import annotations

from collections.abc import Sequence

from child.config import RewardConfig
from core.errors import ConfigError, require

REWARDS = ("val_acc", "zoph", "cost")
COST_METRICS = ("params", "latency")


def check_reward(cfg: RewardConfig) -> None:
    """Raise ConfigError unless `cfg` names a known reward with sensible parameters."""
    if cfg.name not in REWARDS:
        raise ConfigError(f"reward.name={cfg.name!r} is unknown: expected one of {list(REWARDS)}")
    require(cfg.window >= 1, "reward.window", cfg.window, "an int >= 1")
    require(cfg.power > 0, "reward.power", cfg.power, "a positive number")
    require(cfg.target_params >= 1, "reward.target_params", cfg.target_params, "an int >= 1")
    require(cfg.target_latency_ms > 0, "reward.target_latency_ms", cfg.target_latency_ms, "> 0")
    require(
        cfg.cost_metric in COST_METRICS,
        "reward.cost_metric",
        cfg.cost_metric,
        f"one of {list(COST_METRICS)}",
    )


def needs_latency(cfg: RewardConfig) -> bool:
    """Whether the reward needs each child's measured latency."""
    return cfg.name == "cost" and cfg.cost_metric == "latency"


def epochs_to_validate(cfg: RewardConfig) -> int:
    """How many final epochs the trainer must validate after for this reward."""
    return cfg.window if cfg.name == "zoph" else 1


def compute_reward(
    cfg: RewardConfig, val_curve: Sequence[float], params: int, latency_ms: float | None = None
) -> float:
    """The reward of a child whose last epochs reached `val_curve`, with its size and latency."""
    if cfg.name == "val_acc":
        return float(val_curve[-1])
    if cfg.name == "zoph":
        return float(max(val_curve[-cfg.window :]) ** cfg.power)
    if cfg.name == "cost":
        if needs_latency(cfg):
            if latency_ms is None:
                raise ValueError("a latency reward needs the child's measured latency")
            ratio = latency_ms / cfg.target_latency_ms
        else:
            ratio = params / cfg.target_params
        weight = cfg.alpha if ratio <= 1.0 else cfg.beta
        return float(val_curve[-1] * ratio**weight)
    raise ConfigError(f"reward.name={cfg.name!r} is unknown: expected one of {list(REWARDS)}")
