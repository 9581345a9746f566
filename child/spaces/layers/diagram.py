"""The layers space's figure: input, one box per typed layer with its settings, and the head."""

from __future__ import annotations

from matplotlib.artist import Artist
from matplotlib.figure import Figure

from child.spaces.drawing import (
    CONV,
    ENDS,
    FC,
    IDENTITY,
    OTHER,
    POOL,
    Box,
    chain_figure,
    legend_patch,
)
from core.architecture import Architecture, Layer

LAYER_TYPE_STYLES = {"conv": CONV, "pool": POOL, "fc": FC, "dropout": IDENTITY}
LAYER_LABELS = {
    "conv": "conv · kernel {kernel} · stride {stride} · {filters} filters · {activation}",
    "pool": "max pool · size {size} · stride {stride}",
    "fc": "fc · {units} units · {activation}",
    "dropout": "dropout · rate {rate:g}",
}


def layers_figure(arch: Architecture, title: str) -> Figure:
    """The layers space: input, one box per typed layer, and the head."""
    flat = any(layer.op == "fc" for layer in arch.layers)
    boxes = [Box("input", ENDS)]
    boxes += [
        Box(_layers_label(layer), LAYER_TYPE_STYLES.get(layer.op, OTHER), str(i))
        for i, layer in enumerate(arch.layers)
    ]
    boxes.append(Box("linear" if flat else "global pool + linear", ENDS))
    types = {layer.op for layer in arch.layers}
    legend: list[Artist] = [
        legend_patch(name, style) for name, style in LAYER_TYPE_STYLES.items() if name in types
    ]
    return chain_figure(title, boxes, legend)


def _layers_label(layer: Layer) -> str:
    try:
        return LAYER_LABELS[layer.op].format_map(dict(layer.params))
    except (KeyError, ValueError):  # not a layers-space layer: the generic form
        return str(layer)
