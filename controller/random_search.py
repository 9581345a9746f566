"""Random search: the baseline every controller must beat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from controller.base import ControllerDef
from controller.config import RandomControllerConfig
from core.architecture import Architecture
from core.space import SearchSpace


class RandomSearch:
    """Proposes architectures uniformly at random and learns nothing."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space = space
        self.rng = np.random.default_rng(seed)

    def propose(self, n: int) -> list[Architecture]:
        """`n` independent uniform samples."""
        return [self.space.sample(self.rng) for _ in range(n)]

    def learn(self, archs: Sequence[Architecture], rewards: Sequence[float]) -> dict[str, float]:
        """Nothing to learn."""
        return {}

    def favourite(self) -> None:
        """Random search has no favourite."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """The RNG state."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the RNG state."""
        self.rng.bit_generator.state = state["rng"]


def build_random(space: SearchSpace, cfg: RandomControllerConfig, seed: int) -> RandomSearch:
    """Random search over `space` (its config has no settings)."""
    return RandomSearch(space, seed)


CONTROLLER = ControllerDef(name="random", config=RandomControllerConfig, build=build_random)
