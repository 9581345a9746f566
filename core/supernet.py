"""What a weight-sharing supernet offers the code that trains it and searches through it.

A space that can share weights declares a builder (`SpaceDef.supernet`): (the space's config,
input shape without batch, classes) → a `Supernet`. The shared evaluator
(`child.evaluation.shared`) trains it in ENAS's schedule through `forward(x, arch)` and in
DARTS's through `forward_mixed(x, weights)`, whose weights `controller.darts` learns; the rest
is what every torch `nn.Module` has, with which it is moved, trained and checkpointed.

core does not import torch: the annotations name its types for type checkers only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from core.architecture import Architecture

if TYPE_CHECKING:  # supernets are torch modules, but core runs without torch
    import torch
    from torch import nn


@runtime_checkable
class Supernet(Protocol):
    """One network whose paths are a space's children (ENAS), or its every path at once (DARTS)."""

    def __call__(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        """`forward(x, arch)`, as `nn.Module` calls it."""
        ...

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        """Logits (N, classes) of child `arch`, using only its path's weights."""
        ...

    def forward_mixed(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits of DARTS's continuous relaxation: each decision's options, weighted.

        `weights[name]` holds one weight per outcome of the space's decision `name` (per
        option for a choice, per anchor for a skip decision), as `controller.darts` mixes them.
        """
        ...

    def path_parameters(self, arch: Architecture) -> list[nn.Parameter]:
        """Exactly the parameters that `forward(x, arch)` uses: the others get no gradient."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """Every shared weight (what the evaluator's optimizer trains)."""
        ...

    def to(self, device: torch.device | str) -> Self:
        """The supernet, moved to `device`."""
        ...

    def train(self, mode: bool = True) -> Self:
        """The supernet in training mode."""
        ...

    def eval(self) -> Self:
        """The supernet in evaluation mode."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The shared weights, for a checkpoint."""
        ...

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
        """Restore the shared weights of a checkpoint."""
        ...


# (the space's config, input shape without batch, number of classes) → its supernet.
SupernetBuilder = Callable[[Any, tuple[int, ...], int], Supernet]
