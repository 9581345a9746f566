"""Rewards: a trained child's validation accuracies (and size) → the controller's reward."""

from __future__ import annotations

from collections.abc import Sequence

from child.config import RewardConfig
from child.errors import ConfigError, require

REWARDS = ("val_acc", "zoph", "cost")


def check_reward(cfg: RewardConfig) -> None:
    """Raise ConfigError unless `cfg` names a known reward with sensible parameters."""
    if cfg.name not in REWARDS:
        raise ConfigError(f"reward.name={cfg.name!r} is unknown: expected one of {list(REWARDS)}")
    require(cfg.window >= 1, "reward.window", cfg.window, "an int >= 1")
    require(cfg.power > 0, "reward.power", cfg.power, "a positive number")
    require(cfg.target_params >= 1, "reward.target_params", cfg.target_params, "an int >= 1")


def epochs_to_validate(cfg: RewardConfig) -> int:
    """How many final epochs the trainer must validate after for this reward."""
    return cfg.window if cfg.name == "zoph" else 1


def compute_reward(cfg: RewardConfig, val_curve: Sequence[float], params: int) -> float:
    """The reward of a child whose last epochs reached `val_curve` with `params` parameters."""
    if cfg.name == "val_acc":
        return float(val_curve[-1])
    if cfg.name == "zoph":
        return float(max(val_curve[-cfg.window :]) ** cfg.power)
    if cfg.name == "cost":
        ratio = params / cfg.target_params
        weight = cfg.alpha if ratio <= 1.0 else cfg.beta
        return float(val_curve[-1] * ratio**weight)
    raise ConfigError(f"reward.name={cfg.name!r} is unknown: expected one of {list(REWARDS)}")
