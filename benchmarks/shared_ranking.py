"""Does weight sharing rank architectures as training them alone would? (Yu et al. 2020)

    python benchmarks/shared_ranking.py [--archs 40] [--epochs 10 20 60] [--seed 0]
    python benchmarks/shared_ranking.py --space default --epochs 20 60    # the 4-layer macro space

On MNIST-1D with the CPU ENAS preset's space (12 macro layers of width 32, BatchNorm after
each skip sum), a supernet is trained with a uniformly random path per minibatch (random
sampling with weight sharing, Li & Talwalkar 2019) for each number of `--epochs`. Then `--archs`
architectures, drawn uniformly at random once, are scored twice:

- shared: accuracy on the whole validation split with the supernet's weights;
- alone: the search-time validation accuracy of the architecture trained from scratch with the
  default search recipe (child=default, 5 epochs), as a multi-trial search would score it.

Reported: Kendall τ and Spearman ρ between the two, and the overlap of their top 10%. Both
scores are validation numbers on the same split carved from the training set (the test set is
not touched). `--space default` uses the default 4-layer macro space (widths 16/32/64, no
BatchNorm after skip sums) instead. Results go to benchmarks/results/shared_ranking[_default].json
and .png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from scipy.stats import kendalltau, spearmanr

from app.config import compose_config, typed_config
from child.data.datasets import load_dataset
from child.evaluation.evaluator import ChildJob, child_seed, evaluate_child
from child.evaluation.shared import SharedEvaluator
from child.spaces import build_space

RESULTS = Path(__file__).resolve().parent / "results"
SPACES = {
    "enas": ["experiment=enas_mnist1d", "controller=random"],
    "default": ["evaluator=shared", "controller=random"],
}


def stand_alone(cfg, archs, data) -> list[float]:
    """Search-time validation accuracy of each architecture trained alone (default recipe)."""
    scores = []
    for index, arch in enumerate(archs):
        job = ChildJob(index, arch, child_seed(cfg.seed, index))
        scores.append(evaluate_child(job, data, cfg.search_space, cfg.child, cfg.reward).val_acc)
        print(f"  alone {index + 1}/{len(archs)}: {scores[-1]:.4f}", flush=True)
    return scores


def shared(cfg, archs, data, epochs: int, rng: np.random.Generator) -> tuple[list[float], float]:
    """Train a supernet `epochs` epochs on uniformly random paths; score `archs` with it."""
    cfg.evaluator.recipe.epochs = epochs
    evaluator = SharedEvaluator(cfg.evaluator, data, cfg.search_space, cfg.seed)
    space = build_space(cfg.search_space)
    start = time.perf_counter()
    for epoch in range(epochs):
        for _ in range(evaluator.begin_epoch(epoch)):
            evaluator.train_step(space.sample(rng))
    seconds = time.perf_counter() - start
    return [evaluator.score(arch) for arch in archs], seconds


def top_overlap(a: list[float], b: list[float], share: float = 0.1) -> float:
    """The share of the top `share` by `a` that is also in the top `share` by `b`."""
    k = max(1, round(share * len(a)))
    top = lambda xs: set(np.argsort(xs)[::-1][:k].tolist())  # noqa: E731
    return len(top(a) & top(b)) / k


def main() -> None:
    """Measure, print, and save the results and the scatter plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=40)
    parser.add_argument("--epochs", type=int, nargs="+", default=[10, 20, 60])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--space", choices=sorted(SPACES), default="enas")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = [*SPACES[args.space], f"seed={args.seed}", "child.threads=1"]
    cfg = typed_config(compose_config(overrides))
    data = load_dataset(cfg.dataset, cfg.seed)
    rng = np.random.default_rng(args.seed)
    archs = [build_space(cfg.search_space).sample(rng) for _ in range(args.archs)]
    tick = time.perf_counter()
    alone = stand_alone(cfg, archs, data)
    alone_seconds = time.perf_counter() - tick
    results = {
        "space": args.space,
        "overrides": overrides,
        "archs": [str(a) for a in archs],
        "seed": args.seed,
        "alone": alone,
        "runs": [],
    }
    for epochs in args.epochs:
        scores, seconds = shared(cfg, archs, data, epochs, np.random.default_rng(args.seed + 1))
        run = {
            "epochs": epochs,
            "shared": scores,
            "kendall_tau": float(kendalltau(scores, alone).statistic),
            "spearman_rho": float(spearmanr(scores, alone).statistic),
            "top10_overlap": top_overlap(scores, alone),
            "supernet_seconds": round(seconds, 1),
        }
        results["runs"].append(run)
        print(
            f"supernet {epochs} epochs ({seconds:.0f} s): Kendall tau {run['kendall_tau']:.3f}, "
            f"Spearman rho {run['spearman_rho']:.3f}, top-10% overlap {run['top10_overlap']:.2f}"
        )
    results["alone_seconds"] = round(alone_seconds, 1)
    print(f"{args.archs} architectures trained alone in {alone_seconds:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    name = "shared_ranking" if args.space == "enas" else f"shared_ranking_{args.space}"
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    figure = Figure(figsize=(4.5 * len(results["runs"]), 4.2))
    for k, run in enumerate(results["runs"]):
        ax = figure.add_subplot(1, len(results["runs"]), k + 1)
        ax.scatter(alone, run["shared"], s=14)
        ax.set_xlabel("val. accuracy trained alone (5 epochs)")
        ax.set_ylabel("val. accuracy with shared weights")
        ax.set_title(f"{run['epochs']} supernet epochs: τ = {run['kendall_tau']:.2f}")
    figure.tight_layout()
    figure.savefig(RESULTS / f"{name}.png", dpi=100)


if __name__ == "__main__":
    main()
