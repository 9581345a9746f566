"""The architecture spec: the one value that crosses from the controller to the child."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ParamValue = int | float | str


@dataclass(frozen=True)
class Layer:
    """One layer (or one cell edge): its op, the op's parameters and its extra inputs."""

    op: str
    params: tuple[tuple[str, ParamValue], ...] = ()
    inputs: tuple[int, ...] = ()

    def param(self, name: str, default: ParamValue | None = None) -> ParamValue | None:
        """Return the value of parameter `name`, or `default` when the layer has none."""
        return dict(self.params).get(name, default)

    def __str__(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.params)
        text = f"{self.op}({args})" if args else self.op
        if self.inputs:
            text += "<-" + ",".join(str(i) for i in self.inputs)
        return text


@dataclass(frozen=True)
class Architecture:
    """A sampled network: the name of its search space and its layers, in order.

    Frozen and hashable, so it can key a reward cache; `to_dict`/`from_dict` give JSON.
    """

    space: str
    layers: tuple[Layer, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "space": self.space,
            "layers": [
                {"op": layer.op, "params": dict(layer.params), "inputs": list(layer.inputs)}
                for layer in self.layers
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        """Inverse of `to_dict`."""
        layers = tuple(
            Layer(
                op=str(item["op"]),
                params=tuple((str(k), v) for k, v in item.get("params", {}).items()),
                inputs=tuple(int(i) for i in item.get("inputs", [])),
            )
            for item in data["layers"]
        )
        return cls(space=str(data["space"]), layers=layers)

    def to_json(self) -> str:
        """Compact JSON string."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        """Inverse of `to_json`."""
        return cls.from_dict(json.loads(text))

    def __str__(self) -> str:
        return f"{self.space}[" + " | ".join(str(layer) for layer in self.layers) + "]"
