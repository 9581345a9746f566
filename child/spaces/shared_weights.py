"""What the weight-sharing supernets of every space share."""

from __future__ import annotations


def input_dims(input_shape: tuple[int, ...]) -> int:
    """1 for (C, L) inputs, 2 for (C, H, W); ValueError for any other shape."""
    dims = len(input_shape) - 1
    if dims not in (1, 2):
        raise ValueError(f"supernets take 1-D (C, L) or 2-D (C, H, W) inputs, not {input_shape}")
    return dims
