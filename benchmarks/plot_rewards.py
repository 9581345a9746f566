"""Plot a run's rewards child by child, with a moving average and the best so far.

python benchmarks/plot_rewards.py <run dir> <out.png> [--window 10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from app.compare import evaluated_children


def main() -> None:
    """Read children.jsonl and write the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--window", type=int, default=10)
    args = parser.parse_args()
    rewards = np.array([r["reward"] for r in evaluated_children(args.run_dir)])
    x = np.arange(1, len(rewards) + 1)
    smooth = np.convolve(rewards, np.ones(args.window) / args.window, mode="valid")
    fig = Figure(figsize=(7, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(x, rewards, s=10, color="#9ab", label="child reward (val. accuracy)")
    ax.plot(x[args.window - 1 :], smooth, color="#c33", lw=2, label=f"mean of last {args.window}")
    ax.plot(x, np.maximum.accumulate(rewards), color="#333", lw=1, ls="--", label="best so far")
    ax.set_xlabel("children evaluated")
    ax.set_ylabel("reward")
    ax.set_ylim(max(0.0, np.percentile(rewards, 2) - 0.05), 1.0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out)


if __name__ == "__main__":
    main()
