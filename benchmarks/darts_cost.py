"""What a DARTS epoch costs against an ENAS epoch over the same supernet, measured in one run.

    python benchmarks/darts_cost.py [--pairs 3] [--epochs 2]

`experiment=darts_mnist1d` and `experiment=enas_mnist1d` (MNIST-1D, the 12-layer macro space of
width 32) run for `--epochs` supernet epochs each, alternately, `--pairs` times, on one thread
and without retraining. Reported: seconds per epoch of each search (the search loop's own
clock) and the ratio DARTS / ENAS per pair and as the median, since absolute times drift.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
from pathlib import Path

import torch
from rich.console import Console

from app.config import compose_config
from app.search import search_main

METHODS = {"enas": "experiment=enas_mnist1d", "darts": "experiment=darts_mnist1d"}


def seconds_per_epoch(method: str, epochs: int, run_dir: Path) -> float:
    """One short search of `method`; its search seconds per supernet epoch."""
    overrides = [
        METHODS[method],
        f"evaluator.recipe.epochs={epochs}",
        "child.threads=1",
        "test_best=false",
        "progress=false",
    ]
    summary = search_main(compose_config(overrides), run_dir, Console(file=io.StringIO()))
    return summary["seconds"] / epochs


def main() -> None:
    """Alternate the two searches; print each pair's times and the median ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(args.pairs):
            times = {
                method: seconds_per_epoch(method, args.epochs, Path(tmp) / f"{method}-{pair}")
                for method in METHODS
            }
            ratios.append(times["darts"] / times["enas"])
            print(
                f"pair {pair + 1}: ENAS {times['enas']:.1f} s/epoch, DARTS {times['darts']:.1f} "
                f"s/epoch, DARTS / ENAS {ratios[-1]:.2f}",
                flush=True,
            )
    print(f"median DARTS / ENAS seconds per epoch: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
