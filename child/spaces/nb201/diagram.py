"""The NAS-Bench-201 cell's figure: its nodes in a row, its labelled edges arcing between."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch

from child.spaces.drawing import (
    CONV,
    FONT,
    IDENTITY,
    MIN_WIDTH,
    OTHER,
    POOL,
    SMALL,
    Style,
    sheet,
    text,
    text_width,
)

NONE_EDGE = Style("#ffffff", "#aaaaaa")
NB201_STYLES = {
    "none": NONE_EDGE,
    "skip_connect": IDENTITY,
    "nor_conv_1x1": CONV,
    "nor_conv_3x3": CONV,
    "avg_pool_3x3": POOL,
}
# How far each NAS-Bench-201 edge swings from the row of nodes (inches; + above, − below), in
# NB201_EDGES order: neighbours are straight, the three longer edges arc clear of them.
NB201_BENDS = (0.0, 0.75, 0.0, 1.75, -0.85, 0.0)
NODE_RADIUS = 0.22


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
    spacing = max(1.4, max(text_width(op, FONT) for op in ops) + 0.7)
    margin = 0.4 + text_width("output", SMALL)
    width = max(MIN_WIDTH, 2 * margin + (num_nodes - 1) * spacing)
    low, high = min(bends), max(bends)
    caption = 0.4
    row = caption + 0.3 - low
    fig, ax = sheet(width, row + high + 0.35, title)
    xs = [width / 2 + (k - (num_nodes - 1) / 2) * spacing for k in range(num_nodes)]
    for (target, source), op, bend in zip(edges, ops, bends, strict=True):
        _nb201_edge(ax, (xs[source], row), (xs[target], row), op, bend)
    for k, x in enumerate(xs):
        ax.add_patch(Circle((x, row), NODE_RADIUS, fc="white", ec="#333333", lw=1.5, zorder=3))
        text(ax, x, row, str(k), FONT, weight="bold", zorder=4)
    gap = NODE_RADIUS + 0.1
    text(ax, xs[0] - gap, row, "input", SMALL, ha="right", color="#666666")
    text(ax, xs[-1] + gap, row, "output", SMALL, ha="left", color="#666666")
    note = "node j = sum over i < j of op(i→j)(node i);  dashed: none (no connection)"
    text(ax, width / 2, caption / 2, note, SMALL, color="#666666")
    return fig


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
    text(ax, *middle, op, FONT, bbox=label, color=colour, zorder=5)
