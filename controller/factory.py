"""Controllers by name: `build_controller` turns a `controller` config into a controller."""

from __future__ import annotations

from typing import Any

from controller.base import Controller
from controller.config import (
    DartsControllerConfig,
    EvolutionControllerConfig,
    LSTMControllerConfig,
    PolicyGradientConfig,
    RandomControllerConfig,
    SoftmaxControllerConfig,
)
from controller.darts import DartsController
from controller.evolution import RegularizedEvolution
from controller.policy_gradient import ADVANTAGES, UPDATES, PolicyGradientController
from controller.random_search import RandomSearch
from core.errors import ConfigError, require
from core.space import SearchSpace

# The schema of each `controller=<name>` option's `name`.
CONTROLLERS: dict[str, type] = {
    "lstm": LSTMControllerConfig,
    "softmax": SoftmaxControllerConfig,
    "random": RandomControllerConfig,
    "evolution": EvolutionControllerConfig,
    "darts": DartsControllerConfig,
}


def check_controller(cfg: Any) -> None:
    """Raise ConfigError for an unknown controller or settings that cannot work."""
    if cfg.name not in CONTROLLERS:
        raise ConfigError(
            f"controller.name={cfg.name!r} is unknown: expected one of {list(CONTROLLERS)}"
        )
    if isinstance(cfg, LSTMControllerConfig):
        require(cfg.hidden_size >= 1, "controller.hidden_size", cfg.hidden_size, "an int >= 1")
        require(cfg.num_layers >= 1, "controller.num_layers", cfg.num_layers, "an int >= 1")
    if isinstance(cfg, PolicyGradientConfig):
        require(cfg.lr > 0, "controller.lr", cfg.lr, "a positive learning rate")
        require(
            cfg.grad_clip >= 0,
            "controller.grad_clip",
            cfg.grad_clip,
            "a max gradient norm > 0, or 0 for no clipping",
        )
        require(
            cfg.entropy_weight >= 0,
            "controller.entropy_weight",
            cfg.entropy_weight,
            "a number >= 0",
        )
        require(cfg.skip_weight >= 0, "controller.skip_weight", cfg.skip_weight, "a number >= 0")
        require(cfg.temperature > 0, "controller.temperature", cfg.temperature, "a number > 0")
        require(
            cfg.tanh_constant >= 0,
            "controller.tanh_constant",
            cfg.tanh_constant,
            "a number >= 0 (0 turns clipping off)",
        )
        require(
            0 <= cfg.baseline_decay < 1,
            "controller.baseline_decay",
            cfg.baseline_decay,
            "a decay in [0, 1)",
        )
        require(
            0 < cfg.skip_target < 1,
            "controller.skip_target",
            cfg.skip_target,
            "a probability strictly between 0 and 1",
        )
        require(
            cfg.advantage in ADVANTAGES,
            "controller.advantage",
            cfg.advantage,
            f"one of {', '.join(ADVANTAGES)}",
        )
        require(cfg.rank_window >= 0, "controller.rank_window", cfg.rank_window, "an int >= 0")
        require(cfg.elite_size >= 0, "controller.elite_size", cfg.elite_size, "an int >= 0")
        require(cfg.elite_weight >= 0, "controller.elite_weight", cfg.elite_weight, "a number >= 0")
        require(
            0 <= cfg.adam_beta1 < 1, "controller.adam_beta1", cfg.adam_beta1, "a number in [0, 1)"
        )
        require(
            cfg.update in UPDATES, "controller.update", cfg.update, f"one of {', '.join(UPDATES)}"
        )
        require(cfg.ppo_epochs >= 1, "controller.ppo_epochs", cfg.ppo_epochs, "an int >= 1")
        require(
            0 < cfg.ppo_clip < 1,
            "controller.ppo_clip",
            cfg.ppo_clip,
            "a number strictly between 0 and 1",
        )
    if isinstance(cfg, EvolutionControllerConfig):
        require(cfg.population >= 2, "controller.population", cfg.population, "an int >= 2")
        require(
            1 <= cfg.sample_size <= cfg.population,
            "controller.sample_size",
            cfg.sample_size,
            f"an int in [1, population={cfg.population}]",
        )
    if isinstance(cfg, DartsControllerConfig):
        require(cfg.lr > 0, "controller.lr", cfg.lr, "a positive learning rate")
        require(0 <= cfg.beta1 < 1, "controller.beta1", cfg.beta1, "a number in [0, 1)")
        require(0 <= cfg.beta2 < 1, "controller.beta2", cfg.beta2, "a number in [0, 1)")
        require(cfg.weight_decay >= 0, "controller.weight_decay", cfg.weight_decay, "a number >= 0")


def build_controller(cfg: Any, space: SearchSpace, seed: int) -> Controller:
    """The controller named by `cfg.name`, for `space`, seeded with `seed`."""
    check_controller(cfg)
    if isinstance(cfg, PolicyGradientConfig):
        return PolicyGradientController(space, cfg, seed)
    if cfg.name == "evolution":
        return RegularizedEvolution(space, cfg, seed)
    if isinstance(cfg, DartsControllerConfig):
        return DartsController(space, cfg, seed)
    return RandomSearch(space, seed)
