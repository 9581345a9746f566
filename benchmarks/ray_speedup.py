"""Children per minute with evaluator=local and evaluator=ray, measured in the same run.

    python benchmarks/ray_speedup.py [--children 32] [--batch 32] [--repeats 2]

Both searches use the default MNIST-1D search with the same seed, so they train the same
architectures and must find the same rewards. `local` trains one child at a time with one
thread; `ray` runs two workers with one thread each (`evaluator.num_cpus=2
evaluator.cpus_per_child=1`). Pairs are interleaved to cancel machine noise, and the median
ratio is printed. Rates use the search loop's own clock (summary.json `seconds`), which excludes
start-up; Ray's start-up is reported separately, with local on two threads as context. The
batch is 32 children per step: a step waits for its slowest child, so Ray wants batches several
times larger than its number of workers (on 2 cores: 1.63 with 8 per step, 1.69-1.72 with 16,
1.84 with 32).
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console

from app.config import compose_config
from app.search import search_main


def run(label: str, overrides: list[str], out: Path) -> dict:
    """One search; returns its summary with the wall time including start-up."""
    cfg = compose_config([*overrides, "test_best=false", "progress=false"])
    start = time.perf_counter()
    summary = search_main(cfg, out / label, Console(file=io.StringIO()))
    summary["wall"] = time.perf_counter() - start
    rate = 60 * summary["children"] / summary["seconds"]
    print(
        f"{label:28s} {summary['children']} children in {summary['seconds']:.1f} s search "
        f"({summary['wall']:.1f} s with start-up): {rate:.1f} children/min",
        flush=True,
    )
    summary["rate"] = rate
    return summary


def main() -> None:
    """Measure interleaved pairs (local, ray) and print the median ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    common = [f"budget.children={args.children}", f"budget.batch={args.batch}", "seed=0"]
    local = [*common, "child.threads=1"]
    ray = [
        *common,
        "evaluator=ray",
        "evaluator.num_cpus=2",
        "evaluator.cpus_per_child=1",
        "child.threads=1",
    ]
    ratios, startups = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for i in range(args.repeats):
            a = run(f"local, 1 thread #{i + 1}", local, out)
            b = run(f"ray, 2 workers x 1 thread #{i + 1}", ray, out)
            assert a["best_reward"] == b["best_reward"], "local and ray disagree"
            ratios.append(b["rate"] / a["rate"])
            startups.append(b["wall"] - b["seconds"])
        both = run("local, 2 threads", [*common, "child.threads=2"], out)
    print("same rewards from local and ray in every pair: True")
    print(
        f"ray_speedup: ray / local(1 thread) = {statistics.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}, {len(ratios)} pairs)"
    )
    print(
        f"context: local with 2 threads ran {both['rate']:.1f} children/min; "
        f"Ray's start-up took {statistics.median(startups):.1f} s per search"
    )


if __name__ == "__main__":
    main()
