"""A trained child on disk: its weights together with its architecture, loadable in one call."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from child.spaces import SpaceConfig, build_network, space_config
from core.architecture import Architecture


def save_network(
    path: Path | str,
    net: nn.Module,
    arch: Architecture,
    input_shape: tuple[int, ...],
    num_classes: int,
    space_cfg: SpaceConfig,
    info: dict[str, Any] | None = None,
) -> None:
    """Save the weights with everything needed to rebuild the network (plain types only)."""
    torch.save(
        {
            "arch": arch.to_dict(),
            "input_shape": list(input_shape),
            "num_classes": num_classes,
            "space_cfg": asdict(space_cfg),
            "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
            "info": info or {},
        },
        path,
    )


def load_network(path: Path | str) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a saved network on the CPU, in eval mode; return it with the saved metadata."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    arch = Architecture.from_dict(saved["arch"])
    settings = space_config(arch.space, saved["space_cfg"])
    net = build_network(arch, tuple(saved["input_shape"]), saved["num_classes"], settings)
    net.load_state_dict(saved["state_dict"])
    net.eval()
    return net, {k: v for k, v in saved.items() if k != "state_dict"} | {"arch": arch}
