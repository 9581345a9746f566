"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020): one op on each of a cell's 6 edges.

A cell has 4 nodes; node j sums op(i→j)(node i) over i < j, and node 3 is the output. Each edge
picks one op, so the default space has 5⁶ = 15,625 cells, the whole of the benchmark.
Architectures print and parse in the benchmark's notation, e.g.
`|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure
from torch import nn

from child.spaces.nb201.diagram import cell_figure
from child.spaces.nb201.network import NB201_EDGES, NUM_NODES, NB201Net, edge_name
from child.spaces.nb201.supernet import NB201Supernet
from child.spaces.registry import SpaceDef
from core.architecture import Architecture, Layer
from core.errors import require
from core.space import Choice, Decision, StaticSearchSpace

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

# All 15,625 cells with their accuracies (provenance in tables/README.md).
TABLE = Path(__file__).resolve().parent / "tables" / "nb201.csv"
_NODE_RE = re.compile(r"\|(?:[^|~+]+~\d+\|)+")
_EDGE_RE = re.compile(r"([^|~+]+)~(\d+)")


@dataclass
class NB201SpaceConfig:
    """`search_space=nb201`: the ops an edge may pick, and the size of the network around it."""

    name: str = "nb201"
    ops: list[str] = field(default_factory=lambda: list(NB201_OPS))
    channels: int = 16  # C: channels of the first stage (the benchmark's 16)
    cells_per_stage: int = 5  # N: cells per stage (the benchmark's 5); 1 trains fast on a CPU


@dataclass(frozen=True)
class NB201Space(StaticSearchSpace):
    """The NAS-Bench-201 cell: 6 edges, each choosing an op from `ops` (one shared "op" head)."""

    ops: tuple[str, ...] = NB201_OPS
    name: str = "nb201"

    def __post_init__(self) -> None:
        require(len(self.ops) > 0, "search_space.ops", list(self.ops), "a non-empty list of ops")
        for op in self.ops:
            require(op in NB201_OPS, "search_space.ops", op, f"one of {', '.join(NB201_OPS)}")
        require(
            len(set(self.ops)) == len(self.ops),
            "search_space.ops",
            list(self.ops),
            "no op listed twice",
        )

    @classmethod
    def from_config(cls, cfg: NB201SpaceConfig) -> NB201Space:
        """The space of a `search_space=nb201` config, whose network settings are checked too."""
        require(cfg.channels >= 1, "search_space.channels", cfg.channels, "an int >= 1")
        require(
            cfg.cells_per_stage >= 1, "search_space.cells_per_stage", cfg.cells_per_stage, ">= 1"
        )
        return cls(ops=tuple(cfg.ops))

    def program(self) -> tuple[Decision, ...]:
        """One op per edge, in the benchmark's edge order; the edges into a node form a group."""
        # Each edge is one Layer of the Architecture, hence ends_layer on every decision. The
        # groups give the reference code's mutation (R_EA.py): a node, then one of its edges.
        return tuple(
            Choice(edge_name(t, s), "op", self.ops, ends_layer=True, group=f"node{t}")
            for t, s in NB201_EDGES
        )

    @property
    def size(self) -> int:
        """Number of distinct architectures: len(ops) ** 6."""
        return len(self.ops) ** len(NB201_EDGES)

    def heads(self) -> dict[str, int]:
        """One op head shared by all edges."""
        return {"op": len(self.ops)}

    def decode(self, tokens: Sequence[int]) -> Architecture:
        """Token list → `Architecture` with one `Layer(op, inputs=(source,))` per edge."""
        answers = [answer[0] for _, answer in self.walk(tokens)]
        return make_arch(self.ops[t] for t in answers)

    def encode(self, arch: Architecture) -> list[int]:
        """`Architecture` → token list; raises ValueError if it does not belong to this space."""
        ops = edge_ops(arch)
        for (target, source), op in zip(NB201_EDGES, ops, strict=True):
            if op not in self.ops:
                raise ValueError(
                    f"{edge_name(target, source)}={op!r} is not among this space's ops "
                    f"({', '.join(self.ops)})"
                )
        return [self.ops.index(op) for op in ops]

    def all_architectures(self) -> Iterator[Architecture]:
        """Every architecture of the space, in token order (15,625 for the default ops)."""
        for ops in itertools.product(self.ops, repeat=len(NB201_EDGES)):
            yield make_arch(ops)


def make_arch(ops: Sequence[str] | Iterator[str]) -> Architecture:
    """The nb201 `Architecture` with these six edge ops, in the benchmark's edge order."""
    ops = tuple(ops)
    if len(ops) != len(NB201_EDGES):
        raise ValueError(f"an nb201 cell has {len(NB201_EDGES)} edges, got {len(ops)} ops")
    layers = tuple(
        Layer(op=op, inputs=(source,)) for (_, source), op in zip(NB201_EDGES, ops, strict=True)
    )
    return Architecture(space="nb201", layers=layers)


def edge_ops(arch: Architecture) -> tuple[str, ...]:
    """The six edge ops of an nb201 architecture; raises ValueError if its layout is not one."""
    if arch.space != "nb201" or len(arch.layers) != len(NB201_EDGES):
        raise ValueError(f"{arch} is not a {len(NB201_EDGES)}-edge nb201 architecture")
    for (target, source), layer in zip(NB201_EDGES, arch.layers, strict=True):
        if layer.inputs != (source,) or layer.params:
            raise ValueError(
                f"{edge_name(target, source)} ({layer}) must have inputs ({source},) and no params"
            )
    return tuple(layer.op for layer in arch.layers)


def to_nb201_string(arch: Architecture) -> str:
    """The benchmark's notation: `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`."""
    ops = edge_ops(arch)
    nodes: list[str] = []
    pos = 0
    for target in range(1, NUM_NODES):
        edges = ops[pos : pos + target]
        nodes.append("|" + "|".join(f"{op}~{src}" for src, op in enumerate(edges)) + "|")
        pos += target
    return "+".join(nodes)


def parse_nb201_string(text: str) -> Architecture:
    """The architecture written in the benchmark's notation; raises ValueError if malformed.

    Strict: exactly 3 nodes separated by "+", node j listing sources 0..j-1 in order, each op
    one of `NB201_OPS`, and no whitespace or other characters.
    """
    if not isinstance(text, str):
        raise ValueError(f"an nb201 string must be a str, not {type(text).__name__}")
    nodes = text.split("+")
    if len(nodes) != NUM_NODES - 1:
        raise ValueError(
            f"nb201 string {text!r} has {len(nodes)} node(s) separated by '+', expected "
            f"{NUM_NODES - 1}"
        )
    ops: list[str] = []
    for target, node in enumerate(nodes, start=1):
        if not _NODE_RE.fullmatch(node):
            raise ValueError(
                f"nb201 string {text!r}: node {target} {node!r} is not of the form |op~i|...|"
            )
        edges = _EDGE_RE.findall(node)
        sources = [src for _, src in edges]
        if sources != [str(i) for i in range(target)]:
            raise ValueError(
                f"nb201 string {text!r}: node {target} must list sources "
                f"{list(range(target))} in order, got [{', '.join(sources)}]"
            )
        for op, _ in edges:
            if op not in NB201_OPS:
                raise ValueError(
                    f"nb201 string {text!r}: unknown op {op!r} (expected one of "
                    f"{', '.join(NB201_OPS)})"
                )
            ops.append(op)
    return make_arch(ops)


def build_nb201_network(
    arch: Architecture, input_shape: tuple[int, ...], num_classes: int, cfg: NB201SpaceConfig
) -> nn.Module:
    """The benchmark's network around the cell of `arch`, sized by `cfg`."""
    return NB201Net(edge_ops(arch), input_shape, num_classes, cfg.channels, cfg.cells_per_stage)


def build_nb201_supernet(
    cfg: NB201SpaceConfig, input_shape: tuple[int, ...], num_classes: int
) -> NB201Supernet:
    """The weight-sharing supernet of `cfg`: every op on every edge of every cell."""
    space = NB201Space.from_config(cfg)  # checks cfg, network settings included
    return NB201Supernet(
        space,
        input_shape,
        num_classes,
        ops=space.ops,
        channels=cfg.channels,
        cells_per_stage=cfg.cells_per_stage,
    )


def draw_nb201(arch: Architecture) -> Figure:
    """The cell: four nodes in a row and six labelled edges between them."""
    return cell_figure(to_nb201_string(arch), edge_ops(arch), NB201_EDGES, NUM_NODES)


SPACE = SpaceDef(
    name="nb201",
    config=NB201SpaceConfig,
    space=NB201Space.from_config,
    network=build_nb201_network,
    format=to_nb201_string,
    draw=draw_nb201,
    supernet=build_nb201_supernet,
    param_free_ops=frozenset({"none", "skip_connect", "avg_pool_3x3"}),
    table=TABLE,
)
