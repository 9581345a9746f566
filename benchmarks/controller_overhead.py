"""What the controller costs: microseconds per sample and per update, and its share of a search.

    python benchmarks/controller_overhead.py [--repeats 200] [--children 20]

1. Microseconds to sample one architecture of the macro space with 12 layers (the default LSTM
   preset, one architecture per call and a batch of 100), and to run one REINFORCE update on
   the default batch of 2.
2. The controller's share of a search's wall time: a short default MNIST-1D search (`--children`
   children, the default config otherwise) through the real loop, which times the controller's
   propose and learn calls itself (summary.json `controller_seconds` over `seconds`). The
   100-child default search in benchmarks/default_search.py reports the same share.

Both are measured on one thread, in this process. Target: the share is at most 1%.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from app.config import compose_config, typed_config
from app.search import search_main
from child.spaces import build_space
from controller.factory import build_controller

RESULTS = Path(__file__).resolve().parent / "results"


def microseconds(fn, repeats: int) -> float:
    """Median microseconds per call of `fn` over `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times)


def sampling_costs(repeats: int) -> dict[str, float]:
    """Per-architecture sample times and per-update time on the 12-layer macro space."""
    cfg = typed_config(compose_config(["search_space.num_layers=12"]))
    space = build_space(cfg.search_space)
    controller = build_controller(cfg.controller, space, seed=0)
    batch = controller.propose(cfg.budget.batch)
    rewards = [0.5 + 0.1 * i for i in range(len(batch))]
    return {
        "sample_one_us": microseconds(lambda: controller.propose(1), repeats),
        "sample_batched_us": microseconds(lambda: controller.propose(100), repeats // 10) / 100,
        "update_us": microseconds(lambda: controller.learn(batch, rewards), repeats),
        "update_batch": len(batch),
    }


def search_share(children: int) -> dict[str, float]:
    """The controller's share of a short default search's wall time."""
    overrides = [f"budget.children={children}", "test_best=false", "progress=false"]
    with tempfile.TemporaryDirectory() as tmp:
        summary = search_main(compose_config(overrides), Path(tmp), Console(file=io.StringIO()))
    return {
        "children": summary["children"],
        "search_seconds": summary["seconds"],
        "controller_seconds": summary["controller_seconds"],
        "share": summary["controller_seconds"] / summary["seconds"],
    }


def main() -> None:
    """Measure, print and save to benchmarks/results/controller_overhead.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--children", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    costs = sampling_costs(args.repeats)
    print(
        f"12-layer macro space: {costs['sample_one_us']:.0f} µs to sample one architecture "
        f"({costs['sample_batched_us']:.0f} µs each in a batch of 100); "
        f"{costs['update_us']:.0f} µs per REINFORCE update of {costs['update_batch']} children"
    )
    share = search_share(args.children)
    print(
        f"default search, {share['children']} children: controller "
        f"{share['controller_seconds']:.3f} s of {share['search_seconds']:.1f} s = "
        f"{100 * share['share']:.2f}% (target <= 1%)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "controller_overhead.json"
    out.write_text(json.dumps({"sampling": costs, "search": share}, indent=2) + "\n")


if __name__ == "__main__":
    main()
