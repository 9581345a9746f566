"""Weight sharing against multi-trial search, and ENAS against random sampling, on equal terms.

    python benchmarks/shared_vs_multitrial.py [--seeds 0 1 2] [--children 100]
    python benchmarks/shared_vs_multitrial.py --methods darts --out darts_mnist1d.json

On MNIST-1D's 12-layer macro space (width 32, BatchNorm after skip sums: the space of
`experiment=enas_mnist1d`, where training every child is slowest), for each seed, interleaved so
that machine drift hits every method alike, and all with one thread:

- ENAS: `experiment=enas_mnist1d` (experiment=enas sized down, 60 supernet epochs), then its
  derived best retrained from scratch with `child=final` (`scripts/retrain.py run=<dir>`: 60
  epochs);
- random sampling with weight sharing: the same with `controller=random`;
- multi-trial: the default LSTM controller on the same space, `--children` children trained
  alone with the 5-epoch search recipe, then its best retrained the same way;
- DARTS (first order): `experiment=darts_mnist1d` (controller=darts, the same space and 60
  supernet epochs), then its argmax retrained the same way.

`--methods` picks some of them (by the first word of their names: enas, random, multi, darts),
`--epochs` sets the supernet epochs of every shared-weight method alike.

Reported per method: search wall time, retraining wall time, and the TEST accuracy of the
retrained best (mean ± std over seeds), the search-time validation accuracy of what each search
picked, the share of parameter-free ops in that pick, and in the final ranking (the final
policy's greedy pick and samples; DARTS ranks only its argmax).
Results go to benchmarks/results/<--out> (shared_vs_multitrial.json) after every run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from app.config import compose_config
from app.retrain import retrain_main
from app.search import search_main
from child.spaces import param_free_share
from core.architecture import Architecture

RESULTS = Path(__file__).resolve().parent / "results"
SPACE = ["search_space.num_layers=12", "search_space.widths=[32]", "search_space.sum_norm=true"]
METHODS = {
    "enas (shared weights)": ["experiment=enas_mnist1d"],
    "random + shared weights": ["experiment=enas_mnist1d", "controller=random"],
    "multi-trial lstm": [*SPACE, "controller=lstm"],
    "darts (shared weights)": ["experiment=darts_mnist1d"],
}


def run(method: str, seed: int, children: int, root: Path, epochs: int | None = None) -> dict:
    """One search and the retraining of its best; timings and accuracies."""
    quiet = Console(file=io.StringIO())
    overrides = [*METHODS[method], f"seed={seed}", "child.threads=1", "test_best=false"]
    if method.startswith("multi"):
        overrides.append(f"budget.children={children}")
    elif epochs is not None:
        overrides.append(f"evaluator.recipe.epochs={epochs}")
    run_dir = root / f"{method.split()[0]}-{seed}"
    tick = time.perf_counter()
    summary = search_main(compose_config(overrides), run_dir, quiet)
    search_seconds = time.perf_counter() - tick
    tick = time.perf_counter()
    retrained = retrain_main(
        compose_config([f"run={run_dir}", f"seed={seed}", "child.threads=1"], name="retrain"),
        root / f"retrain-{method.split()[0]}-{seed}",
        quiet,
    )
    result = {
        "method": method,
        "seed": seed,
        "search_seconds": round(search_seconds, 1),
        "retrain_seconds": round(time.perf_counter() - tick, 1),
        "best": summary["best"]["arch_str"],
        "search_val_acc": summary["best"]["val_acc"],
        "test_acc": retrained["test_acc"],
        "params": retrained["params"],
        "param_free_share_best": param_free_share(
            [Architecture.from_dict(summary["best"]["arch"])]
        ),
    }
    derive = run_dir / "derive.json"
    if derive.exists():
        ranking = json.loads(derive.read_text())["ranking"]
        archs = [Architecture.from_dict(r["arch"]) for r in ranking]
        result["param_free_share_final"] = param_free_share(archs)
    return result


def main() -> None:
    """Run every method for every seed, interleaved; print and save a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--children", type=int, default=100)
    parser.add_argument(
        "--methods", nargs="+", choices=[m.split()[0] for m in METHODS], default=None
    )
    parser.add_argument("--epochs", type=int, default=None, help="supernet epochs (shared)")
    parser.add_argument("--out", default="shared_vs_multitrial.json")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run directories here")
    args = parser.parse_args()
    methods = [m for m in METHODS if args.methods is None or m.split()[0] in args.methods]
    torch.set_num_threads(1)
    results: list[dict] = []
    keep = contextlib.nullcontext(str(args.keep)) if args.keep else None
    with keep or tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for method in methods:
                results.append(run(method, seed, args.children, Path(tmp), args.epochs))
                print(json.dumps(results[-1]), flush=True)
                RESULTS.mkdir(exist_ok=True)
                record = {"children": args.children, "epochs": args.epochs, "runs": results}
                (RESULTS / args.out).write_text(json.dumps(record, indent=2) + "\n")
    for method in methods:
        rows = [r for r in results if r["method"] == method]
        tests = [r["test_acc"] for r in rows]
        total = [r["search_seconds"] + r["retrain_seconds"] for r in rows]
        spread = statistics.stdev(tests) if len(tests) > 1 else 0.0
        print(
            f"{method}: test {100 * statistics.mean(tests):.2f} ± {100 * spread:.2f}% "
            f"(retrained, child=final), search + retrain {statistics.mean(total) / 60:.1f} min, "
            f"parameter-free ops in the pick "
            f"{100 * statistics.mean(r['param_free_share_best'] for r in rows):.0f}%"
        )


if __name__ == "__main__":
    main()
