"""Run every CPU benchmark in turn; each one's output is also saved to benchmarks/results/.

    python benchmarks/run_all.py [--only NAME ...]

The figures in BENCHMARKS.md come from these scripts. Speed figures are ratios against a
baseline measured in the same run, because shared machines are noisy. The GPU smoke test
(benchmarks/gpu_smoke.sh) is not included: it needs CUDA.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BENCHMARKS = {
    "framework_overhead": ["framework_overhead.py"],
    "controller_overhead": ["controller_overhead.py"],
    "nb201_efficiency": ["nb201_efficiency.py"],
    "nb201_protocol": ["nb201_protocol.py"],
    "nb201_cost": ["nb201_protocol.py", "--cost"],
    "ray_speedup": ["ray_speedup.py"],
    "default_search": ["default_search.py"],
    "shared_ranking": ["shared_ranking.py"],
    "shared_ranking_default": ["shared_ranking.py", "--space", "default", "--epochs", "20", "60"],
}


def machine() -> str:
    """One line describing where the figures were measured."""
    cores = len(os.sched_getaffinity(0))
    return (
        f"{date.today()} · {platform.processor() or platform.machine()} · {cores} cores · "
        f"Python {platform.python_version()} · torch {torch.__version__}"
    )


def run(name: str, args: list[str]) -> float:
    """Run one benchmark, echoing and saving its output; return its wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / args[0]), *args[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        print(line, end="", flush=True)
        lines.append(line)
    if proc.wait() != 0:
        raise SystemExit(f"benchmark {name} failed (exit {proc.returncode})")
    seconds = time.perf_counter() - start
    (RESULTS / f"{name}.txt").write_text("".join(lines) + f"# {seconds:.0f} s · {machine()}\n")
    return seconds


def main() -> None:
    """Run the selected benchmarks and print the time each took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), default=None)
    names = parser.parse_args().only or list(BENCHMARKS)
    RESULTS.mkdir(parents=True, exist_ok=True)
    print(f"# {machine()}", flush=True)
    times = {}
    for name in names:
        print(f"\n## {name}", flush=True)
        times[name] = run(name, BENCHMARKS[name])
    print("\n" + " · ".join(f"{n} {s / 60:.1f} min" for n, s in times.items()))
    print(f"total: {sum(times.values()) / 60:.1f} min")


if __name__ == "__main__":
    main()
