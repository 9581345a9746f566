"""The NAS-Bench-201 network (Dong & Yang, ICLR 2020) for 1-D (N, C, L) or 2-D (N, C, H, W) data.

Stem 3×3 conv + BN with C channels; 3 stages of N cells with C, 2C and 4C channels; between
stages a residual reduction block (a ResNet basic block with stride 2); then BN-ReLU, global
average pooling and a linear classifier. Cell ops are ReLU-Conv-BN convs, 3-wide average
pooling, identity and zero. With C=16, N=5 on 3-channel inputs and 10 classes the parameter
counts match the benchmark's CIFAR-10 range: 73,306 (all "none") to 1,531,546 (all 3×3 convs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# (target, source) of each edge, in the benchmark's order: node by node, sources ascending.
NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_NODES = 4


def edge_name(target: int, source: int) -> str:
    """The decision name of edge source→target, e.g. "edge(1<-0)"."""
    return f"edge({target}<-{source})"


_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
_AVG = {1: nn.AvgPool1d, 2: nn.AvgPool2d}


class Zero(nn.Module):
    """The "none" op: zeros shaped like the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` times 0, as the reference does (keeps the graph, device and dtype)."""
        return x.mul(0.0)


def relu_conv_bn(c_in: int, c_out: int, dims: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """ReLU → Conv (same padding, no bias) → BatchNorm, the benchmark's conv op."""
    conv = _CONV[dims](c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
    # Not in place: a node feeds several edges, and skip_connect passes the same tensor on.
    return nn.Sequential(nn.ReLU(inplace=False), conv, _BN[dims](c_out))


def nb201_op(name: str, channels: int, dims: int) -> nn.Module:
    """Cell op `name` on `channels` channels, stride 1; raises KeyError for an unknown op."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return relu_conv_bn(channels, channels, dims, 1)
    if name == "nor_conv_3x3":
        return relu_conv_bn(channels, channels, dims, 3)
    if name == "avg_pool_3x3":
        return _AVG[dims](3, stride=1, padding=1, count_include_pad=False)
    raise KeyError(f"unknown nb201 op {name!r}")


class NB201Cell(nn.Module):
    """One cell: node j = Σ_{i<j} op_{i→j}(node i); node 0 is the input, node 3 the output."""

    def __init__(self, ops: tuple[str, ...], channels: int, dims: int) -> None:
        super().__init__()
        self.edges = NB201_EDGES
        self.ops = nn.ModuleList(nb201_op(op, channels, dims) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The output node, same shape as `x`."""
        nodes = [x]
        for target in range(1, NUM_NODES):
            terms = [
                op(nodes[source])
                for (t, source), op in zip(self.edges, self.ops, strict=True)
                if t == target
            ]
            nodes.append(sum(terms[1:], terms[0]))
        return nodes[-1]


class ResidualReduction(nn.Module):
    """ResNet basic block with stride 2, the benchmark's reduction between stages.

    ReLU-conv-BN (stride 2) then ReLU-conv-BN, plus a shortcut of 2-wide average pooling
    (stride 2) and a 1×1 conv.
    """

    def __init__(self, c_in: int, c_out: int, dims: int) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(c_in, c_out, dims, 3, stride=2)
        self.conv_b = relu_conv_bn(c_out, c_out, dims, 3)
        # ceil_mode matches the stride-2 conv's ceil(L/2) on odd sizes; even sizes are unchanged.
        self.shortcut = nn.Sequential(
            _AVG[dims](2, stride=2, ceil_mode=True),
            _CONV[dims](c_in, c_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Half the spatial size, `c_out` channels."""
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


class NB201Net(nn.Module):
    """The NAS-Bench-201 macro skeleton around one searched cell, repeated 3 × `cells_per_stage`.

    `ops` are the cell's six edge ops in `NB201_EDGES` order.
    """

    def __init__(
        self,
        ops: Sequence[str],
        input_shape: tuple[int, ...],
        num_classes: int,
        channels: int,
        cells_per_stage: int,
    ) -> None:
        super().__init__()
        dims = len(input_shape) - 1
        if dims not in (1, 2):
            raise ValueError(f"nb201 networks take 1-D or 2-D inputs, not {dims}-D {input_shape}")
        if channels < 1 or cells_per_stage < 1:
            raise ValueError(
                f"nb201 needs channels >= 1 and cells_per_stage >= 1, got {channels} and "
                f"{cells_per_stage}"
            )
        if len(ops) != len(NB201_EDGES):
            raise ValueError(f"an nb201 cell has {len(NB201_EDGES)} edge ops, got {len(ops)}")
        ops = tuple(ops)
        self.stem = nn.Sequential(
            _CONV[dims](input_shape[0], channels, 3, padding=1, bias=False), _BN[dims](channels)
        )
        blocks: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                blocks.append(ResidualReduction(c, 2 * c, dims))
                c *= 2
            blocks.extend(NB201Cell(ops, c, dims) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*blocks)
        self.lastact = nn.Sequential(_BN[dims](c), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes)."""
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(x.flatten(2).mean(dim=2))
