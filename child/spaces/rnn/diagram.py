"""The recurrent cell's figure: its nodes with their activations, what each reads, the average."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from child.spaces.drawing import (
    CONV,
    FONT,
    IDENTITY,
    MIN_WIDTH,
    OTHER,
    POOL,
    SEP_CONV,
    SKIP_COLOURS,
    SMALL,
    arrow,
    sheet,
    text,
    text_width,
)

RNN_STYLES = {"tanh": CONV, "relu": SEP_CONV, "sigmoid": POOL, "identity": IDENTITY}


def recurrent_cell_figure(
    title: str, acts: Sequence[str], prevs: Sequence[int | None], ends: Sequence[int]
) -> Figure:
    """A recurrent cell: a row of nodes with their activations, arcs from what each reads.

    The loose ends (`ends`) are averaged, below the row, into the next hidden state.
    """
    labels = [f"{k}: {act}" for k, act in enumerate(acts)]
    box_w = max(text_width(label, FONT) for label in labels) + 0.35
    spacing = box_w + 0.45
    margin = 0.55 + text_width("x_t, h_t-1", SMALL)
    width = max(MIN_WIDTH, 2 * margin + (len(acts) - 1) * spacing + box_w)
    longest = max([i - j for i, j in enumerate(prevs) if j is not None and i - j > 1] or [0])
    caption, avg_row = 0.4, 0.4 + 0.35
    row = avg_row + 0.9
    fig, ax = sheet(width, row + 0.45 + 0.18 * longest + 0.25, title)
    xs = [width / 2 + (k - (len(acts) - 1) / 2) * spacing for k in range(len(acts))]
    half = box_w / 2
    for i, j in enumerate(prevs):
        if j is None:
            continue
        if i - j == 1:  # neighbours: a straight arrow between the boxes
            arrow(ax, (xs[j] + half, row), (xs[i] - half, row))
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
        text(ax, x, row, label, FONT, zorder=4)
    arrow(ax, (xs[0] - half - 0.3, row), (xs[0] - half, row))
    text(ax, xs[0] - half - 0.35, row, "x_t, h_t-1", SMALL, ha="right", color="#666666")
    centre = sum(xs[i] for i in ends) / len(ends)
    for i in ends:
        arrow(ax, (xs[i], row - 0.2), (centre, avg_row + 0.17))
    ax.add_patch(Circle((centre, avg_row), 0.17, fc="white", ec="#333333", lw=1.3, zorder=3))
    text(ax, centre, avg_row, "avg", SMALL, zorder=4)
    arrow(ax, (centre + 0.17, avg_row), (centre + 0.6, avg_row))
    text(ax, centre + 0.65, avg_row, "h_t", SMALL, ha="left", color="#666666")
    note = "each node: gate · act(W · input) + (1 - gate) · input;  h_t: mean of the loose ends"
    text(ax, width / 2, caption / 2, note, SMALL, color="#666666")
    return fig
