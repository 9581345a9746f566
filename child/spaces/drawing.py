"""How architectures are drawn: the sheet, boxes, chains, arrows, text and legends they share.

Each space draws its own figure in its folder (`child/spaces/<name>/diagram.py`) from these
parts: `sheet` (a titled figure measured in inches), `text`, `arrow`, `legend_patch`, the box
colours (`Style` and the shared ones: `CONV`, `POOL`, ...), and `chain_figure`, a vertical chain
of `Box`es with skip arcs into ⊕ sums and a legend. `generic_figure`, a chain of `str(layer)`
boxes, draws a space with no figure of its own (`child.spaces.draw_architecture`), and
`render` turns any figure into an RGB array and a PNG.

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
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.textpath import text_to_path

from core.architecture import Architecture

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

# Generic spaces: ops take these in order of first appearance.
PALETTE = (CONV, POOL, SEP_CONV, FC, OTHER, IDENTITY)


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


# --- a space without a figure of its own ---------------------------------------------------


def generic_figure(arch: Architecture, title: str) -> Figure:
    """Any other space: one box per layer, labelled `str(layer)`, coloured by op."""
    colours: dict[str, Style] = {}
    for layer in arch.layers:
        colours.setdefault(layer.op, PALETTE[len(colours) % len(PALETTE)])
    boxes = [
        Box("\n".join(_wrap(str(layer), 4.0, FONT)), colours[layer.op], str(i))
        for i, layer in enumerate(arch.layers)
    ]
    return chain_figure(title, boxes or [Box("(no layers)", ENDS)], [])


# --- chains -------------------------------------------------------------------------------


def chain_figure(
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
    left = 0.3 + (max(text_width(n, SMALL) for n in notes) + 0.15 if notes else 0.0)
    right = 0.3 + per_inch * max(chords, default=0.0)
    width = left + chain.width + right
    if width < MIN_WIDTH:
        left += (MIN_WIDTH - width) / 2
        right += (MIN_WIDTH - width) / 2
        width = MIN_WIDTH
    ncol = _legend_columns(legend, width - 0.3)
    legend_height = 0.19 * math.ceil(len(legend) / ncol) + 0.15 if legend else 0.0
    height = 0.3 + chain.depth + 0.3 + legend_height
    fig, ax = sheet(width, height, title)
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
    width = max(2.0, max(text_width(box.label, FONT) for box in boxes) + BOX_PAD)
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
        text(ax, centre, y, box.label, FONT, zorder=3)
        if box.note:
            text(ax, centre - half - 0.15, y, box.note, SMALL, ha="right", color="#777777")
    for k in range(len(ys) - 1):
        bottom = ys[k] - chain.heights[k] / 2
        below = ys[k + 1] + chain.heights[k + 1] / 2
        _connect(ax, centre, bottom, below, top - chain.sums[k] if k in chain.sums else None)


def _connect(ax: Axes, x: float, bottom: float, below: float, total: float | None) -> None:
    """An arrow from one box down to the next, through a ⊕ at height `total` when there is one."""
    if total is None:
        arrow(ax, (x, bottom), (x, below))
        return
    ax.add_patch(Circle((x, total), SUM_RADIUS, fc="white", ec=LINE, lw=1.1, zorder=3))
    text(ax, x, total, "+", FONT, color=LINE, zorder=4)
    arrow(ax, (x, bottom), (x, total + SUM_RADIUS))
    arrow(ax, (x, total - SUM_RADIUS), (x, below))


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
    arrow(ax, port, (centre + SUM_RADIUS, port[1]), color=SKIP)


def arrow(
    ax: Axes, start: tuple[float, float], end: tuple[float, float], color: str = LINE
) -> None:
    """A straight arrow from `start` to `end` (inches), tip at `end`."""
    patch = FancyArrowPatch(
        start, end, arrowstyle="-|>", mutation_scale=10, lw=1.1, color=color, shrinkA=0, shrinkB=0
    )
    ax.add_patch(patch)


def legend_patch(label: str, style: Style) -> Patch:
    """A legend entry: a swatch of `style`'s colours, labelled `label`."""
    return Patch(fc=style.fill, ec=style.edge, label=label)


def _legend_columns(handles: Sequence[Artist], width: float) -> int:
    """The most legend columns that fit in `width` inches (entries fill columns in order)."""
    widths = [text_width(str(h.get_label()), SMALL) + 0.6 for h in handles]
    for ncol in range(len(widths), 1, -1):
        rows = math.ceil(len(widths) / ncol)
        columns = [widths[c : c + rows] for c in range(0, len(widths), rows)]
        if sum(max(column) for column in columns) <= width:
            return ncol
    return 1


# --- sheets and text ----------------------------------------------------------------------


def sheet(width: float, height: float, title: str) -> tuple[Figure, Axes]:
    """A white figure with `title` on top and, below it, axes measured in inches."""
    lines = _wrap(title, width - 0.4, TITLE)
    title_height = 0.2 + len(lines) * TITLE * 1.3 / 72
    total = height + title_height
    fig = Figure(figsize=(width, total), dpi=DPI, facecolor="white")
    ax = fig.add_axes((0, 0, 1, height / total))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    heading = _escape("\n".join(lines))
    fig.text(0.5, 1 - 0.12 / total, heading, ha="center", va="top", fontsize=TITLE)
    return fig, ax


def text(ax: Axes, x: float, y: float, content: str, size: float, **kwargs: object) -> None:
    """`content` at (x, y) inches, centred unless `kwargs` say otherwise, never as mathtext."""
    kwargs = {"ha": "center", "va": "center", **kwargs}
    ax.text(x, y, _escape(content), fontsize=size, **kwargs)


def _escape(text: str) -> str:
    # A "$" pair would turn a label into mathtext, which can fail on arbitrary op names.
    return text.replace("$", r"\$")


def text_width(text: str, size: float) -> float:
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
        too_wide = text_width(line, size) > width
        lines += _greedy(line, width, size, ",|") if too_wide else [line]
    return lines


def _greedy(text: str, width: float, size: float, breaks: str) -> list[str]:
    """Fill lines piece by piece, a piece ending after one of the `breaks` characters."""
    cls = re.escape(breaks)
    lines, line = [], ""
    for piece in re.findall(rf"[^{cls}]*[{cls}]|[^{cls}]+$", text):
        if line and text_width(line + piece.rstrip(), size) > width:
            lines.append(line.rstrip())
            line = piece
        else:
            line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]
