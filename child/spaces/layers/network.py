"""The network of a layers-space architecture: its layers in order, then a linear head.

For 1-D (N, C, L) and 2-D (N, C, H, W) inputs. conv = Conv (same padding, the layer's stride,
no bias) → BatchNorm → activation; pool = MaxPool (no padding); the first fc flattens, and every
fc is Linear → activation; dropout = nn.Dropout. The head is global average pooling then a
Linear while the data is still spatial, or a Linear on the flat features once an fc has run.

Shapes are tracked while building, so the flatten size is known and impossible layers are
repaired before they run. **Repair rule** (`fit_window`), per spatial dimension: when a pool
window is larger than the current size, or its stride would shrink the size below 1, the
window is clipped to the current size and the stride becomes 1, so that dimension becomes 1.
Convs use same padding (padding k // 2, odd k): their output ceil(size / stride) is never below
1, so they need no repair; a stride-2 conv on a size-1 map keeps size 1.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from core.architecture import Architecture

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}


def fit_window(size: int, window: int, stride: int) -> tuple[int, int, int]:
    """The repair rule: (window, stride, output size) of an unpadded window on `size` elements."""
    # window > size is exactly when (size - window) // stride + 1 would be below 1.
    if window > size:
        return size, 1, 1
    return window, stride, (size - window) // stride + 1


def _activation(name: object) -> nn.Module:
    if name not in ACTIVATION_MODULES:
        raise ValueError(f"unknown activation {name!r}: expected one of {list(ACTIVATION_MODULES)}")
    return ACTIVATION_MODULES[str(name)]()


class LayersNet(nn.Module):
    """The layers of `arch` in order, then global average pooling (if spatial) and a Linear.

    `features[i]` is layer i (the first fc includes the flatten) and `shapes[i]` its output
    shape without the batch dimension: (C, *size) while spatial, (features,) once flat.
    """

    def __init__(self, arch: Architecture, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        dims = len(input_shape) - 1
        if dims not in (1, 2):
            raise ValueError(f"layers networks take 1-D or 2-D inputs, not shape {input_shape}")
        conv_cls = {1: nn.Conv1d, 2: nn.Conv2d}[dims]
        bn_cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims]
        pool_cls = {1: nn.MaxPool1d, 2: nn.MaxPool2d}[dims]
        channels, size = int(input_shape[0]), tuple(int(n) for n in input_shape[1:])
        features: int | None = None  # set by the first fc, which flattens
        modules: list[nn.Module] = []
        self.shapes: list[tuple[int, ...]] = []
        for i, layer in enumerate(arch.layers):
            p = dict(layer.params)
            if layer.op in ("conv", "pool") and features is not None:
                raise ValueError(f"layer {i} ({layer}) is spatial but follows an fc layer")
            if layer.op == "conv":
                kernel, stride, filters = int(p["kernel"]), int(p["stride"]), int(p["filters"])
                pad = kernel // 2  # same padding for odd kernels
                conv = conv_cls(channels, filters, kernel, stride=stride, padding=pad, bias=False)
                modules.append(nn.Sequential(conv, bn_cls(filters), _activation(p["activation"])))
                size = tuple((n + 2 * pad - kernel) // stride + 1 for n in size)
                channels = filters
            elif layer.op == "pool":
                windows, strides, size = zip(
                    *(fit_window(n, int(p["size"]), int(p["stride"])) for n in size), strict=True
                )
                modules.append(pool_cls(kernel_size=windows, stride=strides))
            elif layer.op == "fc":
                flatten: list[nn.Module] = []
                if features is None:
                    flatten, features = [nn.Flatten()], channels * math.prod(size)
                units = int(p["units"])
                linear = nn.Linear(features, units)
                modules.append(nn.Sequential(*flatten, linear, _activation(p["activation"])))
                features = units
            elif layer.op == "dropout":
                modules.append(nn.Dropout(float(p["rate"])))
            else:
                raise ValueError(f"layer {i} has unknown type {layer.op!r}")
            self.shapes.append((features,) if features is not None else (channels, *size))
        self.features = nn.Sequential(*modules)
        self.flat = features is not None
        self.classifier = nn.Linear(features if features is not None else channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes)."""
        x = self.features(x)
        if not self.flat:
            x = x.flatten(2).mean(dim=2)  # global average pooling
        return self.classifier(x)
