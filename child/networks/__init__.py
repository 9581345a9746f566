"""The networks of the search spaces (built through `child.spaces.build_network`)."""

from torch import nn


def count_params(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
