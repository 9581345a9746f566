"""A recurrent-cell space after ENAS's RNN cell: each node picks an input and an activation.

A cell has `nodes` nodes. Node 0 reads the time step's input and the previous hidden state;
node i > 0 reads one earlier node (`node{i}.prev`, masked to 0..i−1). Every node picks an
activation (`node{i}.act`). The cell's output averages its loose ends (`child.spaces.rnn.network`).
Architectures print as `rnn[tanh | relu<-0 | sigmoid<-1 | identity<-0]`: node i's activation,
then the node it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib.figure import Figure
from torch import nn

from child.spaces.registry import SpaceDef
from child.spaces.rnn.diagram import recurrent_cell_figure
from child.spaces.rnn.network import ACTIVATIONS, RNNCellNet, cell_of, loose_ends
from child.spaces.rnn.supernet import RNNSupernet
from core.architecture import Architecture, Layer
from core.errors import require
from core.space import Choice, Decision, StaticSearchSpace


@dataclass
class RNNSpaceConfig:
    """`search_space=rnn`: the cell's size, its activations and the hidden state's width."""

    name: str = "rnn"
    nodes: int = 4  # nodes per cell (ENAS: 12 on Penn Treebank)
    activations: list[str] = field(default_factory=lambda: list(ACTIVATIONS))
    hidden: int = 64  # width of the hidden state and of every node


@dataclass(frozen=True)
class RNNSpace(StaticSearchSpace):
    """Node 0 picks an activation; node i > 0 picks an earlier node, then an activation."""

    nodes: int = 4
    activations: tuple[str, ...] = tuple(ACTIVATIONS)
    name: str = "rnn"

    @classmethod
    def from_config(cls, cfg: RNNSpaceConfig) -> RNNSpace:
        """The space of a `search_space=rnn` config, its settings checked."""
        require(cfg.nodes >= 1, "search_space.nodes", cfg.nodes, "an int >= 1")
        require(cfg.hidden >= 1, "search_space.hidden", cfg.hidden, "an int >= 1")
        require(
            len(cfg.activations) > 0 and len(set(cfg.activations)) == len(cfg.activations),
            "search_space.activations",
            list(cfg.activations),
            "a non-empty list of distinct activations",
        )
        for act in cfg.activations:
            require(
                act in ACTIVATIONS, "search_space.activations", act, f"one of {list(ACTIVATIONS)}"
            )
        return cls(nodes=cfg.nodes, activations=tuple(cfg.activations))

    def program(self) -> tuple[Decision, ...]:
        """Node 0's activation; then, per later node, the node it reads and its activation."""
        width = self.heads()["prev"]
        decisions: list[Decision] = []
        for i in range(self.nodes):
            if i > 0:
                allowed = tuple(j < i for j in range(width))
                decisions.append(Choice(f"node{i}.prev", "prev", tuple(range(width)), allowed))
            decisions.append(Choice(f"node{i}.act", "act", self.activations, ends_layer=True))
        return tuple(decisions)

    def heads(self) -> dict[str, int]:
        """One head for inputs (masked per node), one for activations."""
        # One option per node that a later node could read: nodes 0 .. nodes-2.
        return {"prev": max(1, self.nodes - 1), "act": len(self.activations)}

    def decode(self, tokens: Sequence[int]) -> Architecture:
        """Token list → one `Layer(activation, inputs=(prev,))` per node (node 0: no input)."""
        answers = [answer[0] for _, answer in self.walk(tokens)]
        layers = [Layer(self.activations[answers[0]])]
        for i in range(1, self.nodes):
            prev, act = answers[2 * i - 1], answers[2 * i]
            layers.append(Layer(self.activations[act], inputs=(prev,)))
        return Architecture(self.name, tuple(layers))

    def encode(self, arch: Architecture) -> list[int]:
        """`Architecture` → token list; raises ValueError if it is not a cell of this space."""
        acts, prevs = cell_of(arch)
        if len(acts) != self.nodes:
            raise ValueError(f"{arch} has {len(acts)} nodes, this space {self.nodes}")
        tokens = []
        for i, (act, prev) in enumerate(zip(acts, prevs, strict=True)):
            if act not in self.activations:
                raise ValueError(f"node {i}: {act!r} is not among {list(self.activations)}")
            if i > 0:
                tokens.append(prev)
            tokens.append(self.activations.index(act))
        self.walk(tokens)  # refuses a node that reads a later one
        return tokens


def build_rnn_network(
    arch: Architecture, input_shape: tuple[int, ...], num_classes: int, cfg: RNNSpaceConfig
) -> nn.Module:
    """The cell of `arch` unrolled over the input sequence, then a classifier."""
    acts, prevs = cell_of(arch)
    return RNNCellNet(acts, prevs, input_shape, num_classes, cfg.hidden)


def build_rnn_supernet(
    cfg: RNNSpaceConfig, input_shape: tuple[int, ...], num_classes: int
) -> RNNSupernet:
    """ENAS's shared cell for `cfg` (evaluator=shared): weights per (node, earlier node)."""
    space = RNNSpace.from_config(cfg)  # checks cfg, the hidden width included
    return RNNSupernet(
        space,
        input_shape,
        num_classes,
        nodes=space.nodes,
        activations=space.activations,
        hidden=cfg.hidden,
    )


def draw_rnn(arch: Architecture) -> Figure:
    """The cell: its nodes with their activations, what each reads, the averaged loose ends."""
    acts, prevs = cell_of(arch)
    return recurrent_cell_figure(str(arch), acts, prevs, loose_ends(prevs))


SPACE = SpaceDef(
    name="rnn",
    config=RNNSpaceConfig,
    space=RNNSpace.from_config,
    network=build_rnn_network,
    draw=draw_rnn,
    supernet=build_rnn_supernet,
)
