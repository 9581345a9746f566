"""What the weight-sharing supernets of every space share: their inputs and their BatchNorm.

Each space's supernet (`child/spaces/<name>/supernet.py`, a `core.supernet.Supernet`) takes 1-D
(C, L) or 2-D (C, H, W) inputs (`input_dims`). Every minibatch may be a different child, so
running statistics would average over paths that see different weights: every BatchNorm of a
supernet normalises with the statistics of the current batch, in training and evaluation
alike (no running buffers), and keeps only its learnable affine weight and bias.
"""

from __future__ import annotations


def input_dims(input_shape: tuple[int, ...]) -> int:
    """1 for (C, L) inputs, 2 for (C, H, W); ValueError for any other shape."""
    dims = len(input_shape) - 1
    if dims not in (1, 2):
        raise ValueError(f"supernets take 1-D (C, L) or 2-D (C, H, W) inputs, not {input_shape}")
    return dims
