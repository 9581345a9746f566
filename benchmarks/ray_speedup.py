"""Children per minute with evaluator=local and evaluator=ray, measured in the same run.

    python benchmarks/ray_speedup.py [--children 16] [--batch 4]

Both searches use the default MNIST-1D search with the same seed, so they train the same
architectures. `local` trains one child at a time with one thread; `ray` runs two workers with
one thread each (`evaluator.num_cpus=2 evaluator.cpus_per_child=1`). Local with two threads is
measured too, as context. Rates use the search loop's own clock (summary.json `seconds`), which
excludes start-up; Ray's start-up is reported separately.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from rich.console import Console

from controller.app import search_main
from controller.config import compose_config


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
    """Measure and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    common = [f"budget.children={args.children}", f"budget.batch={args.batch}", "seed=0"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        local1 = run("local, 1 thread", [*common, "child.threads=1"], out)
        ray2 = run(
            "ray, 2 workers x 1 thread",
            [
                *common,
                "evaluator=ray",
                "evaluator.num_cpus=2",
                "evaluator.cpus_per_child=1",
                "child.threads=1",
            ],
            out,
        )
        local2 = run("local, 2 threads", [*common, "child.threads=2"], out)
    same = [r["best_reward"] for r in (local1, ray2)]
    print(f"same best reward (local 1 thread vs ray): {same[0] == same[1]} ({same[0]:.4f})")
    print(f"ray_speedup: ray / local(1 thread) = {ray2['rate'] / local1['rate']:.2f}")
    print(f"ray_speedup: ray / local(2 threads) = {ray2['rate'] / local2['rate']:.2f}")
    print(
        f"ray start-up: {ray2['wall'] - ray2['seconds']:.1f} s "
        f"(local: {local1['wall'] - local1['seconds']:.1f} s)"
    )


if __name__ == "__main__":
    main()
