"""One way to register a part: a module declares it, a `Registry` discovers it.

Every kind of part (search space, controller, evaluator, data set, reward) is declared once,
beside its code, as a frozen `PartDef` subclass instance in a module-level constant, e.g.
`CONTROLLER = ControllerDef(name="random", config=RandomControllerConfig, build=...)`; a module
that defines several parts declares a tuple of them under the same name. A `Registry` imports
every module of the kind's package on first use and collects those constants by name; nothing
else lists the parts. The config dataclass a part declares is the Hydra schema of its
`<group>=<name>` option, and its `check()` method refuses settings that cannot work.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar

from core.errors import ConfigError


@dataclass(frozen=True)
class PartDef:
    """What every declared part has: its name (the config group option) and its config schema."""

    name: str
    config: type


D = TypeVar("D", bound=PartDef)


def discover(
    package: str, kind: type[D], attribute: str, module: str | None = None
) -> dict[str, D]:
    """The `kind` parts declared in `package`, by name, in name order.

    Each module of `package` (with `module` given: each sub-package's `module`, e.g. a space
    folder's `space.py`) is imported, and its `attribute`, one `kind` or a tuple of them, is
    collected. A module without `attribute` declares nothing; a name declared twice, or an
    `attribute` of another type, is a programming error and raises at once.
    """
    found: dict[str, D] = {}
    where: dict[str, str] = {}
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if module is not None and not info.ispkg:
            continue
        name = f"{package}.{info.name}" + (f".{module}" if module else "")
        if module is not None and importlib.util.find_spec(name) is None:
            continue  # a helper folder that declares no part
        declared = getattr(importlib.import_module(name), attribute, ())
        parts = declared if isinstance(declared, tuple) else (declared,)
        for part in parts:
            if not isinstance(part, kind):
                raise TypeError(f"{name}.{attribute} must be a {kind.__name__} or a tuple of them")
            if part.name in found:
                raise RuntimeError(
                    f"{kind.__name__} {part.name!r} is declared twice: in {where[part.name]} "
                    f"and in {name}"
                )
            found[part.name] = part
            where[part.name] = name
    return dict(sorted(found.items()))


class Registry(Mapping[str, D], Generic[D]):
    """The parts of one kind by name (read-only), discovered on first use.

    Discovery waits for the first look-up, so that a declaring module may import the module
    that holds its registry (for shared helpers) without missing its own declaration.
    """

    def __init__(
        self, key: str, package: str, kind: type[D], attribute: str, module: str | None = None
    ) -> None:
        self.key = key  # the config group, as error messages name it: `controller`, `dataset`
        self._where = (package, kind, attribute, module)

    @cached_property
    def _parts(self) -> dict[str, D]:
        return discover(*self._where)

    def __getitem__(self, name: str) -> D:
        return self._parts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def find(self, name: str) -> D:
        """The part `name`; ConfigError naming the known ones otherwise."""
        if name not in self._parts:
            raise ConfigError(
                f"{self.key}.name={name!r} is unknown: expected one of {list(self._parts)}"
            )
        return self._parts[name]

    def check(self, cfg: Any) -> None:
        """Raise ConfigError unless `cfg` names a known part and passes its own `check()`."""
        self.find(cfg.name)
        cfg.check()

    def schemas(self) -> dict[str, type]:
        """Each part's config dataclass by name: the Hydra schemas of the config group."""
        return {name: part.config for name, part in self._parts.items()}
