"""The registry of search spaces: each folder `child/spaces/<name>/` with a `SPACE` in space.py.

A space is declared in one place, its `space.py`'s `SPACE = SpaceDef(...)`: the config schema
(`search_space=<name>`, decisions and network settings together), the decision program, the
network builder, and optionally its printed notation, its diagram, its supernet and a bundled
table of results. A space's folder holds all of it (space.py, network.py, supernet.py,
diagram.py, tables/); adding a space is one folder in `child/spaces/` plus one YAML file in
`conf/search_space/`; nothing else names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from matplotlib.figure import Figure

from child.spaces import drawing
from core.architecture import Architecture
from core.errors import ConfigError
from core.registry import PartDef, Registry
from core.space import SearchSpace
from core.supernet import SupernetBuilder

if TYPE_CHECKING:  # the registry itself does not need torch
    from torch import nn


class SpaceConfig(Protocol):
    """A space's config (the dataclass its `SpaceDef` declares): at least its `name`."""

    name: str


NetworkBuilder = Callable[[Architecture, tuple[int, ...], int, Any], "nn.Module"]


@dataclass(frozen=True)
class SpaceDef(PartDef):
    """Everything the code knows of one search space.

    - `config`: the dataclass schema of `search_space=<name>`; its defaults are the only ones.
    - `space`: config → the decision program (`core.space.SearchSpace`); it raises
      `ConfigError` for bad settings, network settings included, so they fail before training.
    - `network`: (arch, input shape without batch, classes, config) → `nn.Module`.
    - `format`: how an architecture prints (default `str(arch)`).
    - `draw`: architecture → matplotlib `Figure` (default: a chain of `str(layer)` boxes).
    - `supernet`: (config, input shape, classes) → a weight-sharing `core.supernet.Supernet`
      whose `forward(x, arch)` runs one path (`evaluator=shared`); None when the space cannot
      share weights, and `no_supernet_reason` then says why.
    - `param_free_ops`: the ops without parameters, whose share the shared-weight search
      watches (weight sharing is known to collapse onto them).
    - `table`: a CSV of results the space ships (`child.evaluation.table`), or None.
    """

    space: Callable[[Any], SearchSpace]
    network: NetworkBuilder
    format: Callable[[Architecture], str] = str
    draw: Callable[[Architecture], Figure] | None = None
    supernet: SupernetBuilder | None = None
    no_supernet_reason: str = "it declares no supernet"
    param_free_ops: frozenset[str] = frozenset()
    table: Path | None = None


# Every space folder's `space.py` `SPACE`, by name (read-only; found on first use).
SPACES: Registry[SpaceDef] = Registry(
    "search_space", __package__, SpaceDef, "SPACE", module="space"
)


def space_def(name: str) -> SpaceDef:
    """The definition of the space `name`; ConfigError naming the known ones otherwise."""
    return SPACES.find(name)


def bundled_table(name: str | None = None) -> Path:
    """The result table that space `name` ships; None: the one table any space ships.

    ConfigError when there is no such table, or, without a name, more than one.
    """
    if name is not None:
        table = space_def(name).table
        if table is None:
            raise ConfigError(f"search_space={name} ships no result table")
        return table
    tables = {space: d.table for space, d in SPACES.items() if d.table is not None}
    if len(tables) != 1:
        shipped = ", ".join(tables) or "none"
        raise ConfigError(f"expected exactly one space to ship a result table (found {shipped})")
    return next(iter(tables.values()))


def build_space(cfg: SpaceConfig) -> SearchSpace:
    """The decision program of a `search_space` config (a schema instance)."""
    return space_def(cfg.name).space(cfg)


def space_config(name: str, data: Mapping[str, Any] | None = None) -> SpaceConfig:
    """The typed config of space `name` from a plain dict such as `asdict` made (None: defaults)."""
    return space_def(name).config(**(data or {}))


def build_network(
    arch: Architecture,
    input_shape: tuple[int, ...],
    num_classes: int,
    cfg: SpaceConfig | None = None,
) -> nn.Module:
    """The network of `arch` for inputs of `input_shape` (no batch dimension).

    `cfg` is the space's config; None uses its defaults.
    """
    definition = space_def(arch.space)
    settings = cfg if cfg is not None else definition.config()
    return definition.network(arch, tuple(input_shape), num_classes, settings)


def format_arch(arch: Architecture) -> str:
    """The architecture in its space's own notation (e.g. NAS-Bench-201's `|op~0|+|...|`)."""
    definition = SPACES.get(arch.space)
    return definition.format(arch) if definition else str(arch)


def param_free_share(archs: Sequence[Architecture]) -> float:
    """The share of the layers (edges) of `archs` whose op has no parameters, per their space.

    A space that declares no parameter-free ops (or is unknown) counts none.
    """
    ops = [(arch.space, layer.op) for arch in archs for layer in arch.layers]
    free = sum(
        op in (SPACES[space].param_free_ops if space in SPACES else frozenset())
        for space, op in ops
    )
    return free / max(1, len(ops))


def draw_architecture(arch: Architecture, path: Path | str | None = None) -> np.ndarray:
    """The diagram of `arch` as an RGB uint8 array (H, W, 3); also written as a PNG to `path`.

    A space without a drawer of its own, or an architecture its drawer cannot read, is drawn
    as a chain of `str(layer)` boxes.
    """
    definition = SPACES.get(arch.space)
    figure = None
    if definition is not None and definition.draw is not None:
        try:
            figure = definition.draw(arch)
        except ValueError:  # not laid out as the space expects: show what there is
            figure = None
    if figure is None:
        figure = drawing.generic_figure(arch, _title(arch))
    return drawing.render(figure, path)


def _title(arch: Architecture) -> str:
    try:
        return format_arch(arch)
    except ValueError:  # a malformed arch of a space with its own notation
        return str(arch)
