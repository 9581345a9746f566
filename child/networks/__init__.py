"""Network builders, by search space: `build_network` turns an `Architecture` into an nn.Module."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from child.networks.layers import LayersNet
from child.networks.macro import MacroNet
from child.networks.nb201 import build_nb201_network
from core.architecture import Architecture

Builder = Callable[[Architecture, tuple[int, ...], int, Mapping[str, Any]], nn.Module]


def _macro(
    arch: Architecture, input_shape: tuple[int, ...], num_classes: int, cfg: Mapping[str, Any]
) -> nn.Module:
    return MacroNet(
        arch,
        input_shape,
        num_classes,
        stem_width=int(cfg.get("stem_width", 16)),
        pool_after=tuple(cfg.get("pool_after", ())),
    )


def _layers(
    arch: Architecture, input_shape: tuple[int, ...], num_classes: int, cfg: Mapping[str, Any]
) -> nn.Module:
    return LayersNet(arch, input_shape, num_classes)


BUILDERS: dict[str, Builder] = {
    "macro": _macro,
    "layers": _layers,
    "nb201": build_nb201_network,
}


def build_network(
    arch: Architecture,
    input_shape: tuple[int, ...],
    num_classes: int,
    space_cfg: Mapping[str, Any] | None = None,
) -> nn.Module:
    """The network for `arch` on inputs of shape `input_shape` (without the batch dimension)."""
    if arch.space not in BUILDERS:
        raise KeyError(f"no network builder for space {arch.space!r}: known {sorted(BUILDERS)}")
    return BUILDERS[arch.space](arch, tuple(input_shape), num_classes, space_cfg or {})


def count_params(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
