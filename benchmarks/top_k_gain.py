"""What top_k bought: the TEST accuracy of the cheap score's own first place against top-k's pick.

    python benchmarks/shared_vs_multitrial.py --methods enas-topk proxy-topk ... --keep RUNS
    python benchmarks/top_k_gain.py --runs RUNS --results shared_vs_multitrial_topk.json

For every kept top-k search (`<key>-<seed>` in RUNS, with a finalists.json) whose pick was not
the cheap score's first place, that first place is retrained from scratch exactly as the pick
was (`scripts/retrain.py run=<dir> arch=<it>`: `child=final`, 60 epochs, the run's seed and one
thread) and its TEST accuracy set beside the pick's (read from the benchmark's results file).
Where the pick was the first place, the two are the same run. Results:
benchmarks/results/top_k_gain.json.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
from pathlib import Path

import torch
from rich.console import Console

from app.config import compose_config
from app.retrain import retrain_main

RESULTS = Path(__file__).resolve().parent / "results"


def first_place_test(run_dir: Path, row: dict, seed: int, scratch: Path) -> float:
    """Retrain the finalist `row` of `run_dir` as the benchmark retrained picks; TEST accuracy."""
    arch_file = scratch / f"{run_dir.name}-first.json"
    arch_file.write_text(json.dumps(row))
    overrides = [f"run={run_dir}", f"arch={arch_file}", f"seed={seed}", "child.threads=1"]
    quiet = Console(file=io.StringIO())
    retrained = retrain_main(
        compose_config(overrides, name="retrain"), scratch / f"retrain-{run_dir.name}", quiet
    )
    return float(retrained["test_acc"])


def main() -> None:
    """Retrain each top-k search's cheap first place where it was not picked; print the gain."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="shared_vs_multitrial's --keep")
    parser.add_argument("--results", nargs="+", default=["shared_vs_multitrial_topk.json"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    picked_test = {
        (r["key"], r["seed"]): r["test_acc"]
        for name in args.results
        for r in json.loads((RESULTS / name).read_text())["runs"]
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for (key, seed), pick_test in sorted(picked_test.items()):
            run_dir = args.runs / f"{key}-{seed}"
            if not (run_dir / "finalists.json").exists():
                continue
            finalists = json.loads((run_dir / "finalists.json").read_text())
            first = finalists["finalists"][0]
            same = finalists["picked"] == 1
            test = pick_test if same else first_place_test(run_dir, first, seed, Path(tmp))
            rows.append(
                {
                    "key": key,
                    "seed": seed,
                    "picked_cheap_rank": finalists["picked"],
                    "test_pick": pick_test,
                    "test_first_place": test,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / "top_k_gain.json").write_text(json.dumps(rows, indent=2) + "\n")
    for key in dict.fromkeys(r["key"] for r in rows):
        mine = [r for r in rows if r["key"] == key]
        gain = [100 * (r["test_pick"] - r["test_first_place"]) for r in mine]
        print(
            f"{key}: TEST of the pick − of the cheap first place {statistics.mean(gain):+.2f} "
            f"points (per seed {', '.join(f'{g:+.1f}' for g in gain)})"
        )


if __name__ == "__main__":
    main()
