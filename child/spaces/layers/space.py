"""A conditional layer-type space: each layer picks a type, then only that type's parameters.

Each of `num_layers` layers first answers `layer{i}.type` (conv, pool, fc or dropout), then the
decisions of that type and no others:

- conv: `kernel`, `stride`, `filters`, `activation`;
- pool (max pooling): `size`, `stride`;
- fc: `units`, `activation`;
- dropout: `rate`.

So a dropout layer emits two tokens and a conv layer five. Decision names carry the type
(`layer2.conv.stride`, `layer2.pool.stride`): when a mutation changes a layer's type, the new
type's parameters are then drawn at random instead of being inherited from the old type.
Heads are shared across layers: `layer_type`, then one per kind of parameter (`conv_kernel`,
`pool_stride`, ...); conv and fc share `activation`. Head names become `nn.ModuleDict` keys in
the policy, so they contain no dots and avoid `nn.Module` attribute names (hence not `type`).

**Masking.** After the first fc layer the data is flat, so conv and pool are masked out of every
later type decision (`Choice.allowed`): the controller, `sample` and `mutate` never pick them.

**Repair rule.** Whether a pool fits depends on the input size, which a space does not know, so
the network repairs it (`network.fit_window`): per spatial dimension, when a pool
window is larger than the current size, or its stride would shrink the size below 1, the
window is clipped to the current size and the stride becomes 1 (that dimension becomes 1).
Convs use same padding with odd kernels, so they never shrink a size below 1 and need no repair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from matplotlib.figure import Figure
from torch import nn

from child.spaces.layers.diagram import layers_figure
from child.spaces.layers.network import LayersNet
from child.spaces.registry import SpaceDef
from core.architecture import Architecture, Layer, ParamValue
from core.errors import require
from core.space import Choice, Decision, SearchSpace

LAYER_TYPES = ("conv", "pool", "fc", "dropout")
ACTIVATIONS = ("relu", "sigmoid", "tanh")
# Types that need (N, C, *size) data, so cannot follow an fc layer.
SPATIAL_TYPES = frozenset({"conv", "pool"})


@dataclass
class LayersSpaceConfig:
    """`search_space=layers`: how many layers, the types, and each type's options."""

    name: str = "layers"
    num_layers: int = 6
    types: list[str] = field(default_factory=lambda: list(LAYER_TYPES))
    conv_kernels: list[int] = field(default_factory=lambda: [3, 5])  # odd sizes (same padding)
    conv_strides: list[int] = field(default_factory=lambda: [1, 2])
    conv_filters: list[int] = field(default_factory=lambda: [16, 32, 64])
    pool_sizes: list[int] = field(default_factory=lambda: [2, 3])  # max pooling, no padding
    pool_strides: list[int] = field(default_factory=lambda: [1, 2])
    fc_units: list[int] = field(default_factory=lambda: [64, 128, 256, 512])  # first fc flattens
    # After conv (BatchNorm first) and fc; one head shared by both.
    activations: list[str] = field(default_factory=lambda: list(ACTIVATIONS))
    dropout_rates: list[float] = field(default_factory=lambda: [0.2, 0.3, 0.5])


@dataclass(frozen=True)
class Param:
    """One parameter of a layer type: its key in `Layer.params`, its head and its options."""

    name: str
    head: str
    options: tuple[ParamValue, ...]


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_list(key: str, values: Sequence[Any], ok: Callable[[Any], bool], expected: str) -> None:
    require(len(values) > 0, f"search_space.{key}", list(values), f"a non-empty list of {expected}")
    for value in values:
        require(ok(value), f"search_space.{key}", value, expected)
    # A value listed twice would have two tokens, and encode could not invert decode.
    require(len(set(values)) == len(values), f"search_space.{key}", list(values), "no value twice")


@dataclass(frozen=True)
class LayersSpace(SearchSpace):
    """`num_layers` layers; each picks a type from `types`, then that type's parameters."""

    num_layers: int
    types: tuple[str, ...]
    conv_kernels: tuple[int, ...]
    conv_strides: tuple[int, ...]
    conv_filters: tuple[int, ...]
    pool_sizes: tuple[int, ...]
    pool_strides: tuple[int, ...]
    fc_units: tuple[int, ...]
    activations: tuple[str, ...]
    dropout_rates: tuple[float, ...]
    name: str = "layers"

    LIST_FIELDS = (
        "types",
        "conv_kernels",
        "conv_strides",
        "conv_filters",
        "pool_sizes",
        "pool_strides",
        "fc_units",
        "activations",
        "dropout_rates",
    )

    def __post_init__(self) -> None:
        require(
            _positive_int(self.num_layers),
            "search_space.num_layers",
            self.num_layers,
            "an int >= 1",
        )
        _check_list("types", self.types, lambda t: t in LAYER_TYPES, f"one of {LAYER_TYPES}")
        _check_list(
            "conv_kernels",
            self.conv_kernels,
            lambda k: _positive_int(k) and k % 2 == 1,
            "odd positive ints (same padding)",
        )
        for key in ("conv_strides", "conv_filters", "pool_sizes", "pool_strides", "fc_units"):
            _check_list(key, getattr(self, key), _positive_int, "positive ints")
        _check_list(
            "activations", self.activations, lambda a: a in ACTIVATIONS, f"one of {ACTIVATIONS}"
        )
        _check_list(
            "dropout_rates",
            self.dropout_rates,
            lambda r: isinstance(r, int | float) and not isinstance(r, bool) and 0 <= r < 1,
            "numbers in [0, 1)",
        )

    @classmethod
    def from_config(cls, cfg: LayersSpaceConfig) -> LayersSpace:
        """The space a `search_space=layers` config describes."""
        lists = {key: tuple(getattr(cfg, key)) for key in cls.LIST_FIELDS}
        return cls(num_layers=cfg.num_layers, **lists)

    @cached_property
    def params(self) -> dict[str, tuple[Param, ...]]:
        """Each layer type's parameters, in decision (and `Layer.params`) order."""
        activation = Param("activation", "activation", self.activations)
        return {
            "conv": (
                Param("kernel", "conv_kernel", self.conv_kernels),
                Param("stride", "conv_stride", self.conv_strides),
                Param("filters", "conv_filters", self.conv_filters),
                activation,
            ),
            "pool": (
                Param("size", "pool_size", self.pool_sizes),
                Param("stride", "pool_stride", self.pool_strides),
            ),
            "fc": (Param("units", "fc_units", self.fc_units), activation),
            "dropout": (Param("rate", "dropout_rate", self.dropout_rates),),
        }

    @cached_property
    def _flat_mask(self) -> tuple[bool, ...] | None:
        mask = tuple(t not in SPATIAL_TYPES for t in self.types)
        return None if all(mask) else mask

    def next_decision(self, tokens: Sequence[int]) -> Decision | None:
        """The decision after `tokens`: a layer's type, or the next parameter of its type."""
        pos, flat = 0, False
        for i in range(self.num_layers):
            if pos == len(tokens):
                allowed = self._flat_mask if flat else None
                return Choice(f"layer{i}.type", "layer_type", self.types, allowed=allowed)
            if not 0 <= tokens[pos] < len(self.types):
                raise ValueError(f"{self.name}: layer {i} has no type {tokens[pos]}")
            op = self.types[tokens[pos]]
            params = self.params[op]
            answered = len(tokens) - pos - 1
            if answered < len(params):
                param = params[answered]
                return Choice(
                    f"layer{i}.{op}.{param.name}",
                    param.head,
                    param.options,
                    ends_layer=answered == len(params) - 1,
                )
            pos += 1 + len(params)
            flat = flat or op == "fc"
        return None

    def heads(self) -> dict[str, int]:
        """`layer_type` and one head per parameter kind of the configured types."""
        heads = {"layer_type": len(self.types)}
        for op in self.types:
            heads.update({p.head: len(p.options) for p in self.params[op]})
        return heads

    def decode(self, tokens: Sequence[int]) -> Architecture:
        """Token list → `Architecture`; each layer carries only its type's parameters."""
        self.walk(tokens)  # refuses invalid lists, masked types included
        answers = iter(tokens)
        layers = []
        for _ in range(self.num_layers):
            op = self.types[next(answers)]
            params = tuple((p.name, p.options[next(answers)]) for p in self.params[op])
            layers.append(Layer(op=op, params=params))
        return Architecture(space=self.name, layers=tuple(layers))

    def encode(self, arch: Architecture) -> list[int]:
        """`Architecture` → token list; raises ValueError if it does not belong to this space."""
        if arch.space != self.name or len(arch.layers) != self.num_layers:
            raise ValueError(f"{arch} is not a {self.num_layers}-layer {self.name} architecture")
        tokens: list[int] = []
        for i, layer in enumerate(arch.layers):
            if layer.op not in self.types or layer.inputs:
                raise ValueError(f"layer {i} ({layer}) is not a layer of this space")
            params = self.params[layer.op]
            if [p.name for p in params] != [key for key, _ in layer.params]:
                raise ValueError(f"layer {i} ({layer}) does not have exactly its type's params")
            tokens.append(self.types.index(layer.op))
            for param, (_, value) in zip(params, layer.params, strict=True):
                if value not in param.options:
                    raise ValueError(f"layer {i} ({layer}) is outside this space's choices")
                tokens.append(param.options.index(value))
        self.walk(tokens)  # refuses a conv or pool after an fc layer
        return tokens


def format_layers(arch: Architecture) -> str:
    """`conv5/1x32-relu | pool3/2 | fc256-tanh | drop0.3` (kernel/stride x filters, etc.)."""
    templates = {
        "conv": "conv{kernel}/{stride}x{filters}-{activation}",
        "pool": "pool{size}/{stride}",
        "fc": "fc{units}-{activation}",
        "dropout": "drop{rate:g}",
    }
    parts = []
    for layer in arch.layers:
        try:
            parts.append(templates[layer.op].format_map(dict(layer.params)))
        except (KeyError, ValueError):  # not a layers-space layer: the generic form
            parts.append(str(layer))
    return " | ".join(parts)


def build_layers_network(
    arch: Architecture, input_shape: tuple[int, ...], num_classes: int, cfg: LayersSpaceConfig
) -> nn.Module:
    """The layers network of `arch` (it has no settings beyond the architecture)."""
    return LayersNet(arch, input_shape, num_classes)


def draw_layers(arch: Architecture) -> Figure:
    """Input, one box per typed layer, and the head."""
    return layers_figure(arch, format_layers(arch))


SPACE = SpaceDef(
    name="layers",
    config=LayersSpaceConfig,
    space=LayersSpace.from_config,
    network=build_layers_network,
    format=format_layers,
    draw=draw_layers,
    no_supernet_reason=(
        "a layer's type decides whether later layers see feature maps or flat vectors and "
        "changes the shapes every later weight needs, so no one set of weights serves all paths"
    ),
    param_free_ops=frozenset({"pool", "dropout"}),
)
