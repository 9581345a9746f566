"""The macro CNN space of ENAS: per layer an op, a width and skip connections (anchor points)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from core.architecture import Architecture, Layer
from core.errors import require
from core.space import Choice, Decision, SearchSpace, SkipChoice

MACRO_OPS = ("conv3", "conv5", "conv7", "sep3", "sep5", "maxpool3", "avgpool3", "identity")


@dataclass(frozen=True)
class MacroSpace(SearchSpace):
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

    @cached_property
    def _decisions(self) -> tuple[Decision, ...]:
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

    @cached_property
    def _offsets(self) -> dict[int, Decision]:
        offsets, pos = {}, 0
        for decision in self._decisions:
            offsets[pos] = decision
            pos += decision.size
        return offsets

    @property
    def num_tokens(self) -> int:
        """Length of every token list of this space."""
        return sum(d.size for d in self._decisions)

    @property
    def static(self) -> bool:
        """The same decisions for every architecture."""
        return True

    def next_decision(self, tokens: Sequence[int]) -> Decision | None:
        """The decision that follows `tokens` (the program is the same for every architecture)."""
        return self._offsets.get(len(tokens))

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
