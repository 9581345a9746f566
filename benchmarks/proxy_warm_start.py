"""Does a zero-cost warm start help the controller at an equal budget of trained children?

    python benchmarks/proxy_warm_start.py [--seeds 1000 1001 1002] [--children 20] [--warm 100]

For each seed, two searches with the same settings and the same number of trained children:
cold (the controller starts from scratch) and warm (before the search, the controller learns
from `--warm` proposals scored by `--proxy` at initialisation, `app.warm_start`, and its reward
baseline restarts). Reported: the mean and the best search-time validation accuracy of the
trained children, per seed and mean ± std, and the warm start's own time.

The warm start is the search's `warm_start.*` setting (measured first through a wrapper of
`build_parts` at the same place in the run, before it became a setting). Settings were
fixed before measuring (proxy params, the baseline proxy; 100 warm proposals); nothing was
tuned on the reported seeds. Results: benchmarks/results/proxy_warm_start.json.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from app.config import compose_config
from app.search import search_main
from app.warm_start import WarmStartConfig

RESULTS = Path(__file__).resolve().parent / "results"


def search(overrides: list[str], warm: WarmStartConfig | None, folder: Path) -> dict[str, Any]:
    """One search; with `warm`, its controller is warmed first (the `warm_start.*` setting)."""
    if warm is not None:
        overrides = [
            *overrides,
            f"warm_start.children={warm.children}",
            f"warm_start.proxy={warm.proxy}",
            f"warm_start.reference={warm.reference}",
        ]
    run_dir = folder / ("warm" if warm else "cold")
    summary = search_main(compose_config(overrides), run_dir, Console(file=io.StringIO()))
    records = [json.loads(line) for line in (run_dir / "children.jsonl").open()]
    trained = [r["val_acc"] for r in records if not r["cached"] and r["status"] == "ok"]
    return {
        "mean_val_acc": float(np.mean(trained)),
        "best_val_acc": float(np.max(trained)),
        "children": summary["children"],
        "seconds": summary["seconds"],
        "warm_start": summary.get("warm_start"),
    }


def main() -> None:
    """Cold and warm searches per seed; print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002])
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--proxy", default="params")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--controller", default="lstm")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warm = WarmStartConfig(children=args.warm, proxy=args.proxy)
    rows: dict[str, dict[int, dict[str, Any]]] = {"cold": {}, "warm": {}}
    for seed in args.seeds:
        overrides = [
            f"dataset={args.dataset}",
            f"controller={args.controller}",
            f"seed={seed}",
            f"budget.children={args.children}",
            "evaluator.workers=1",
            "child.threads=1",
            "test_best=false",
            "plots=false",
            "progress=false",
        ]
        with tempfile.TemporaryDirectory() as folder:
            for name in ("cold", "warm"):  # interleaved: the same machine load for both
                tick = time.perf_counter()
                rows[name][seed] = search(overrides, warm if name == "warm" else None, Path(folder))
                r = rows[name][seed]
                print(
                    f"seed {seed} {name}: mean val acc {r['mean_val_acc']:.4f}, best "
                    f"{r['best_val_acc']:.4f} ({time.perf_counter() - tick:.0f} s)",
                    flush=True,
                )
    summary = {}
    for name, per_seed in rows.items():
        means = [r["mean_val_acc"] for r in per_seed.values()]
        bests = [r["best_val_acc"] for r in per_seed.values()]
        summary[name] = {
            "mean_val_acc": f"{np.mean(means):.4f} ± {np.std(means):.4f}",
            "best_val_acc": f"{np.mean(bests):.4f} ± {np.std(bests):.4f}",
        }
        print(f"{name}: {summary[name]}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "proxy_warm_start.json"
    path.write_text(json.dumps({"args": vars(args), "rows": rows, "summary": summary}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
