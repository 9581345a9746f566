"""Accuracy or macro F1 as the reward, on imbalanced MNIST-1D: what the found network is worth.

    python benchmarks/imbalanced_reward.py [--imbalance 0.1] [--seed 0] [--retrain-seeds 0 1]

Two default searches (LSTM, 100 children, `dataset.imbalance`: class k keeps the share
imbalance^(k/9) of its training and validation examples) that differ only in
`reward.metric`: accuracy, then macro F1. The best child of each is retrained with
`child=final` (60 epochs) on each retrain seed, and its test accuracy and test macro F1 are
reported (the test set is MNIST-1D's own, balanced). Results go to
benchmarks/results/imbalanced_reward.json.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
from pathlib import Path

from rich.console import Console

from app.config import compose_config
from app.retrain import retrain_main
from app.search import search_main

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    """Search with each metric, retrain each best, print and save the test numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imbalance", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain-seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    quiet = Console(file=io.StringIO())
    out: dict = {"imbalance": args.imbalance, "seed": args.seed, "metrics": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for metric in ("accuracy", "macro_f1"):
            run_dir = Path(tmp) / metric
            overrides = [
                f"dataset.imbalance={args.imbalance}",
                f"reward.metric={metric}",
                f"seed={args.seed}",
                "test_best=false",
                "progress=false",
            ]
            summary = search_main(compose_config(overrides), run_dir, quiet)
            best = summary["best"]
            tests = []
            for seed in args.retrain_seeds:
                raw = compose_config(
                    [f"run={run_dir}", f"seed={seed}", "progress=false"], name="retrain"
                )
                result = retrain_main(raw, Path(tmp) / f"{metric}-retrain-{seed}", quiet)
                tests.append(result["test_metrics"])
            row = {
                "best_arch": best["arch_str"],
                "search_val_metrics": best["val_metrics"],
                "test_accuracy": [t["accuracy"] for t in tests],
                "test_macro_f1": [t["macro_f1"] for t in tests],
            }
            out["metrics"][metric] = row
            print(
                f"reward.metric={metric}: best {best['arch_str']}\n"
                f"  search (validation, imbalanced): accuracy {best['val_metrics']['accuracy']:.4f}"
                f", macro F1 {best['val_metrics']['macro_f1']:.4f}\n"
                f"  retrained TEST accuracy {mean(row['test_accuracy'])}, "
                f"TEST macro F1 {mean(row['test_macro_f1'])} "
                f"(retrain seeds {args.retrain_seeds})",
                flush=True,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "imbalanced_reward.json").write_text(json.dumps(out, indent=2) + "\n")
    print("wrote benchmarks/results/imbalanced_reward.json")


def mean(values: list[float]) -> str:
    """`0.9123 ± 0.0040` over the values (± 0 for one)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {std:.4f}"


if __name__ == "__main__":
    main()
