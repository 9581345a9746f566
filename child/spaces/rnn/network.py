"""A recurrent network around a searched cell, in the manner of ENAS's RNN cell (Pham et al. 2018).

At each time step, node 0 reads the input and the previous hidden state; node i > 0 reads one
earlier node `prev[i]`. Each node is a highway unit, h = c · act(W h_in) + (1 − c) · h_in with
the gate c = sigmoid(W_c h_in), which keeps deep cells trainable. The cell's output, the next
hidden state, is the mean of its loose ends (the nodes no later node reads). A sequence is read
step by step and its last hidden state is classified. 1-D data (channels, length) is a sequence
of `length` steps of `channels` features; images (channels, height, width) are read row by row.

`RNNCellNet` is one child with its own weights; the parts it is made of (`gated_layer`,
`highway`, `unroll`) also build the space's weight-sharing supernet (supernet.py beside this).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from core.architecture import Architecture

if TYPE_CHECKING:  # the space module builds this supernet (its `SpaceDef.supernet`)
    pass

Activation = Callable[[torch.Tensor], torch.Tensor]
ACTIVATIONS: dict[str, Activation] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
}
# Gates start mostly carrying: with gates at 0.5 a cell of k nodes keeps 0.5**k of its state
# per step, and a 40-step sequence forgets its start (measured: chance accuracy on MNIST-1D
# after 10 epochs; with -2, a 2-node cell reaches 94% validation accuracy in 40 Adam epochs).
GATE_BIAS = -2.0


def loose_ends(prevs: Sequence[int | None]) -> list[int]:
    """The nodes that no later node reads: the ones the cell's output averages."""
    read = {p for p in prevs if p is not None}
    return [i for i in range(len(prevs)) if i not in read]


def cell_of(arch: Architecture) -> tuple[list[str], list[int | None]]:
    """Each node's activation and the node it reads (None for node 0); ValueError if malformed."""
    if arch.space != "rnn" or not arch.layers:
        raise ValueError(f"{arch} is not an rnn cell")
    acts: list[str] = []
    prevs: list[int | None] = []
    for i, layer in enumerate(arch.layers):
        expected = 0 if i == 0 else 1
        if len(layer.inputs) != expected or layer.params:
            raise ValueError(f"node {i} ({layer}) must read {expected} node(s), without params")
        if i and not 0 <= layer.inputs[0] < i:
            raise ValueError(f"node {i} ({layer}) must read an earlier node")
        if layer.op not in ACTIVATIONS:
            raise ValueError(f"node {i}: unknown activation {layer.op!r}: {list(ACTIVATIONS)}")
        acts.append(layer.op)
        prevs.append(layer.inputs[0] if i else None)
    return acts, prevs


def sequence_features(input_shape: tuple[int, ...]) -> int:
    """Features per time step: channels for 1-D data, channels × width for images."""
    if len(input_shape) not in (2, 3):
        raise ValueError(f"the rnn space reads 1-D or 2-D data, not input shape {input_shape}")
    return input_shape[0] * (input_shape[2] if len(input_shape) == 3 else 1)


def time_steps(x: torch.Tensor) -> torch.Tensor:
    """(N, C, L) → (L, N, C); (N, C, H, W) → (H, N, C·W): one slice per time step."""
    if x.ndim == 3:
        return x.permute(2, 0, 1)
    return x.permute(2, 0, 1, 3).flatten(2)


def gated_layer(features: int, hidden: int) -> nn.Linear:
    """One node's weights: a value and a gate for each of `hidden` units."""
    linear = nn.Linear(features, 2 * hidden)
    nn.init.constant_(linear.bias[hidden:], GATE_BIAS)
    return linear


def highway(
    linear: nn.Module, act: Activation, source: torch.Tensor, carry: torch.Tensor
) -> torch.Tensor:
    """The gated mix c · act(value) + (1 − c) · carry, value and gate c both from `source`."""
    value, gate = linear(source).chunk(2, dim=1)
    gate = torch.sigmoid(gate)
    return gate * act(value) + (1 - gate) * carry


def unroll(
    x: torch.Tensor,
    hidden: int,
    acts: Sequence[str],
    prevs: Sequence[int | None],
    first: nn.Module,
    node_layer: Callable[[int, int], nn.Module],
) -> torch.Tensor:
    """The last hidden state after running the cell over every time step of `x`.

    `node_layer(i, j)` is the layer of node i > 0 reading node j.
    """
    ends = loose_ends(prevs)
    steps = time_steps(x)
    h = steps.new_zeros(steps.shape[1], hidden)
    for x_t in steps:
        states = [highway(first, ACTIVATIONS[acts[0]], torch.cat([x_t, h], 1), h)]
        for i in range(1, len(acts)):
            j = prevs[i]
            assert j is not None  # cell_of gives every node after the first an input
            states.append(highway(node_layer(i, j), ACTIVATIONS[acts[i]], states[j], states[j]))
        h = torch.stack([states[i] for i in ends]).mean(dim=0)
    return h


class RNNCellNet(nn.Module):
    """A searched recurrent cell unrolled over a sequence, then a linear classifier."""

    def __init__(
        self,
        activations: Sequence[str],
        prevs: Sequence[int | None],
        input_shape: tuple[int, ...],
        num_classes: int,
        hidden: int,
    ) -> None:
        super().__init__()
        unknown = [a for a in activations if a not in ACTIVATIONS]
        if unknown:
            raise ValueError(f"unknown activation(s) {unknown}: expected {list(ACTIVATIONS)}")
        self.activations = list(activations)
        self.prevs = list(prevs)
        self.hidden = hidden
        # Node 0 reads the input and the previous state together; each later node one node.
        self.first = gated_layer(sequence_features(input_shape) + hidden, hidden)
        self.nodes = nn.ModuleList(gated_layer(hidden, hidden) for _ in activations[1:])
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of sequences (or images, row by row)."""
        h = unroll(x, self.hidden, self.activations, self.prevs, self.first, self._node_layer)
        return self.head(h)

    def _node_layer(self, i: int, j: int) -> nn.Module:
        return self.nodes[i - 1]
