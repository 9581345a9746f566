"""Cheap searches against multi-trial search, on equal terms: TEST accuracy and wall time.

    python benchmarks/shared_vs_multitrial.py --methods multi enas-topk proxy-topk \
        --seeds 1000 1001 1002 --out shared_vs_multitrial_topk.json     # issue 21, part 5
    python benchmarks/shared_vs_multitrial.py [--seeds 0 1 2] [--children 100]  # section 7
    python benchmarks/shared_vs_multitrial.py --methods darts --out darts_mnist1d.json

On MNIST-1D's 12-layer macro space (width 32, BatchNorm after skip sums: the space of
`experiment=enas_mnist1d`, where training every child is slowest), for each seed, interleaved so
that machine drift hits every method alike, and all with one thread. Each search's pick is
retrained from scratch with `child=final` (`scripts/retrain.py run=<dir>`: 60 epochs) and its
TEST accuracy reported. Methods (`--methods`, by key):

- `multi`: the default LSTM controller, `--children` children trained alone with the 5-epoch
  search recipe;
- `enas`: `experiment=enas_mnist1d` (experiment=enas sized down, 60 supernet epochs);
- `random`: the same with `controller=random` (random sampling with weight sharing);
- `darts`: `experiment=darts_mnist1d` (first order, the same space and 60 supernet epochs);
- `enas-topk`: `experiment=enas_mnist1d` deriving by shared-weight validation loss, then
  `top_k=--top-k`: the derived top k trained alone with the search recipe, the best kept;
- `enas<E>-topk` (e.g. `enas20-topk`): the same with E supernet epochs;
- `enas[<E>]-<proxy>-topk` (e.g. `enas-snip-topk`): the same, derive ranking by the mean of the
  ranks by loss and by the zero-cost proxy (`evaluator.derive_prior=<proxy>`);
- `proxy-topk`: `--children` architectures sampled at random and scored by the zero-cost proxy
  `--proxy` at initialisation (`evaluator=proxy`), then `top_k=--top-k` the same way.

`--epochs` sets the supernet epochs of `enas`, `random` and `darts` alike.
Reported per method: search wall time (the top-k training included), retraining wall time, the
TEST accuracy of the retrained pick (mean ± std over seeds), the search-time validation
accuracy of the pick (shared weights, a proxy score, or trained alone: not comparable across
methods), the share of parameter-free ops in the pick and in the final ranking.
Results go to benchmarks/results/<--out> (shared_vs_multitrial.json) after every run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import statistics
import sys
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
FIXED = {
    "enas": ("enas (shared weights)", ["experiment=enas_mnist1d"]),
    "random": ("random + shared weights", ["experiment=enas_mnist1d", "controller=random"]),
    "multi": ("multi-trial lstm", [*SPACE, "controller=lstm"]),
    "darts": ("darts (shared weights)", ["experiment=darts_mnist1d"]),
}


def method_overrides(key: str, args: argparse.Namespace) -> tuple[str, list[str]]:
    """The label and search overrides of method `key` (see the module docstring)."""
    if key in FIXED:
        label, overrides = FIXED[key]
        if key == "multi":
            return label, [*overrides, f"budget.children={args.children}"]
        epochs = [f"evaluator.recipe.epochs={args.epochs}"] if args.epochs else []
        return label, [*overrides, *epochs]
    top_k = f"top_k={args.top_k}"
    if match := re.fullmatch(r"enas(\d*)(?:-([a-z_+]+))?-topk", key):
        epochs = [f"evaluator.recipe.epochs={match[1]}"] if match[1] else []
        prior = [f"evaluator.derive_prior={match[2]}"] if match[2] else []
        label = (
            f"enas{match[1] and ' ' + match[1] + ' epochs'} (loss"
            f"{', ' + match[2] + ' prior' if match[2] else ''}) + top-{args.top_k}"
        )
        derive = ["evaluator.derive_by=loss", *prior]
        return label, ["experiment=enas_mnist1d", *derive, *epochs, top_k]
    if key == "proxy-topk":
        name, _, size = args.proxy.partition("@")
        proxy = ["evaluator=proxy", f"evaluator.proxy={name}", "controller=random"]
        if size:
            proxy.append(f"evaluator.batch_size={size}")
        label = f"proxy {args.proxy} + top-{args.top_k}"
        return label, [*SPACE, *proxy, f"budget.children={args.children}", top_k]
    raise SystemExit(f"error: --methods {key}: expected one of {KEYS}")


KEYS = "multi, enas, random, darts, enas[<epochs>][-<prior>]-topk, proxy-topk"


def run(key: str, seed: int, root: Path, args: argparse.Namespace) -> dict:
    """One search and the retraining of its pick; timings and accuracies."""
    quiet = Console(file=io.StringIO())
    method, overrides = method_overrides(key, args)
    overrides = [*overrides, f"seed={seed}", "child.threads=1", "test_best=false"]
    run_dir = root / f"{key}-{seed}"
    tick = time.perf_counter()
    summary = search_main(compose_config(overrides), run_dir, quiet)
    search_seconds = time.perf_counter() - tick
    tick = time.perf_counter()
    retrained = retrain_main(
        compose_config([f"run={run_dir}", f"seed={seed}", "child.threads=1"], name="retrain"),
        root / f"retrain-{key}-{seed}",
        quiet,
    )
    result = {
        "method": method,
        "key": key,
        "seed": seed,
        "overrides": overrides,
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
    if "top_k" in summary:
        result["top_k"] = summary["top_k"]
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
    parser.add_argument("--methods", nargs="+", default=["enas", "random", "multi"], help=KEYS)
    parser.add_argument("--epochs", type=int, default=None, help="supernet epochs (shared)")
    parser.add_argument("--top-k", type=int, default=5, help="finalists of the *-topk methods")
    parser.add_argument("--proxy", default="snip@16", help="proxy[@minibatch size], proxy-topk")
    parser.add_argument("--out", default="shared_vs_multitrial.json")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run directories here")
    args = parser.parse_args()
    for key in args.methods:
        method_overrides(key, args)  # an unknown method fails before any run
    torch.set_num_threads(1)
    results: list[dict] = []
    keep = contextlib.nullcontext(str(args.keep)) if args.keep else None
    with keep or tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for key in args.methods:
                results.append(run(key, seed, Path(tmp), args))
                print(json.dumps(results[-1]), flush=True)
                RESULTS.mkdir(exist_ok=True)
                record = {
                    "command": " ".join(
                        ["python benchmarks/shared_vs_multitrial.py", *sys.argv[1:]]
                    ),
                    "children": args.children,
                    "epochs": args.epochs,
                    "top_k": args.top_k,
                    "runs": results,
                }
                (RESULTS / args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(summarise(results, args.methods))


def summarise(results: list[dict], keys: list[str]) -> str:
    """One line per method: TEST mean ± std, wall time and its ratio to multi-trial's."""
    total = {
        key: statistics.mean(
            r["search_seconds"] + r["retrain_seconds"] for r in results if r["key"] == key
        )
        for key in keys
    }
    lines = []
    for key in keys:
        rows = [r for r in results if r["key"] == key]
        tests = [r["test_acc"] for r in rows]
        spread = statistics.stdev(tests) if len(tests) > 1 else 0.0
        ratio = f", {total[key] / total['multi']:.2f} of multi-trial's" if "multi" in total else ""
        lines.append(
            f"{rows[0]['method']}: TEST {100 * statistics.mean(tests):.2f} ± {100 * spread:.2f}% "
            f"(retrained, child=final), search + retrain {total[key] / 60:.1f} min{ratio}, "
            f"parameter-free ops in the pick "
            f"{100 * statistics.mean(r['param_free_share_best'] for r in rows):.0f}%"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
