"""Pictures of architectures: figures for each kind of space, rendered to RGB arrays and PNGs.

Each space's `SpaceDef.draw` (child/spaces/) picks one of these figures: `macro_figure`, a
chain of layers with skip arcs into sums; `layers_figure`, a chain of typed layers;
`cell_figure`, a cell's DAG of nodes and labelled edges; `recurrent_cell_figure`, a recurrent
cell's nodes, each reading one earlier node; and `generic_figure`, a chain of
`str(layer)` boxes, which `child.spaces.draw_architecture` uses for a space with no drawer.

Drawing uses matplotlib's object API only (`Figure` + `FigureCanvasAgg`, never pyplot), so it
leaves no global state behind. Every sheet is laid out in inches: one data unit is one inch,
which keeps text, boxes and arcs in proportion however many layers there are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.image
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.textpath import text_to_path

from core.architecture import Architecture, Layer

DPI = 100
FONT = 10  # points: box and edge labels
SMALL = 8  # points: layer numbers, legend, notes
TITLE = 11  # points
MIN_WIDTH = 4.5  # inches: room for a wrapped title and a legend under a narrow chain

BOX_PAD = 0.45  # inches of box beyond its widest label
GAP = 0.34  # inches between consecutive boxes
SUM_GAP = 0.74  # inches between a box and the next when a ⊕ sits between them
SUM_RADIUS = 0.1
MAX_BULGE = 2.4  # inches: the widest a skip arc may swing out, however long the net
LINE = "#444444"
SKIP = "#2c3e50"
# Skip arcs take their source layer's colour, so a tangle of arcs can still be followed.
SKIP_COLOURS = ("#1f4e79", "#a23b2a", "#2e7d32", "#6a3d9a", "#8c564b", "#c2185b", "#00838f")


@dataclass(frozen=True)
class Style:
    """Fill and edge colour of one kind of box (the edge colour also draws lines)."""

    fill: str
    edge: str


ENDS = Style("#ffffff", "#555555")  # input, stem and head boxes
CONV = Style("#cfe2f3", "#3d85c6")
SEP_CONV = Style("#d9ead3", "#6aa84f")
POOL = Style("#fce5cd", "#e69138")
IDENTITY = Style("#eeeeee", "#777777")
OTHER = Style("#f4cccc", "#cc4125")
FC = Style("#e6d9f2", "#8e63ce")
NONE_EDGE = Style("#ffffff", "#aaaaaa")

MACRO_FAMILIES = {"conv": CONV, "sep conv": SEP_CONV, "pool": POOL, "identity": IDENTITY}
LAYER_TYPE_STYLES = {"conv": CONV, "pool": POOL, "fc": FC, "dropout": IDENTITY}
NB201_STYLES = {
    "none": NONE_EDGE,
    "skip_connect": IDENTITY,
    "nor_conv_1x1": CONV,
    "nor_conv_3x3": CONV,
    "avg_pool_3x3": POOL,
}
# Generic spaces: ops take these in order of first appearance.
PALETTE = (CONV, POOL, SEP_CONV, FC, OTHER, IDENTITY)

LAYER_LABELS = {
    "conv": "conv · kernel {kernel} · stride {stride} · {filters} filters · {activation}",
    "pool": "max pool · size {size} · stride {stride}",
    "fc": "fc · {units} units · {activation}",
    "dropout": "dropout · rate {rate:g}",
}

# How far each NAS-Bench-201 edge swings from the row of nodes (inches; + above, − below), in
# NB201_EDGES order: neighbours are straight, the three longer edges arc clear of them.
NB201_BENDS = (0.0, 0.75, 0.0, 1.75, -0.85, 0.0)
NODE_RADIUS = 0.22


@dataclass(frozen=True)
class Box:
    """One box of a chain: its label, its colours and a note (the layer number) to its left."""

    label: str
    style: Style
    note: str = ""


@dataclass(frozen=True)
class Chain:
    """Where a chain's boxes go: depths below the chain's top, in inches."""

    boxes: tuple[Box, ...]
    width: float
    centres: tuple[float, ...]
    heights: tuple[float, ...]
    sums: dict[int, float]  # box index → depth of the ⊕ that adds skips to that box's output
    depth: float


def render(figure: Figure, path: Path | str | None = None) -> np.ndarray:
    """`figure` as an RGB uint8 array (H, W, 3); also written as a PNG to `path`."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    if path is not None:
        # Saved from the array, so the file and the return value are the same picture.
        matplotlib.image.imsave(Path(path), image, format="png")
    return image


# --- the spaces ---------------------------------------------------------------------------


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
        _legend_patch(name, style) for name, style in MACRO_FAMILIES.items() if name in families
    ]
    if "other" in families:
        legend.append(_legend_patch("other", OTHER))
    if skips:
        legend.append(Line2D([], [], color=SKIP, lw=1.3, label="skip, added at ⊕"))
    return _chain_figure(title, boxes, legend, skips)


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
        _legend_patch(name, style) for name, style in LAYER_TYPE_STYLES.items() if name in types
    ]
    return _chain_figure(title, boxes, legend)


def cell_figure(
    title: str,
    ops: Sequence[str],
    edges: Sequence[tuple[int, int]],
    num_nodes: int,
    bends: Sequence[float] = NB201_BENDS,
) -> Figure:
    """A cell: `num_nodes` nodes in a row; edge k = (target, source), labelled `ops[k]`.

    `bends[k]` is how far edge k swings from the row (inches; + above, − below).
    """
    # Nodes only as far apart as the widest label needs: a wider sheet would be shrunk, text
    # and all, to fit TensorBoard's image cards.
    spacing = max(1.4, max(_text_width(op, FONT) for op in ops) + 0.7)
    margin = 0.4 + _text_width("output", SMALL)
    width = max(MIN_WIDTH, 2 * margin + (num_nodes - 1) * spacing)
    low, high = min(bends), max(bends)
    caption = 0.4
    row = caption + 0.3 - low
    fig, ax = _sheet(width, row + high + 0.35, title)
    xs = [width / 2 + (k - (num_nodes - 1) / 2) * spacing for k in range(num_nodes)]
    for (target, source), op, bend in zip(edges, ops, bends, strict=True):
        _nb201_edge(ax, (xs[source], row), (xs[target], row), op, bend)
    for k, x in enumerate(xs):
        ax.add_patch(Circle((x, row), NODE_RADIUS, fc="white", ec="#333333", lw=1.5, zorder=3))
        _text(ax, x, row, str(k), FONT, weight="bold", zorder=4)
    gap = NODE_RADIUS + 0.1
    _text(ax, xs[0] - gap, row, "input", SMALL, ha="right", color="#666666")
    _text(ax, xs[-1] + gap, row, "output", SMALL, ha="left", color="#666666")
    note = "node j = sum over i < j of op(i→j)(node i);  dashed: none (no connection)"
    _text(ax, width / 2, caption / 2, note, SMALL, color="#666666")
    return fig


RNN_STYLES = {"tanh": CONV, "relu": SEP_CONV, "sigmoid": POOL, "identity": IDENTITY}


def recurrent_cell_figure(
    title: str, acts: Sequence[str], prevs: Sequence[int | None], ends: Sequence[int]
) -> Figure:
    """A recurrent cell: a row of nodes with their activations, arcs from what each reads.

    The loose ends (`ends`) are averaged, below the row, into the next hidden state.
    """
    labels = [f"{k}: {act}" for k, act in enumerate(acts)]
    box_w = max(_text_width(label, FONT) for label in labels) + 0.35
    spacing = box_w + 0.45
    margin = 0.55 + _text_width("x_t, h_t-1", SMALL)
    width = max(MIN_WIDTH, 2 * margin + (len(acts) - 1) * spacing + box_w)
    longest = max([i - j for i, j in enumerate(prevs) if j is not None and i - j > 1] or [0])
    caption, avg_row = 0.4, 0.4 + 0.35
    row = avg_row + 0.9
    fig, ax = _sheet(width, row + 0.45 + 0.18 * longest + 0.25, title)
    xs = [width / 2 + (k - (len(acts) - 1) / 2) * spacing for k in range(len(acts))]
    half = box_w / 2
    for i, j in enumerate(prevs):
        if j is None:
            continue
        if i - j == 1:  # neighbours: a straight arrow between the boxes
            _arrow(ax, (xs[j] + half, row), (xs[i] - half, row))
            continue
        lift = 0.2 + 0.18 * (i - j)  # longer jumps arc higher, so they cross no box
        arc = FancyArrowPatch(
            (xs[j], row + 0.2),
            (xs[i], row + 0.2),
            connectionstyle=f"arc3,rad={-2 * lift / (xs[i] - xs[j])}",
            arrowstyle="-|>",
            mutation_scale=10,
            lw=1.1,
            color=SKIP_COLOURS[j % len(SKIP_COLOURS)],
            shrinkA=0,
            shrinkB=0,
        )
        ax.add_patch(arc)
    for x, label, act in zip(xs, labels, acts, strict=True):
        style = RNN_STYLES.get(act, OTHER)
        box = FancyBboxPatch(
            (x - half, row - 0.2),
            box_w,
            0.4,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            fc=style.fill,
            ec=style.edge,
            lw=1.2,
            zorder=3,
        )
        ax.add_patch(box)
        _text(ax, x, row, label, FONT, zorder=4)
    _arrow(ax, (xs[0] - half - 0.3, row), (xs[0] - half, row))
    _text(ax, xs[0] - half - 0.35, row, "x_t, h_t-1", SMALL, ha="right", color="#666666")
    centre = sum(xs[i] for i in ends) / len(ends)
    for i in ends:
        _arrow(ax, (xs[i], row - 0.2), (centre, avg_row + 0.17))
    ax.add_patch(Circle((centre, avg_row), 0.17, fc="white", ec="#333333", lw=1.3, zorder=3))
    _text(ax, centre, avg_row, "avg", SMALL, zorder=4)
    _arrow(ax, (centre + 0.17, avg_row), (centre + 0.6, avg_row))
    _text(ax, centre + 0.65, avg_row, "h_t", SMALL, ha="left", color="#666666")
    note = "each node: gate · act(W · input) + (1 - gate) · input;  h_t: mean of the loose ends"
    _text(ax, width / 2, caption / 2, note, SMALL, color="#666666")
    return fig


def generic_figure(arch: Architecture, title: str) -> Figure:
    """Any other space: one box per layer, labelled `str(layer)`, coloured by op."""
    colours: dict[str, Style] = {}
    for layer in arch.layers:
        colours.setdefault(layer.op, PALETTE[len(colours) % len(PALETTE)])
    boxes = [
        Box("\n".join(_wrap(str(layer), 4.0, FONT)), colours[layer.op], str(i))
        for i, layer in enumerate(arch.layers)
    ]
    return _chain_figure(title, boxes or [Box("(no layers)", ENDS)], [])


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


def _layers_label(layer: Layer) -> str:
    try:
        return LAYER_LABELS[layer.op].format_map(dict(layer.params))
    except (KeyError, ValueError):  # not a layers-space layer: the generic form
        return str(layer)


def _nb201_edge(
    ax: Axes, start: tuple[float, float], end: tuple[float, float], op: str, bend: float
) -> None:
    style = NB201_STYLES.get(op, OTHER)
    absent = op == "none"
    # arc3 puts its control point rad·length off the chord; the curve peaks at half of that.
    rad = -2 * bend / (end[0] - start[0])
    shrink = NODE_RADIUS * 72 + 2
    arrow = FancyArrowPatch(
        start,
        end,
        connectionstyle=f"arc3,rad={rad}",
        arrowstyle="-|>",
        mutation_scale=14,
        lw=1.2 if absent else 1.8,
        linestyle=(0, (4, 3)) if absent else "-",
        color=style.edge,
        shrinkA=shrink,
        shrinkB=shrink,
        zorder=2,
    )
    ax.add_patch(arrow)
    label = dict(boxstyle="round,pad=0.25", fc="white", ec=style.edge, lw=0.8)
    colour = "#888888" if absent else "#222222"
    middle = ((start[0] + end[0]) / 2, start[1] + bend)
    _text(ax, *middle, op, FONT, bbox=label, color=colour, zorder=5)


# --- chains -------------------------------------------------------------------------------


def _chain_figure(
    title: str,
    boxes: Sequence[Box],
    legend: Sequence[Artist],
    skips: Sequence[tuple[int, int]] = (),
) -> Figure:
    """A vertical chain of boxes, top to bottom, with skip arcs on its right and a legend below."""
    chain = _plan_chain(boxes, {target for _, target in skips})
    chords = [chain.sums[target] - chain.centres[source] for source, target in skips]
    # One bulge per inch of chord for every arc, so arcs sharing an end never cross.
    per_inch = min(0.3, MAX_BULGE / max(chords)) if chords else 0.0
    notes = [box.note for box in boxes if box.note]
    left = 0.3 + (max(_text_width(n, SMALL) for n in notes) + 0.15 if notes else 0.0)
    right = 0.3 + per_inch * max(chords, default=0.0)
    width = left + chain.width + right
    if width < MIN_WIDTH:
        left += (MIN_WIDTH - width) / 2
        right += (MIN_WIDTH - width) / 2
        width = MIN_WIDTH
    ncol = _legend_columns(legend, width - 0.3)
    legend_height = 0.19 * math.ceil(len(legend) / ncol) + 0.15 if legend else 0.0
    height = 0.3 + chain.depth + 0.3 + legend_height
    fig, ax = _sheet(width, height, title)
    centre = left + chain.width / 2
    top = height - 0.3
    _draw_chain(ax, chain, centre, top)
    for source, target in skips:
        _skip_arc(ax, centre, chain, source, target, top, -2 * per_inch)
    if legend:
        ax.legend(
            handles=list(legend),
            loc="upper center",
            bbox_to_anchor=(width / 2, legend_height),
            bbox_transform=ax.transData,
            ncol=ncol,
            frameon=False,
            fontsize=SMALL,
            handlelength=1.6,
            columnspacing=1.2,
            borderaxespad=0.0,
        )
    return fig


def _plan_chain(boxes: Sequence[Box], sums: set[int]) -> Chain:
    """Box sizes and depths; a box whose output takes skips gets a ⊕ below it."""
    width = max(2.0, max(_text_width(box.label, FONT) for box in boxes) + BOX_PAD)
    heights = tuple(0.22 + 0.18 * (box.label.count("\n") + 1) for box in boxes)
    centres, sum_depths, depth = [], {}, 0.0
    for k, h in enumerate(heights):
        if k:
            depth += SUM_GAP if k - 1 in sums else GAP
        centres.append(depth + h / 2)
        depth += h
        if k in sums:
            sum_depths[k] = depth + SUM_GAP / 2
    return Chain(tuple(boxes), width, tuple(centres), heights, sum_depths, depth)


def _draw_chain(ax: Axes, chain: Chain, centre: float, top: float) -> None:
    """The boxes, their notes, the ⊕ sums and the arrows that join them."""
    half = chain.width / 2
    ys = [top - depth for depth in chain.centres]
    for box, y, h in zip(chain.boxes, ys, chain.heights, strict=True):
        patch = FancyBboxPatch(
            (centre - half, y - h / 2),
            chain.width,
            h,
            boxstyle="round,pad=0,rounding_size=0.08",
            fc=box.style.fill,
            ec=box.style.edge,
            lw=1.2,
            zorder=2,
        )
        ax.add_patch(patch)
        _text(ax, centre, y, box.label, FONT, zorder=3)
        if box.note:
            _text(ax, centre - half - 0.15, y, box.note, SMALL, ha="right", color="#777777")
    for k in range(len(ys) - 1):
        bottom = ys[k] - chain.heights[k] / 2
        below = ys[k + 1] + chain.heights[k + 1] / 2
        _connect(ax, centre, bottom, below, top - chain.sums[k] if k in chain.sums else None)


def _connect(ax: Axes, x: float, bottom: float, below: float, total: float | None) -> None:
    """An arrow from one box down to the next, through a ⊕ at height `total` when there is one."""
    if total is None:
        _arrow(ax, (x, bottom), (x, below))
        return
    ax.add_patch(Circle((x, total), SUM_RADIUS, fc="white", ec=LINE, lw=1.1, zorder=3))
    _text(ax, x, total, "+", FONT, color=LINE, zorder=4)
    _arrow(ax, (x, bottom), (x, total + SUM_RADIUS))
    _arrow(ax, (x, total - SUM_RADIUS), (x, below))


def _skip_arc(
    ax: Axes, centre: float, chain: Chain, source: int, target: int, top: float, rad: float
) -> None:
    """Box `source`'s output, round the right of the chain, into the ⊕ below box `target`."""
    edge = centre + chain.width / 2
    port = (edge, top - chain.sums[target])
    arc = FancyArrowPatch(
        (edge, top - chain.centres[source]),
        port,
        connectionstyle=f"arc3,rad={rad}",
        arrowstyle="-",
        lw=1.3,
        color=SKIP_COLOURS[source % len(SKIP_COLOURS)],
        alpha=0.85,
        zorder=1,
    )
    ax.add_patch(arc)
    _arrow(ax, port, (centre + SUM_RADIUS, port[1]), color=SKIP)


def _arrow(
    ax: Axes, start: tuple[float, float], end: tuple[float, float], color: str = LINE
) -> None:
    arrow = FancyArrowPatch(
        start, end, arrowstyle="-|>", mutation_scale=10, lw=1.1, color=color, shrinkA=0, shrinkB=0
    )
    ax.add_patch(arrow)


def _legend_patch(label: str, style: Style) -> Patch:
    return Patch(fc=style.fill, ec=style.edge, label=label)


def _legend_columns(handles: Sequence[Artist], width: float) -> int:
    """The most legend columns that fit in `width` inches (entries fill columns in order)."""
    widths = [_text_width(str(h.get_label()), SMALL) + 0.6 for h in handles]
    for ncol in range(len(widths), 1, -1):
        rows = math.ceil(len(widths) / ncol)
        columns = [widths[c : c + rows] for c in range(0, len(widths), rows)]
        if sum(max(column) for column in columns) <= width:
            return ncol
    return 1


# --- sheets and text ----------------------------------------------------------------------


def _sheet(width: float, height: float, title: str) -> tuple[Figure, Axes]:
    """A white figure with `title` on top and, below it, axes measured in inches."""
    lines = _wrap(title, width - 0.4, TITLE)
    title_height = 0.2 + len(lines) * TITLE * 1.3 / 72
    total = height + title_height
    fig = Figure(figsize=(width, total), dpi=DPI, facecolor="white")
    ax = fig.add_axes((0, 0, 1, height / total))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    text = _escape("\n".join(lines))
    fig.text(0.5, 1 - 0.12 / total, text, ha="center", va="top", fontsize=TITLE)
    return fig, ax


def _text(ax: Axes, x: float, y: float, text: str, size: float, **kwargs: object) -> None:
    kwargs = {"ha": "center", "va": "center", **kwargs}
    ax.text(x, y, _escape(text), fontsize=size, **kwargs)


def _escape(text: str) -> str:
    # A "$" pair would turn a label into mathtext, which can fail on arbitrary op names.
    return text.replace("$", r"\$")


def _text_width(text: str, size: float) -> float:
    """The width of `text` in inches at `size` points (its widest line)."""
    font = FontProperties(size=size)
    return max(
        text_to_path.get_text_width_height_descent(line, font, ismath=False)[0] / 72
        for line in text.split("\n")
    )


def _wrap(text: str, width: float, size: float) -> list[str]:
    """`text` in lines at most `width` inches wide, broken after ' ' or '+', else ',' or '|'."""
    # Two passes, so a NAS-Bench-201 string breaks between its nodes before inside one.
    lines = []
    for line in _greedy(text, width, size, " +"):
        too_wide = _text_width(line, size) > width
        lines += _greedy(line, width, size, ",|") if too_wide else [line]
    return lines


def _greedy(text: str, width: float, size: float, breaks: str) -> list[str]:
    """Fill lines piece by piece, a piece ending after one of the `breaks` characters."""
    cls = re.escape(breaks)
    lines, line = [], ""
    for piece in re.findall(rf"[^{cls}]*[{cls}]|[^{cls}]+$", text):
        if line and _text_width(line + piece.rstrip(), size) > width:
            lines.append(line.rstrip())
            line = piece
        else:
            line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]
