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
SNIP = "proxy:snip,batch_size=16"
RANK_DEFAULT = [
    "params",
    SNIP,
    "proxy:synflow",
    "reward:snip+params,batch_size=16",
    "ws:epochs=20",
    "ws:epochs=20/loss",
    "rank:ws:epochs=20/loss+params",
    f"rank:ws:epochs=20/loss+{SNIP}",
]
RANK_12 = [
    "params",
    SNIP,
    "proxy:grad_norm,batch_size=16",
    "reward:snip+params,batch_size=16",
    "ws:epochs=60",
    "ws:epochs=60/loss",
    "rank:ws:epochs=60/loss+params",
    f"rank:ws:epochs=60/loss+{SNIP}",
]
BENCHMARKS = {
    "framework_overhead": ["framework_overhead.py"],
    "controller_overhead": ["controller_overhead.py"],
    "nb201_efficiency": ["nb201_efficiency.py"],
    "nb201_protocol": ["nb201_protocol.py"],
    "nb201_cost": ["nb201_protocol.py", "--cost"],
    "ray_speedup": ["ray_speedup.py"],
    "default_search": ["default_search.py"],
    # Section 14: the ranking truth (cached, so a rerun only scores), then every cheap score.
    "ranking_truth": [
        "ranking_truth.py",
        "--space",
        "default",
        "--seeds",
        "0",
        "1",
        "2",
        "--archs",
        "30",
    ],
    "ranking_truth_heldout": [
        "ranking_truth.py",
        "--space",
        "default",
        "--seeds",
        "1000",
        "1001",
        "1002",
        "--archs",
        "30",
    ],
    "ranking_truth_12": [
        "ranking_truth.py",
        "--space",
        "enas_mnist1d",
        "--seeds",
        "0",
        "1",
        "2",
        "--archs",
        "20",
    ],
    "ranking_truth_12_heldout": [
        "ranking_truth.py",
        "--space",
        "enas_mnist1d",
        "--seeds",
        "1000",
        "1001",
        "1002",
        "--archs",
        "20",
    ],
    "proxy_ranking": ["proxy_ranking.py"],
    **{
        f"shared_ranking_{split}_{space}": [
            "shared_ranking.py",
            "--spaces",
            space,
            "--seeds",
            *seeds,
            "--tag",
            f"{split}-{space}",
            "--methods",
            *methods,
        ]
        for space, methods in (("default", RANK_DEFAULT), ("enas_mnist1d", RANK_12))
        for split, seeds in (("tuning", ["0", "1", "2"]), ("heldout", ["1000", "1001", "1002"]))
    },
    # Section 17: cheap searches plus top-k against a 100-child multi-trial search.
    "shared_vs_multitrial_topk": [
        "shared_vs_multitrial.py",
        "--methods",
        "multi",
        "enas-topk",
        "enas20-topk",
        "proxy-topk",
        "enas-snip-topk",
        "--seeds",
        "1000",
        "1001",
        "1002",
        "--out",
        "shared_vs_multitrial_topk.json",
    ],
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
