"""The network of a macro-space architecture: stem, searched layers with skips, pooled head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from child.spaces.macro.ops import conv_bn_relu, make_op, projection
from core.architecture import Architecture


class MacroNet(nn.Module):
    """Stem conv, then each layer's op on the previous output plus its skip inputs, summed.

    Skip inputs are projected to the layer's width when needed and average-pooled when a fixed
    reduction (`pool_after`) lies between them. The head is global average pooling and a linear
    classifier.
    """

    def __init__(
        self,
        arch: Architecture,
        input_shape: tuple[int, ...],
        num_classes: int,
        stem_width: int,
        pool_after: tuple[int, ...],
        sum_norm: bool = False,
    ) -> None:
        super().__init__()
        self.dims = len(input_shape) - 1
        self.pool_after = frozenset(pool_after)
        self.stem = conv_bn_relu(input_shape[0], stem_width, self.dims, kernel=3)
        self.layers = nn.ModuleList()
        self.skip_projections = nn.ModuleList()
        self.sum_norms = nn.ModuleDict()  # layer index → BatchNorm after its skips are added
        batch_norm = nn.BatchNorm1d if self.dims == 1 else nn.BatchNorm2d
        self.inputs = [layer.inputs for layer in arch.layers]
        widths: list[int] = []
        c_in = stem_width
        for layer in arch.layers:
            width = int(layer.param("width", c_in))
            self.layers.append(make_op(layer.op, c_in, width, self.dims))
            self.skip_projections.append(
                nn.ModuleDict(
                    {str(j): projection(widths[j], width, self.dims) for j in layer.inputs}
                )
            )
            if sum_norm and layer.inputs:
                self.sum_norms[str(len(widths))] = batch_norm(width)
            widths.append(width)
            c_in = width
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes)."""
        x = self.stem(x)
        outputs: list[torch.Tensor] = []
        for i, op in enumerate(self.layers):
            y = op(x)
            for j in self.inputs[i]:
                y = y + self.skip_projections[i][str(j)](
                    match_size(outputs[j], j, i, self.pool_after)
                )
            if str(i) in self.sum_norms:
                y = self.sum_norms[str(i)](y)
            if i in self.pool_after:
                y = (F.max_pool1d if self.dims == 1 else F.max_pool2d)(y, 2, ceil_mode=True)
            outputs.append(y)
            x = y
        return self.classifier(x.flatten(2).mean(dim=2))


def match_size(
    x: torch.Tensor, source: int, target: int, pool_after: frozenset[int]
) -> torch.Tensor:
    """Layer `source`'s output as a skip into layer `target`: pooled past fixed reductions."""
    factor = 2 ** sum(1 for k in range(source + 1, target) if k in pool_after)
    if factor == 1:
        return x
    pool = F.avg_pool1d if x.dim() == 3 else F.avg_pool2d
    return pool(x, factor, ceil_mode=True)
