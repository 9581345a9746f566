"""Controllers by name: each controller module declares `CONTROLLER`; this finds and builds them."""

from __future__ import annotations

from typing import Any

from controller.base import Controller, ControllerDef
from core.registry import Registry
from core.space import SearchSpace

# Every controller module's `CONTROLLER`, by the `controller=<name>` option it answers to.
CONTROLLERS: Registry[ControllerDef] = Registry(
    "controller", __package__, ControllerDef, "CONTROLLER"
)


def check_controller(cfg: Any) -> None:
    """Raise ConfigError for an unknown controller or settings that cannot work."""
    CONTROLLERS.check(cfg)


def build_controller(cfg: Any, space: SearchSpace, seed: int) -> Controller:
    """The controller named by `cfg.name`, for `space`, seeded with `seed`."""
    CONTROLLERS.check(cfg)
    return CONTROLLERS[cfg.name].build(space, cfg, seed)
