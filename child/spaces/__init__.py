"""Search spaces, by name: `build_space(cfg)` turns a `search_space` config into a space."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from child.spaces.layers import LayersSpace, format_layers
from child.spaces.macro import MacroSpace
from child.spaces.nb201 import NB201Space, to_nb201_string
from core.architecture import Architecture
from core.errors import ConfigError
from core.space import Choice, Decision, SearchSpace, SkipChoice

__all__ = [
    "Choice",
    "Decision",
    "SearchSpace",
    "SkipChoice",
    "MacroSpace",
    "LayersSpace",
    "NB201Space",
    "build_space",
    "SPACES",
    "format_arch",
]


def _macro(cfg: Mapping[str, Any]) -> SearchSpace:
    return MacroSpace(
        num_layers=int(cfg["num_layers"]),
        ops=tuple(cfg["ops"]),
        widths=tuple(int(w) for w in cfg["widths"]),
        skips=bool(cfg["skips"]),
    )


SPACES: dict[str, Callable[[Mapping[str, Any]], SearchSpace]] = {
    "macro": _macro,
    "layers": LayersSpace.from_config,
    "nb201": NB201Space.from_config,
}

# How architectures of a space print, where a space has its own format (default: str(arch)).
FORMATTERS: dict[str, Callable[[Architecture], str]] = {
    "layers": format_layers,
    "nb201": to_nb201_string,
}


def format_arch(arch: Architecture) -> str:
    """The architecture in its space's own notation (e.g. NAS-Bench-201's `|op~0|+|...|`)."""
    return FORMATTERS.get(arch.space, str)(arch)


def build_space(cfg: Mapping[str, Any]) -> SearchSpace:
    """The search space named by `cfg["name"]`, configured by the rest of `cfg`."""
    name = cfg["name"]
    if name not in SPACES:
        raise ConfigError(
            f"search_space.name={name!r} is unknown: expected one of {sorted(SPACES)}"
        )
    return SPACES[name](cfg)
