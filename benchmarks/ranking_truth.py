"""Ground truth for the ranking benchmark: sampled architectures, each trained alone twice.

    python benchmarks/ranking_truth.py --space default --seeds 0 1 2 1000 1001 1002 --archs 30

For one (space, seed): `--archs` architectures are drawn uniformly at random (numpy generator
seeded with the seed; asking for more than are cached trains only the new ones) and each is
trained alone `--trainings` times with the default search recipe (child=default: 5 epochs), on
the same train/validation split (the run seed's), with
different child seeds: training 0 uses the seed a multi-trial search would give child `index`
(`child_seed(seed, index)`), training r > 0 uses SeedSequence([seed, index, r]). The truth is
the mean of the search-time validation accuracies; the test set is not touched.

Each (space, seed) is cached in benchmarks/results/ranking/<space>-seed<k>.json, so methods can
be re-scored without retraining: `load_truth(space, seed)`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from app.config import compose_config, typed_config
from child.data.datasets import load_dataset
from child.evaluation.evaluator import ChildJob, child_seed, evaluate_child
from child.spaces import build_space
from core.architecture import Architecture

RANKING = Path(__file__).resolve().parent / "results" / "ranking"
# The two macro spaces of issue 21, as config overrides (controller=random: no controller runs).
SPACES = {
    "default": ["evaluator=shared", "controller=random"],
    "enas_mnist1d": ["experiment=enas_mnist1d"],
}


@dataclass
class Truth:
    """One (space, seed)'s architectures and their stand-alone validation accuracies."""

    space: str
    seed: int
    overrides: list[str]
    archs: list[Architecture]
    trainings: list[list[float]]  # trainings[r][i]: training r of architecture i

    @property
    def mean(self) -> np.ndarray:
        """The ground truth: each architecture's mean accuracy over its trainings."""
        return np.mean(np.asarray(self.trainings), axis=0)


def space_config(space: str, seed: int) -> Any:
    """The typed search config of `space` at run seed `seed`, with one CPU thread per child."""
    overrides = [*SPACES[space], f"seed={seed}", "child.threads=1"]
    return typed_config(compose_config(overrides)), overrides


def sample_archs(cfg: Any, seed: int, count: int) -> list[Architecture]:
    """`count` architectures drawn uniformly at random, the same for every method."""
    rng = np.random.default_rng(seed)
    space = build_space(cfg.search_space)
    return [space.sample(rng) for _ in range(count)]


def training_seed(seed: int, index: int, run: int) -> int:
    """Child seed of training `run` of architecture `index`: run 0 is multi-trial's own."""
    if run == 0:
        return child_seed(seed, index)
    return int(np.random.SeedSequence([seed, index, run]).generate_state(1)[0])


def truth_path(space: str, seed: int) -> Path:
    """Where the truth of (space, seed) is cached."""
    return RANKING / f"{space}-seed{seed}.json"


def load_truth(space: str, seed: int) -> Truth:
    """The cached truth of (space, seed); FileNotFoundError when it was not measured."""
    data = json.loads(truth_path(space, seed).read_text())
    return Truth(
        space=data["space"],
        seed=data["seed"],
        overrides=data["overrides"],
        archs=[Architecture.from_dict(a) for a in data["archs"]],
        trainings=data["trainings"],
    )


def measure_truth(space: str, seed: int, count: int, trainings: int) -> Path:
    """Train every sampled architecture `trainings` times; write the cache file."""
    torch.set_num_threads(1)
    cfg, overrides = space_config(space, seed)
    data = load_dataset(cfg.dataset, cfg.seed)
    archs = sample_archs(cfg, seed, count)
    accs: list[list[float]] = [[] for _ in range(trainings)]
    seconds: list[float] = []
    partial = truth_path(space, seed).with_suffix(".partial.json")
    if partial.exists():  # an interrupted or extended run: its trainings are deterministic
        done = json.loads(partial.read_text())
        accs, seconds = done["trainings"], done["seconds"]
        if "arch_strings" in done:
            assert done["arch_strings"] == [str(a) for a in archs[: len(accs[0])]]
    for index, arch in enumerate(archs):
        if index < len(accs[0]):
            continue
        for run in range(trainings):
            job = ChildJob(index, arch, training_seed(seed, index, run))
            result = evaluate_child(job, data, cfg.search_space, cfg.child, cfg.reward)
            accs[run].append(float(result.val_acc))
            seconds.append(result.seconds)
        row = " ".join(f"{acc[-1]:.3f}" for acc in accs)
        print(f"{space} seed {seed}: {index + 1}/{count} {row}", flush=True)
        RANKING.mkdir(parents=True, exist_ok=True)
        partial.write_text(
            json.dumps(
                {
                    "trainings": accs,
                    "seconds": seconds,
                    "arch_strings": [str(a) for a in archs[: index + 1]],
                }
            )
        )
    payload = {
        "space": space,
        "seed": seed,
        "overrides": overrides,
        "command": " ".join(["python benchmarks/ranking_truth.py", *sys.argv[1:]]),
        "recipe": OmegaConf.to_container(OmegaConf.structured(cfg.child)),
        "truth": "mean of the trainings' search-time validation accuracies (same split)",
        "training_seeds": "run 0: child_seed(seed, index); run r: SeedSequence([seed, index, r])",
        "archs": [a.to_dict() for a in archs],
        "arch_strings": [str(a) for a in archs],
        "trainings": accs,
        "mean_seconds_per_training": round(float(np.mean(seconds)), 2) if seconds else None,
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    RANKING.mkdir(parents=True, exist_ok=True)
    path = truth_path(space, seed)
    path.write_text(json.dumps(payload, indent=1) + "\n")
    partial.unlink(missing_ok=True)
    return path


def main() -> None:
    """Measure the truth of each requested (space, seed) not cached yet."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", choices=sorted(SPACES), required=True)
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--archs", type=int, default=30)
    parser.add_argument("--trainings", type=int, default=2)
    parser.add_argument("--force", action="store_true", help="remeasure cached seeds")
    args = parser.parse_args()
    for seed in args.seeds:
        path = truth_path(args.space, seed)
        if path.exists() and not args.force:
            cached = json.loads(path.read_text())
            if len(cached["archs"]) >= args.archs:
                print(f"{path} is cached")
                continue
            # More architectures than cached: the first ones are the same draws (one generator
            # per seed), so their trainings are kept and only the new ones are trained.
            keep = {
                "trainings": cached["trainings"],
                "seconds": [],
                "arch_strings": cached["arch_strings"],
            }
            path.with_suffix(".partial.json").write_text(json.dumps(keep))
        tick = time.perf_counter()
        path = measure_truth(args.space, seed, args.archs, args.trainings)
        print(f"wrote {path} in {time.perf_counter() - tick:.0f} s", flush=True)


if __name__ == "__main__":
    main()
