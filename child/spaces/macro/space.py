"""The macro CNN space of ENAS: per layer an op, a width and skip connections (anchor points).

Its network (`child.spaces.macro.network.MacroNet`) is a conv3 stem, the searched layers with their
skip inputs summed in, and a pooled linear head, for 1-D and 2-D data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib.figure import Figure
from torch import nn

from child.spaces.macro.diagram import macro_figure
from child.spaces.macro.network import MacroNet
from child.spaces.macro.supernet import MacroSupernet
from child.spaces.registry import SpaceDef
from core.architecture import Architecture, Layer
from core.errors import require
from core.space import Choice, Decision, SkipChoice, StaticSearchSpace

MACRO_OPS = ("conv3", "conv5", "conv7", "sep3", "sep5", "maxpool3", "avgpool3", "identity")


@dataclass
class MacroSpaceConfig:
    """`search_space=macro`: the decisions, then the network settings around them."""

    name: str = "macro"
    num_layers: int = 4  # deeper children make almost every architecture equally good on MNIST-1D
    ops: list[str] = field(default_factory=lambda: list(MACRO_OPS))
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])  # channels per layer
    skips: bool = True  # layer i may take inputs from any layer j < i (anchor points)
    stem_width: int = 16  # channels of the fixed conv3 stem before the searched layers
    pool_after: list[int] = field(default_factory=list)  # fixed 2× reductions after these layers
    # BatchNorm after a layer's skip inputs are added to its output, as ENAS does: without it a
    # deep net with many skips sums to outputs hundreds of times larger than its input.
    sum_norm: bool = False


@dataclass(frozen=True)
class MacroSpace(StaticSearchSpace):
    """`num_layers` layers; layer i picks an op, a width and inputs from layers 0..i-1."""

    num_layers: int
    ops: tuple[str, ...]
    widths: tuple[int, ...]
    skips: bool = True
    name: str = "macro"

    def __post_init__(self) -> None:
        require(self.num_layers >= 1, "search_space.num_layers", self.num_layers, "an int >= 1")
        require(len(self.ops) > 0, "search_space.ops", list(self.ops), "a non-empty list of ops")
        for op in self.ops:
            require(op in MACRO_OPS, "search_space.ops", op, f"one of {', '.join(MACRO_OPS)}")
        require(
            len(set(self.ops)) == len(self.ops),
            "search_space.ops",
            list(self.ops),
            "no op listed twice",
        )
        require(
            len(self.widths) > 0,
            "search_space.widths",
            list(self.widths),
            "a non-empty list of channel counts",
        )
        for width in self.widths:
            require(
                isinstance(width, int) and width >= 1, "search_space.widths", width, "positive ints"
            )

    @classmethod
    def from_config(cls, cfg: MacroSpaceConfig) -> MacroSpace:
        """The decisions of `cfg`, after checking its network settings too."""
        require(cfg.stem_width >= 1, "search_space.stem_width", cfg.stem_width, "an int >= 1")
        require(
            all(0 <= i < cfg.num_layers for i in cfg.pool_after),
            "search_space.pool_after",
            list(cfg.pool_after),
            f"layer indices in [0, num_layers={cfg.num_layers})",
        )
        return cls(
            num_layers=cfg.num_layers, ops=tuple(cfg.ops), widths=tuple(cfg.widths), skips=cfg.skips
        )

    def program(self) -> tuple[Decision, ...]:
        """Per layer: its op, its width, then its skip inputs (from layer 1 on, with skips)."""
        decisions: list[Decision] = []
        for i in range(self.num_layers):
            has_skips = self.skips and i > 0
            decisions.append(Choice(f"layer{i}.op", "op", self.ops))
            decisions.append(
                Choice(f"layer{i}.width", "width", self.widths, ends_layer=not has_skips)
            )
            if has_skips:
                decisions.append(SkipChoice(f"layer{i}.skips", num_anchors=i))
        return tuple(decisions)

    def heads(self) -> dict[str, int]:
        """The op head and the width head."""
        return {"op": len(self.ops), "width": len(self.widths)}

    @property
    def uses_skips(self) -> bool:
        """Whether layers choose skip connections."""
        return self.skips

    def decode(self, tokens: Sequence[int]) -> Architecture:
        """Token list → `Architecture`."""
        answers = {d.name: answer for d, answer in self.walk(tokens)}
        layers = []
        for i in range(self.num_layers):
            op = self.ops[answers[f"layer{i}.op"][0]]
            width = self.widths[answers[f"layer{i}.width"][0]]
            bits = answers.get(f"layer{i}.skips", [])
            inputs = tuple(j for j, bit in enumerate(bits) if bit)
            layers.append(Layer(op=op, params=(("width", width),), inputs=inputs))
        return Architecture(space=self.name, layers=tuple(layers))

    def encode(self, arch: Architecture) -> list[int]:
        """`Architecture` → token list; raises ValueError if it does not belong to this space."""
        if arch.space != self.name or len(arch.layers) != self.num_layers:
            raise ValueError(f"{arch} is not a {self.num_layers}-layer {self.name} architecture")
        tokens: list[int] = []
        for i, layer in enumerate(arch.layers):
            if layer.op not in self.ops or layer.param("width") not in self.widths:
                raise ValueError(f"layer {i} ({layer}) is outside this space's choices")
            tokens += [self.ops.index(layer.op), self.widths.index(layer.param("width"))]
            if any(not 0 <= j < i for j in layer.inputs) or (layer.inputs and not self.skips):
                raise ValueError(f"layer {i} ({layer}) has skip inputs this space cannot make")
            if self.skips and i > 0:
                tokens += [int(j in layer.inputs) for j in range(i)]
        return tokens


def build_macro_network(
    arch: Architecture, input_shape: tuple[int, ...], num_classes: int, cfg: MacroSpaceConfig
) -> nn.Module:
    """The macro network of `arch`, with the stem width and fixed reductions of `cfg`."""
    return MacroNet(
        arch, input_shape, num_classes, cfg.stem_width, tuple(cfg.pool_after), cfg.sum_norm
    )


def build_macro_supernet(
    cfg: MacroSpaceConfig,
    input_shape: tuple[int, ...],
    num_classes: int,
    width_weights: str = "slice",
) -> MacroSupernet:
    """The weight-sharing supernet of the macro space `cfg` (evaluator=shared).

    `width_weights`: "slice" (narrow widths on leading channels) or "separate" (own weights).
    """
    space = MacroSpace.from_config(cfg)  # checks cfg, network settings included
    return MacroSupernet(
        input_shape,
        num_classes,
        name=space.name,
        num_layers=space.num_layers,
        ops=space.ops,
        widths=space.widths,
        skips=space.skips,
        stem_width=cfg.stem_width,
        pool_after=cfg.pool_after,
        sum_norm=cfg.sum_norm,
        width_weights=width_weights,
    )


def draw_macro(arch: Architecture) -> Figure:
    """Stem, one box per layer, skip arcs into ⊕ sums, pooled head."""
    return macro_figure(arch, str(arch))


SPACE = SpaceDef(
    name="macro",
    config=MacroSpaceConfig,
    space=MacroSpace.from_config,
    network=build_macro_network,
    draw=draw_macro,
    supernet=build_macro_supernet,
    param_free_ops=frozenset({"maxpool3", "avgpool3", "identity"}),
)
