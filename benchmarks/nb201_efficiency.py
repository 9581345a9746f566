"""ORACLE search efficiency on NAS-Bench-201: best test accuracy found after N unique children.

The reward here is the 200-epoch CIFAR-10 *test* accuracy (`evaluator=table_oracle`): each
search optimises the very number it is judged on. That measures how fast a controller climbs a
fixed landscape, not what it would find under the NAS-Bench-201 paper's protocol; for that,
see benchmarks/nb201_protocol.py. The `lstm_nb201` preset this benchmark first compared was
tuned on these seeds (0-19) and this reward, so these numbers are not held-out results.

    python benchmarks/nb201_efficiency.py [--seeds 20] [--workers 2] [--ablation]

Each controller (the default LSTM preset, the tuned `lstm_nb201` preset, random search and
regularized evolution) searches the NAS-Bench-201 cell space with the bundled table evaluator
(CIFAR-10 test accuracy after 200 epochs, looked up instead of trained), once per seed, through
the real search loop in this machine's processes. Every run gets the same budget: 500 unique
children, 10 per controller update, at most 2,000 proposals (cached repeats included). From each
run's children.jsonl (cached repeats skipped) comes its best accuracy so far after 50, 100, 200
and 500 unique children, and the unique-children count at which it first found the global
optimum (94.37%).

Why: the table makes a whole search take seconds, so many seeds fit in minutes and the
differences between controllers are measured rather than anecdotal. Sample efficiency (the best
found after few evaluations) is what matters when each child costs a real training run.

A controller that converges repeats itself and can stop at the proposal cap before it reaches
500 unique children; such a run's best at larger budgets is its final best (it can no longer
improve), and the table reports how many unique children each controller reached. Results go
to benchmarks/results/nb201_efficiency.json and nb201_efficiency.png.

`--ablation` runs the LSTM alone, from its default preset to `lstm_nb201` one change at a time
(results in nb201_ablation.json and .png): the before and after of the tuning.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from rich.console import Console

from app.compare import Group, Run, group_band, load_run, stat_at, stat_json
from app.config import compose_config, typed_config
from app.search import search_main
from child.evaluation.table import ResultTable

RESULTS = Path(__file__).resolve().parent / "results"
# Each compared controller by name, and the override that selects it.
CONTROLLERS = {
    "lstm": ["controller=lstm"],
    "lstm_nb201": ["experiment=lstm_nb201"],  # BASE and budget.batch below override its own
    "random": ["controller=random"],
    "evolution": ["controller=evolution"],
}
# --ablation: from the default LSTM preset to lstm_nb201, one change at a time.
TUNED = ["controller=lstm", "controller.lr=0.05", "controller.tanh_constant=2.0"]
ABLATION = {
    "lstm (default preset)": ["controller=lstm"],
    "lstm, advantage_norm": ["controller=lstm", "controller.advantage_norm=true"],
    "+ lr 0.05, tanh 2.0": TUNED,
    "+ advantage_norm": [*TUNED, "controller.advantage_norm=true"],
    "+ rank advantage": [*TUNED, "controller.advantage=rank"],
    "+ advantage_norm, elite 5 x 0.5": [
        *TUNED,
        "controller.advantage_norm=true",
        "controller.elite_size=5",
        "controller.elite_weight=0.5",
    ],
    "+ rank, elite 5 x 0.5 (= lstm_nb201)": ["experiment=lstm_nb201"],
    "lstm_nb201 + Adam beta1 0.5": ["experiment=lstm_nb201", "controller.adam_beta1=0.5"],
}
BUDGETS = (50, 100, 200, 500)
OPTIMUM_BY = (200, 500)
CHILDREN, BATCH, MAX_SAMPLES = 500, 10, 2000
# patience 0: runs stop at the proposal cap only, as when these results were first measured.
BASE = ["search_space=nb201", "evaluator=table_oracle", "budget.patience=0"]
TOLERANCE = 1e-9  # rewards are table values times 0.01: equal up to rounding


@dataclass(frozen=True)
class Result:
    """One finished run: its best-so-far curve over unique children, and what it cost."""

    controller: str
    seed: int
    run: Run
    samples: int
    wall: float


def overrides(
    controller: str,
    seed: int,
    children: int,
    batch: int,
    max_samples: int,
    settings: Sequence[str] | None = None,
) -> list[str]:
    """The overrides of one run: base, controller settings (default CONTROLLERS[name]), budget."""
    return [
        *BASE,
        *(settings if settings is not None else CONTROLLERS[controller]),
        f"budget.children={children}",
        f"budget.batch={batch}",
        f"budget.max_samples={max_samples}",
        f"seed={seed}",
        "test_best=false",
        "progress=false",
    ]


def run_one(
    controller: str,
    seed: int,
    root: Path,
    children: int = CHILDREN,
    batch: int = BATCH,
    max_samples: int = MAX_SAMPLES,
    settings: Sequence[str] | None = None,
) -> Result:
    """Run one search in `root`/<controller>-<seed> on one thread; read its children back.

    `controller` names the run; `settings` are its controller overrides when it is not a preset.
    """
    torch.set_num_threads(1)
    run_dir = Path(root) / f"{controller.replace(' ', '_')}-{seed}"
    start = time.perf_counter()
    cfg = compose_config(overrides(controller, seed, children, batch, max_samples, settings))
    summary = search_main(cfg, run_dir, Console(file=io.StringIO()))
    wall = time.perf_counter() - start
    run = load_run(run_dir)
    assert run.children == summary["children"], "children.jsonl disagrees with summary.json"
    samples = summary["children"] + summary["cached"]
    return Result(controller, seed, run, samples, wall)


def padded(run: Run, length: int) -> Run:
    """`run` with its curve held at its final best up to `length` children."""
    tail = (run.final,) * max(0, length - run.children)
    return dataclasses.replace(run, curve=run.curve + tail)


def first_at_optimum(run: Run, optimum: float) -> int | None:
    """The number of unique children after which the run had found the optimum, or None."""
    return next((i + 1 for i, v in enumerate(run.curve) if v >= optimum - TOLERANCE), None)


def run_all(
    arms: dict[str, list[str]], seeds: Sequence[int], workers: int, root: Path
) -> dict[str, list[Result]]:
    """Every (arm, seed) run on `workers` processes; results per arm, by seed."""
    jobs = [(c, s) for s in seeds for c in arms]  # interleaved: same load for each
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(run_one, c, s, root, CHILDREN, BATCH, MAX_SAMPLES, arms[c]) for c, s in jobs
        ]
        results = []
        for done, future in enumerate(futures, 1):
            results.append(future.result())
            if done % 20 == 0 or done == len(futures):
                print(f"  {done}/{len(futures)} runs done", flush=True)
    by_controller: dict[str, list[Result]] = {c: [] for c in arms}
    for result in results:
        by_controller[result.controller].append(result)
    return by_controller


def group_of(controller: str, results: Sequence[Result], length: int) -> Group:
    """A compare.Group of the controller's runs, curves padded to `length` children."""
    runs = tuple(padded(r.run, length) for r in results)
    return Group(controller, {"controller": controller}, runs)


def group_stats(results: Sequence[Result], group: Group, optimum: float) -> dict[str, Any]:
    """The numbers of one controller: best at each budget, optimum rates, children, time."""
    unique = [r.run.children for r in results]
    firsts = [first_at_optimum(r.run, optimum) for r in results]
    return {
        "runs": len(results),
        "best_at": {str(b): stat_json(stat_at(group, b)) for b in BUDGETS},
        "optimum_by": {
            str(b): sum(1 for f in firsts if f is not None and f <= b) for b in OPTIMUM_BY
        },
        "unique_children": {
            "mean": statistics.fmean(unique),
            "min": min(unique),
            "max": max(unique),
        },
        "samples_mean": statistics.fmean(r.samples for r in results),
        "wall_seconds_mean": statistics.fmean(r.wall for r in results),
        "search_seconds_mean": statistics.fmean(r.run.seconds for r in results),
        "per_run": [
            {
                "seed": r.seed,
                "unique_children": r.run.children,
                "samples": r.samples,
                "wall_seconds": r.wall,
                "best_at": {str(b): padded(r.run, b).curve[b - 1] for b in BUDGETS},
                "first_optimum_at": first,
            }
            for r, first in zip(results, firsts, strict=True)
        ],
    }


def percent(stat: dict[str, Any] | None) -> str:
    """A stat_json of rewards as `94.10 ± 0.21` (accuracy in percent)."""
    if stat is None:
        return "-"
    std = stat["std"] if stat["std"] is not None else 0.0
    return f"{100 * stat['mean']:.2f} ± {100 * std:.2f}"


def markdown(stats: dict[str, dict[str, Any]]) -> str:
    """The results as a GitHub markdown table, one row per controller."""
    header = [
        "controller",
        "runs",
        *(f"best @{b} (%)" for b in BUDGETS),
        *(f"optimum by {b}" for b in OPTIMUM_BY),
        "unique children (mean, min)",
        "wall s/run",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for name, s in stats.items():
        n = s["runs"]
        u = s["unique_children"]
        cells = [
            name,
            str(n),
            *(percent(s["best_at"][str(b)]) for b in BUDGETS),
            *(
                f"{s['optimum_by'][str(b)]}/{n} ({100 * s['optimum_by'][str(b)] / n:.0f}%)"
                for b in OPTIMUM_BY
            ),
            f"{u['mean']:.0f} ({u['min']})",
            f"{s['wall_seconds_mean']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def settings() -> tuple[dict[str, Any], float]:
    """The budget and presets the runs use (from the composed configs), and the table's optimum."""
    cfgs = {
        c: typed_config(compose_config(overrides(c, 0, CHILDREN, BATCH, MAX_SAMPLES)))
        for c in CONTROLLERS
    }
    optimum = ResultTable.from_config(cfgs["lstm"].evaluator).max
    return {
        "search_space": "nb201",
        "evaluator": "table_oracle (ORACLE reward: the 200-epoch CIFAR-10 test accuracy)",
        "budget": asdict(cfgs["lstm"].budget),
        "controllers": {c: asdict(cfg.controller) for c, cfg in cfgs.items()},
    }, optimum


def describe_settings(config: dict[str, Any], optimum: float) -> list[str]:
    """Lines that state the budget and the presets, the tuned one against the default."""
    b = config["budget"]
    lstm, tuned, evo = (config["controllers"][c] for c in ("lstm", "lstm_nb201", "evolution"))
    changed = ", ".join(
        f"{k}={v} (lstm: {lstm[k]})" for k, v in tuned.items() if k != "name" and v != lstm[k]
    )
    same = ", ".join(f"{k}={v}" for k, v in tuned.items() if k != "name" and v == lstm[k])
    return [
        "settings: search_space=nb201 evaluator=table_oracle (ORACLE reward), "
        f"budget.children={b['children']} unique, "
        f"budget.batch={b['batch']}, budget.max_samples={b['max_samples']} proposals; "
        f"optimum {100 * optimum:.4f}%",
        f"lstm_nb201 preset: {changed}; as lstm: {same}",
        f"evolution preset: population={evo['population']}, tournament (sample_size)="
        f"{evo['sample_size']}",
    ]


def plot(
    groups: dict[str, Group], stats: dict[str, dict[str, Any]], optimum: float, path: Path
) -> None:
    """Best accuracy so far vs unique children: mean line and interquartile band per controller.

    The line is solid while every run of the controller is still searching and dotted after its
    first run stopped at the proposal cap (from there, stopped runs count with their final best).
    """
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    xs = np.arange(1, CHILDREN + 1)
    for i, (name, group) in enumerate(groups.items()):
        color = f"C{i}"
        mean = 100 * np.array(group_band(group).mean[:CHILDREN])
        curves = 100 * np.array([run.curve[:CHILDREN] for run in group.runs])
        low, high = np.percentile(curves, [25, 75], axis=0)
        live = min(stats[name]["unique_children"]["min"], CHILDREN)
        ax.fill_between(xs, low, high, color=color, alpha=0.15, linewidth=0)
        label = f"{name} (n={len(group.runs)})"
        ax.plot(xs[:live], mean[:live], color=color, linewidth=1.8, label=label)
        if live < CHILDREN:
            ax.plot(xs[live - 1 :], mean[live - 1 :], color=color, linewidth=1.8, linestyle=":")
    ax.axhline(
        100 * optimum,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"global optimum {100 * optimum:.2f}%",
    )
    for budget in BUDGETS:
        ax.axvline(budget, color="0.85", linewidth=0.8, zorder=0)
    ax.set_xlim(0, CHILDREN)
    ax.set_ylim(93.0, 94.5)
    ax.set_xlabel("unique architectures evaluated (cached repeats not counted)")
    ax.set_ylabel("best CIFAR-10 test accuracy so far (%), ORACLE reward")
    ax.set_title(
        "NAS-Bench-201 (table): mean over seeds, band = 25–75% of seeds\n"
        "dotted: some runs stopped at the proposal cap and count with their final best",
        fontsize="medium",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.savefig(path, dpi=120, format="png")


def main() -> None:
    """Run every controller on every seed, print the table, write the JSON and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 per controller")
    parser.add_argument("--workers", type=int, default=2, help="runs in parallel (processes)")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="the LSTM from its default preset to lstm_nb201, one change at a time",
    )
    args = parser.parse_args()
    arms = ABLATION if args.ablation else CONTROLLERS
    config, optimum = settings()
    for line in describe_settings(config, optimum):
        print(line, flush=True)
    seeds = list(range(args.seeds))
    if args.ablation:
        for name, arm in arms.items():
            print(f"{name}: {' '.join(arm)}")
    print(f"{len(arms)} settings x {len(seeds)} seeds on {args.workers} workers", flush=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(arms, seeds, args.workers, Path(tmp))
    total = time.perf_counter() - start
    groups = {c: group_of(c, rs, CHILDREN) for c, rs in results.items()}
    stats = {c: group_stats(results[c], groups[c], optimum) for c in arms}
    print()
    print(markdown(stats))
    print(
        "best @N: best accuracy after N unique children, mean ± sample std over seeds; a run that "
        "stopped at the proposal cap before N counts with its final best. optimum by N: seeds "
        f"that found the {100 * optimum:.2f}% cell within N unique children."
    )
    print(f"total wall time {total:.0f} s for {len(seeds) * len(arms)} runs")
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "nb201_ablation" if args.ablation else "nb201_efficiency"
    out = {
        "settings": {**config, "seeds": seeds, "workers": args.workers, "optimum": optimum},
        "arms": arms,
        "budgets": list(BUDGETS),
        "std": "sample standard deviation (n - 1) across seeds",
        "rewards": "fractions (accuracy / 100)",
        "shorter_runs": "a run that stopped before a budget counts with its final best there",
        "total_wall_seconds": total,
        "controllers": stats,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    plot(groups, stats, optimum, RESULTS / f"{name}.png")
    print(f"wrote benchmarks/results/{name}.json and {name}.png")


if __name__ == "__main__":
    main()
