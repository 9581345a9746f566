"""The cost/accuracy trade-off a search found: its Pareto front, as records and as a plot.

A child is on the front when no other child is at least as accurate at no greater cost and
strictly better in one of the two. The accuracy is the search-time one (`val_acc`: a trained
child's validation accuracy, or a table's value column), never a report column, so the front
is what the search itself could see.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from child.evaluation.result import Status

PARETO_PNG = "pareto.png"


def front_records(
    records: Sequence[dict[str, Any]], cost: str = "params", accuracy: str = "val_acc"
) -> list[dict[str, Any]]:
    """The non-dominated records (lowest `cost`, highest `accuracy`), cheapest first.

    Failed children and those without a positive cost are left out; of several records with
    the same cost and accuracy the first is kept.
    """
    usable = [
        r for r in records if r.get("status", Status.OK) == Status.OK and (r.get(cost) or 0) > 0
    ]
    # Cheapest first, and among equal costs the most accurate first: then one sweep keeps
    # each record that beats the best accuracy seen at any lower cost.
    ordered = sorted(usable, key=lambda r: (r[cost], -r[accuracy]))
    front: list[dict[str, Any]] = []
    for record in ordered:
        if not front or record[accuracy] > front[-1][accuracy]:
            front.append(record)
    return front


def plot_front(
    records: Sequence[dict[str, Any]],
    front: Sequence[dict[str, Any]],
    path: Path,
    cost: str = "params",
    accuracy_label: str = "validation accuracy (search)",
) -> None:
    """Write a PNG: every evaluated child as a grey dot, the front as a red staircase."""
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")  # no pyplot: no global state
    ax = fig.add_subplot()
    points = [r for r in records if (r.get(cost) or 0) > 0 and r.get("status") == Status.OK]
    ax.scatter(
        [r[cost] for r in points],
        [r["val_acc"] for r in points],
        s=10,
        color="0.6",
        label=f"children ({len(points)})",
    )
    ax.step(
        [r[cost] for r in front],
        [r["val_acc"] for r in front],
        where="post",
        color="C3",
        marker="o",
        label=f"Pareto front ({len(front)})",
    )
    ax.set_xscale("log")
    ax.set_xlabel(f"{cost} (log scale)")
    ax.set_ylabel(accuracy_label)
    ax.set_title("Cost against accuracy of the children a search evaluated")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.savefig(path, dpi=110, format="png")


def front_summary(front: Sequence[dict[str, Any]], cost: str = "params") -> list[dict[str, Any]]:
    """The front as short JSON records: architecture, cost, accuracy, reward, report values."""
    keep = ("index", "arch_str", cost, "val_acc", "reward", "report")
    return [{key: r[key] for key in keep if key in r} for r in front]
