"""The macro space's figure: stem, one box per layer, skip arcs into ⊕ sums, pooled head."""

from __future__ import annotations

from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from child.spaces.drawing import (
    CONV,
    ENDS,
    IDENTITY,
    OTHER,
    POOL,
    SEP_CONV,
    SKIP,
    Box,
    chain_figure,
    legend_patch,
)
from core.architecture import Architecture, Layer

MACRO_FAMILIES = {"conv": CONV, "sep conv": SEP_CONV, "pool": POOL, "identity": IDENTITY}


def macro_figure(arch: Architecture, title: str) -> Figure:
    """The macro space: stem, one box per layer, skip arcs into ⊕ sums, pooled head."""
    boxes = [Box("input → stem (conv3)", ENDS)]
    boxes += [
        Box(_macro_label(layer), MACRO_FAMILIES.get(_macro_family(layer.op), OTHER), str(i))
        for i, layer in enumerate(arch.layers)
    ]
    boxes.append(Box("global pool + linear", ENDS))
    # Box k + 1 is layer k; a skip adds layer j's output to layer i's, so it ends at i's sum.
    skips = [
        (j + 1, i + 1) for i, layer in enumerate(arch.layers) for j in layer.inputs if 0 <= j < i
    ]
    families = [_macro_family(layer.op) for layer in arch.layers]
    legend: list[Artist] = [
        legend_patch(name, style) for name, style in MACRO_FAMILIES.items() if name in families
    ]
    if "other" in families:
        legend.append(legend_patch("other", OTHER))
    if skips:
        legend.append(Line2D([], [], color=SKIP, lw=1.3, label="skip, added at ⊕"))
    return chain_figure(title, boxes, legend, skips)


def _macro_family(op: str) -> str:
    if op.startswith("sep"):
        return "sep conv"
    if op.startswith("conv"):
        return "conv"
    if "pool" in op:
        return "pool"
    return "identity" if op == "identity" else "other"


def _macro_label(layer: Layer) -> str:
    width = layer.param("width")
    return layer.op if width is None else f"{layer.op} · {width}"
