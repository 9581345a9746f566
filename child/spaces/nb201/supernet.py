"""NAS-Bench-201's weight-sharing supernet: one `ModuleDict` of ops per (cell, edge).

`NB201Supernet` is the benchmark's skeleton (stem, three stages of cells with residual
reductions between them, pooled head) with every op of the space on every edge of every cell. A
child runs one op per edge, the same in every cell, and `path_parameters(arch)` lists exactly
the weights it uses. Its BatchNorms keep no running statistics (`child.spaces.shared_weights`).
`forward_mixed(x, weights)` sums each edge's ops, weighted per edge (DARTS).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from child.spaces.nb201.network import (
    NB201_EDGES,
    NUM_NODES,
    ResidualReduction,
    edge_name,
    nb201_op,
)
from child.spaces.shared_weights import input_dims
from core.architecture import Architecture
from core.space import SearchSpace

# An edge's output in a cell: (the edge's ops, the edge's index, its source node) → tensor.
EdgeOutput = Callable[[nn.ModuleDict, int, torch.Tensor], torch.Tensor]


def _batch_stats_only(module: nn.Module) -> nn.Module:
    """`module` with every BatchNorm replaced by one without running statistics."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d):
            fresh = type(child)(child.num_features, eps=child.eps, track_running_stats=False)
            setattr(module, name, fresh)
        else:
            _batch_stats_only(child)
    return module


class NB201Supernet(nn.Module):
    """The NAS-Bench-201 skeleton with every op on every edge of every cell; a child picks one."""

    def __init__(
        self,
        space: SearchSpace,
        input_shape: tuple[int, ...],
        num_classes: int,
        *,
        ops: Sequence[str],
        channels: int,
        cells_per_stage: int,
    ) -> None:
        """Every op of `ops` (the space's, in its token order) on every edge of every cell.

        `space` checks the architectures a child runs (`space.encode`); `channels` and
        `cells_per_stage` are the network settings of its config, which it has checked.
        """
        super().__init__()
        self.space = space
        self.ops = tuple(ops)
        dims = input_dims(tuple(input_shape))
        conv = {1: nn.Conv1d, 2: nn.Conv2d}[dims]
        bn = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims]
        c = channels
        self.stem = nn.Sequential(
            conv(input_shape[0], c, 3, padding=1, bias=False), bn(c, track_running_stats=False)
        )
        self.reductions = nn.ModuleList()
        self.stages = nn.ModuleList()
        for stage in range(3):
            if stage > 0:
                self.reductions.append(_batch_stats_only(ResidualReduction(c, 2 * c, dims)))
                c *= 2
            # One ModuleDict of all ops per (cell, edge): cells share nothing with each other.
            self.stages.append(
                nn.ModuleList(
                    nn.ModuleList(
                        nn.ModuleDict(
                            {op: _batch_stats_only(nb201_op(op, c, dims)) for op in self.ops}
                        )
                        for _ in NB201_EDGES
                    )
                    for _ in range(cells_per_stage)
                )
            )
        self.lastact = nn.Sequential(bn(c, track_running_stats=False), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(c, num_classes)

    def _ops(self, arch: Architecture) -> tuple[str, ...]:
        """The six edge ops of `arch`; raises ValueError if it is not an architecture of ours."""
        # encode raises ValueError for another space, a malformed cell or an op not in the space.
        return tuple(self.ops[token] for token in self.space.encode(arch))

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        """Logits (N, num_classes) of child `arch`, using only its ops on every edge."""
        ops = self._ops(arch)
        return self._run_cells(x, lambda edge, e, h: edge[ops[e]](h))

    def _run_cells(self, x: torch.Tensor, edge_output: EdgeOutput) -> torch.Tensor:
        """Logits with `edge_output(ops of edge e, e, source node)` as every edge's output."""
        x = self.stem(x)
        for stage, cells in enumerate(self.stages):
            if stage > 0:
                x = self.reductions[stage - 1](x)
            for edges in cells:
                nodes = [x]
                for target in range(1, NUM_NODES):
                    terms = [
                        edge_output(edges[e], e, nodes[source])
                        for e, (t, source) in enumerate(NB201_EDGES)
                        if t == target
                    ]
                    nodes.append(sum(terms[1:], terms[0]))
                x = nodes[-1]
        return self.classifier(self.lastact(x).flatten(2).mean(dim=2))

    def path_parameters(self, arch: Architecture) -> list[nn.Parameter]:
        """Exactly the parameters that `forward(x, arch)` uses, in forward order."""
        ops = self._ops(arch)
        modules: list[nn.Module] = [self.stem]
        for stage, cells in enumerate(self.stages):
            if stage > 0:
                modules.append(self.reductions[stage - 1])
            modules += [edges[e][op] for edges in cells for e, op in enumerate(ops)]
        modules += [self.lastact, self.classifier]
        return [p for m in modules for p in m.parameters()]

    def forward_mixed(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits of DARTS's continuous relaxation: each edge sums all its ops, weighted.

        `weights[edge_name(t, s)]` holds one weight per op of the space for edge s→t; as in
        DARTS, every cell uses the same weights (they are per edge, not per cell).
        """
        ops = self.ops
        mixes = [weights[edge_name(t, s)] for t, s in NB201_EDGES]

        def mixed(edge: nn.ModuleDict, e: int, h: torch.Tensor) -> torch.Tensor:
            terms = [w * edge[op](h) for w, op in zip(mixes[e], ops, strict=True)]
            return sum(terms[1:], terms[0])

        return self._run_cells(x, mixed)
