"""The rnn space's weight-sharing supernet, ENAS's shared cell: weights per (node, earlier node).

A child whose node i reads node j uses the highway unit of (i, j), whatever its activation
(activations have no parameters); `path_parameters(arch)` lists exactly those. DARTS's
`forward_mixed(x, weights)` mixes, per node, every earlier node it may read and every activation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from child.spaces.rnn.network import (
    ACTIVATIONS,
    Activation,
    cell_of,
    gated_layer,
    highway,
    sequence_features,
    time_steps,
    unroll,
)
from core.architecture import Architecture
from core.space import SearchSpace


class RNNSupernet(nn.Module):
    """ENAS's shared recurrent cell: weights per (node, earlier node); a child uses some."""

    def __init__(
        self,
        space: SearchSpace,
        input_shape: tuple[int, ...],
        num_classes: int,
        *,
        nodes: int,
        activations: Sequence[str],
        hidden: int,
    ) -> None:
        """The shared cell of `nodes` nodes and `hidden` units, then a classifier.

        `space` checks the architectures a child runs (`space.encode`); `activations` are its
        own, in its token order, which orders a mixture's activation weights.
        """
        super().__init__()
        self.space = space
        self.activations = tuple(activations)
        self.num_nodes = nodes
        self.hidden = hidden
        self.first = gated_layer(sequence_features(input_shape) + hidden, hidden)
        # edges[i - 1][j]: node i reading node j, for every j < i.
        self.edges = nn.ModuleList(
            nn.ModuleList(gated_layer(hidden, hidden) for _ in range(i)) for i in range(1, nodes)
        )
        self.head = nn.Linear(hidden, num_classes)

    def _cell(self, arch: Architecture) -> tuple[list[str], list[int | None]]:
        """Each node's activation and input; ValueError if `arch` is not a cell of the space."""
        self.space.encode(arch)  # refuses another node count or an activation not searched
        return cell_of(arch)

    def _node_layer(self, i: int, j: int) -> nn.Module:
        return self.edges[i - 1][j]

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        """Logits (N, num_classes) of child `arch`, using only its edges' weights."""
        acts, prevs = self._cell(arch)
        return self.head(unroll(x, self.hidden, acts, prevs, self.first, self._node_layer))

    def path_parameters(self, arch: Architecture) -> list[nn.Parameter]:
        """Exactly the parameters that `forward(x, arch)` uses."""
        _, prevs = self._cell(arch)
        modules = [self.first, *(self._node_layer(i, j) for i, j in enumerate(prevs) if i)]
        return [p for m in [*modules, self.head] for p in m.parameters()]

    def forward_mixed(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits of DARTS's relaxation of the cell: every input and activation, weighted.

        `weights["node{i}.act"]` holds one weight per activation (summing to 1) and
        `weights["node{i}.prev"]` one per earlier node (zero for later ones). Node i mixes its
        highway units over the nodes it may read and, inside each, its activations. Node k's
        share of the output is the chance that no later node reads it, prod over i > k of
        (1 - weight of i reading k), normalised: for one-hot weights this is exactly the mean of
        the loose ends, so the relaxation of a one-hot mixture is the child itself.
        """
        steps = time_steps(x)
        h = steps.new_zeros(steps.shape[1], self.hidden)
        acts = [weights[f"node{i}.act"] for i in range(self.num_nodes)]
        prevs = [weights[f"node{i}.prev"][:i] for i in range(1, self.num_nodes)]
        loose = torch.stack(
            [
                torch.stack([1 - prevs[i - 1][k] for i in range(k + 1, self.num_nodes)]).prod()
                if k + 1 < self.num_nodes
                else torch.ones((), device=h.device)
                for k in range(self.num_nodes)
            ]
        )
        share = loose / loose.sum()
        mixes = [self._mixed_activation(weights) for weights in acts]
        for x_t in steps:
            states = [highway(self.first, mixes[0], torch.cat([x_t, h], 1), h)]
            for i in range(1, self.num_nodes):
                terms = [
                    w * highway(self._node_layer(i, j), mixes[i], states[j], states[j])
                    for j, w in enumerate(prevs[i - 1])
                ]
                states.append(torch.stack(terms).sum(dim=0))
            h = torch.einsum("k,knd->nd", share, torch.stack(states))
        return self.head(h)

    def _mixed_activation(self, weights: torch.Tensor) -> Activation:
        """The weighted sum of the space's activations, as one activation."""
        acts = [ACTIVATIONS[a] for a in self.activations]
        return lambda value: sum(w * act(value) for w, act in zip(weights, acts, strict=True))
