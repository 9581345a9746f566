"""The interface every controller implements, and how a controller module declares itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.architecture import Architecture
from core.registry import PartDef
from core.space import SearchSpace


class Controller(Protocol):
    """Proposes architectures and learns from their rewards; its state can be saved and restored.

    The search loop calls `propose(n)`, evaluates the architectures, then `learn(archs,
    rewards)` with the same architectures in the same order. A controller never sees how the
    rewards were made.
    """

    def propose(self, n: int) -> list[Architecture]:
        """The next `n` architectures to evaluate."""
        ...

    def learn(self, archs: Sequence[Architecture], rewards: Sequence[float]) -> dict[str, float]:
        """Update from the rewards of `archs`; return scalars worth logging."""
        ...

    def favourite(self) -> Architecture | None:
        """The architecture the controller currently believes best (None if it has no opinion)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where it stopped (tensors and plain values)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict`."""
        ...


@dataclass(frozen=True)
class ControllerDef(PartDef):
    """A controller, declared by its module as `CONTROLLER = ControllerDef(...)`.

    - `config`: the dataclass schema of `controller=<name>`, with a `check()` of its settings.
    - `build`: (space, config, seed) → the controller; the config has passed its check.
    """

    build: Callable[[SearchSpace, Any, int], Controller]
