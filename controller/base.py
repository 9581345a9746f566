"""The interface every controller implements: propose architectures, learn from their rewards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from core.architecture import Architecture


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
