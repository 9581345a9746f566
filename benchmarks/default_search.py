"""The default search end to end, and accuracy under a 5,000-parameter limit (MNIST-1D).

    python benchmarks/default_search.py [--children 100] [--skip-default] [--skip-cost]
                                        [--retrain-seeds 3] [--seed 0]

Everything runs through the real command-line scripts, as a user would run them:

1. `scripts/search.py` with the default config: children per minute, the mean reward per quarter
   of the run (the learning curve), the best validation accuracy, and the peak resident memory
   of the search process; then `scripts/retrain.py run=<dir>` (child=final) for the test
   accuracy of the best architecture.
2. A cost-aware search (`reward=cost reward.target_params=5000 reward.beta=-1`, MnasNet's hard
   constraint) and random search with the same reward and budget. From each, the child with the
   best validation accuracy among those with at most 5,000 parameters is retrained with
   child=final and seeds 0, 1, 2 (`--retrain-seeds`); the mean and std of its test accuracy and
   its parameter count are reported. MNIST-1D's test set has 1,000 examples, so one example is
   0.1 points: a single retrain cannot separate two good small networks.

Results go to benchmarks/results/default_search.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.compare import evaluated_children
from child.evaluation.result import Status

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
LIMIT = 5000
COST = ["reward=cost", f"reward.target_params={LIMIT}", "reward.beta=-1"]


def script(name: str, args: list[str], cwd: Path) -> float:
    """Run scripts/<name>.py; return its wall time. Raise with its stderr if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name}.py {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def quarters(values: list[float]) -> list[float]:
    """Mean of each quarter of `values`."""
    q = len(values) // 4
    return [sum(values[i * q : (i + 1) * q]) / q for i in range(4)]


def retrain(run_dir: Path, out: Path, arch_file: Path | None = None, seed: int = 0) -> dict:
    """Retrain with child=final; return result.json."""
    args = [f"run={run_dir}", f"hydra.run.dir={out}", "progress=false", f"seed={seed}"]
    if arch_file is not None:
        args.append(f"arch={arch_file}")
    script("retrain", args, out.parent)
    return json.loads((out / "result.json").read_text())


def default_search(tmp: Path, budget: int) -> dict:
    """Figure 4a and 5: the default search, its learning curve, memory and retrained test acc."""
    run_dir = tmp / "default"
    wall = script("search", [f"budget.children={budget}", f"hydra.run.dir={run_dir}"], tmp)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = json.loads((run_dir / "summary.json").read_text())
    rewards = [c["reward"] for c in evaluated_children(run_dir)]
    final = retrain(run_dir, tmp / "default_retrain")
    result = {
        "children": summary["children"],
        "search_minutes": summary["seconds"] / 60,
        "wall_minutes": wall / 60,
        "children_per_minute": 60 * summary["children"] / summary["seconds"],
        "quarter_means": quarters(rewards),
        "best_val_acc": summary["best"]["val_acc"],
        "best_arch": summary["best"]["arch_str"],
        "best_params": summary["best"]["params"],
        "test_acc_search_recipe": summary["test_acc"],
        "test_acc_final": final["test_acc"],
        "final_epochs": final["epochs"],
        "peak_rss_mib": peak_mib,
        "controller_share": summary["controller_seconds"] / summary["seconds"],
    }
    q = result["quarter_means"]
    print(
        f"default search: {result['children']} children in {result['search_minutes']:.1f} min "
        f"({result['children_per_minute']:.1f}/min); reward per quarter "
        + " / ".join(f"{v:.4f}" for v in q)
        + f" (last - first = {100 * (q[3] - q[0]):+.1f} points)"
    )
    print(
        f"default search: best val acc {result['best_val_acc']:.4f} ({result['best_params']:,} "
        f"params), test acc {result['test_acc_final']:.4f} after retraining "
        f"{result['final_epochs']} epochs (child=final)"
    )
    print(f"memory: peak resident memory of the default search {peak_mib:.0f} MiB")
    return result


def best_under_limit(run_dir: Path) -> dict | None:
    """The child with the best validation accuracy among those within the size limit."""
    kids = evaluated_children(run_dir)
    feasible = [c for c in kids if c["status"] == Status.OK and c["params"] <= LIMIT]
    return max(feasible, key=lambda c: c["val_acc"], default=None)


def cost_aware(tmp: Path, budget: int, seeds: int, search_seed: int = 0) -> dict:
    """Figure 4b: the LSTM with a cost-aware reward vs random search, same reward and budget."""
    result = {}
    for name, controller in (("lstm", "lstm"), ("random", "random")):
        run_dir = tmp / f"cost_{name}"
        args = [
            *COST,
            f"controller={controller}",
            f"seed={search_seed}",
            f"budget.children={budget}",
            "test_best=false",
            f"hydra.run.dir={run_dir}",
        ]
        script("search", args, tmp)
        kids = evaluated_children(run_dir)
        best = best_under_limit(run_dir)
        entry = {
            "feasible_children": sum(c["params"] <= LIMIT for c in kids),
            "quarter_means": quarters([c["reward"] for c in kids]),
        }
        if best is not None:
            arch_file = tmp / f"cost_{name}_arch.json"
            arch_file.write_text(json.dumps(best))
            tests = [
                retrain(run_dir, tmp / f"cost_{name}_retrain{s}", arch_file, s)["test_acc"]
                for s in range(seeds)
            ]
            entry |= {
                "arch": best["arch_str"],
                "params": best["params"],
                "val_acc": best["val_acc"],
                "test_acc_final_seeds": tests,
                "test_acc_final": statistics.mean(tests),
                "test_acc_final_std": statistics.stdev(tests) if seeds > 1 else 0.0,
            }
        result[name] = entry
        print(
            f"cost-aware, {name}: {entry['feasible_children']}/{len(kids)} children within "
            f"{LIMIT:,} params; best within the limit: "
            + (
                f"{entry['params']:,} params, val {entry['val_acc']:.4f}, test "
                f"{entry['test_acc_final']:.4f} ± {entry['test_acc_final_std']:.4f} after "
                f"child=final, {seeds} seeds ({entry['arch']})"
                if best
                else "none"
            )
        )
    return result


def main() -> None:
    """Run the figures and write benchmarks/results/default_search.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=100)
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="search seed of the cost-aware runs")
    parser.add_argument("--retrain-seeds", type=int, default=3, help="retrains per cost-aware best")
    args = parser.parse_args()
    out: dict = {"children": args.children, "seed": args.seed}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_default:
            out["default"] = default_search(Path(tmp), args.children)
        if not args.skip_cost:
            out["cost_aware"] = cost_aware(Path(tmp), args.children, args.retrain_seeds, args.seed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "default_search" if args.seed == 0 else f"default_search_seed{args.seed}"
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
