"""Do cheap scores rank architectures as training them alone would? (issue 21; Yu et al. 2020)

    python benchmarks/ranking_truth.py --space default --seeds 1000 1001 1002 --archs 30
    python benchmarks/shared_ranking.py --spaces default --seeds 1000 1001 1002 \\
        --methods params "ws:epochs=20" "ws:epochs=20,sampling=fair" --tag heldout

The ground truth of a (space, seed) is cached by benchmarks/ranking_truth.py: its sampled
architectures, each trained alone twice (search recipe, 5 epochs, different child seeds, same
split); the truth is their mean search-time validation accuracy. Each method scores the same
architectures; reported per (space, seed): the noise ceiling (Kendall τ between the two
trainings), the method's τ against the truth and as a fraction of the ceiling, Spearman ρ, the
overlap of the top 10%, and the stand-alone percentile of the method's top-1 pick (100: the
best of the sampled architectures). Then one table, methods × spaces, mean ± std over seeds,
and one scatter plot per method, in benchmarks/results/ranking/.

Methods (pluggable: `METHODS` maps a name to a function (truth, context) → scores):
- `params`: the stand-alone child's parameter count, the baseline every method must beat;
- `ws:<key>=<value>,...`: a supernet (evaluator=shared) trained with a uniformly random
  architecture per minibatch under these settings (`epochs` = its recipe's epochs; `sampling`,
  `few_shot_split`, `few_shot_warmup`, `width_weights` as SharedEvaluatorConfig), then each
  architecture scored by its accuracy on the whole validation split; `ws...` + `/loss` scores by
  minus its validation loss instead (same supernet, no extra training);
- `rank:<a>+<b>[+<c>...]`: the mean of the methods' ranks (e.g. a supernet score with a
  parameter prior), from their cached scores;
- `proxy:<name>[,batch_size=<n>]`: a zero-cost proxy of `child.evaluation.proxy` at
  initialisation, on one training minibatch of n examples (64 by default;
  benchmarks/proxy_ranking.py tunes n on the tuning seeds);
- `reward:<proxy>[+<proxy>...][,batch_size=<n>]`: the reward `evaluator=proxy` gives (each
  proxy normalised against 64 random architectures of the space, combined ones averaged), as
  a search would score these architectures.
Scores are cached in benchmarks/results/ranking/scores-<space>-seed<k>.json: a method already
scored is not retrained (`--force` retrains it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from scipy.stats import kendalltau, rankdata, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ranking_truth import RANKING, Truth, load_truth, space_config  # noqa: E402

from child.data.datasets import DataSplits, load_dataset  # noqa: E402
from child.evaluation.costs import count_params  # noqa: E402
from child.evaluation.proxy import ProxyEvaluatorConfig, proxy_rewards, proxy_scores  # noqa: E402
from child.evaluation.shared import SharedEvaluator  # noqa: E402
from child.spaces import build_network, build_space  # noqa: E402

SHARED_KEYS = ("sampling", "few_shot_split", "few_shot_warmup", "width_weights")


@dataclass
class Context:
    """What a method may use besides the truth's architectures: the run's config and data."""

    cfg: Any
    data: DataSplits
    seed: int


def params_scores(truth: Truth, ctx: Context) -> list[float]:
    """The stand-alone child's parameter count."""
    shape, classes = ctx.data.input_shape, ctx.data.num_classes
    return [
        float(count_params(build_network(a, shape, classes, ctx.cfg.search_space)))
        for a in truth.archs
    ]


def parse_settings(spec: str) -> dict[str, str]:
    """ "ws:epochs=20,sampling=fair" → {"epochs": "20", "sampling": "fair"}."""
    body = spec.split(":", 1)[1]
    return dict(item.split("=", 1) for item in body.split(",") if item)


def train_supernet(truth: Truth, ctx: Context, spec: str) -> dict[str, list[float]]:
    """Train a supernet with uniformly random paths under `spec`; accuracy and -loss scores."""
    settings = parse_settings(spec)
    shared = ctx.cfg.evaluator
    shared.recipe.epochs = int(settings.pop("epochs", shared.recipe.epochs))
    for key, value in settings.items():
        if key not in SHARED_KEYS:
            raise SystemExit(
                f"error: {spec}: unknown setting {key} (expected epochs, {SHARED_KEYS})"
            )
        current = getattr(shared, key)
        setattr(shared, key, type(current)(value))
    shared.check()
    evaluator = SharedEvaluator(shared, ctx.data, ctx.cfg.search_space, ctx.seed)
    space = build_space(ctx.cfg.search_space)
    rng = np.random.default_rng([ctx.seed, 1])
    for epoch in range(shared.recipe.epochs):
        for _ in range(evaluator.begin_epoch(epoch)):
            evaluator.train_step(space.sample(rng))
    measured = [evaluator.score_with_loss(arch) for arch in truth.archs]
    return {spec: [m[0] for m in measured], f"{spec}/loss": [-m[1] for m in measured]}


def proxy_method(name: str) -> Callable[[Truth, Context], list[float]]:
    """The raw scores of zero-cost proxy `name` ("snip,batch_size=16") at initialisation."""
    proxy, _, size = name.partition(",batch_size=")

    def scores(truth: Truth, ctx: Context) -> list[float]:
        raw = proxy_scores(
            truth.archs, ctx.data, ctx.cfg.search_space, proxy, ctx.seed, 1, int(size or 64)
        )
        return [float(s) if np.isfinite(s) else -np.inf for s in raw]

    return scores


def proxy_reward_method(name: str) -> Callable[[Truth, Context], list[float]]:
    """The reward of `evaluator=proxy` with these settings ("snip+params,batch_size=16")."""
    proxy, _, size = name.partition(",batch_size=")
    config = ProxyEvaluatorConfig(proxy=proxy, batch_size=int(size or 64))
    config.check()

    def scores(truth: Truth, ctx: Context) -> list[float]:
        space = ctx.cfg.search_space
        return proxy_rewards(truth.archs, proxy, config.batch_size, ctx.data, space, ctx.seed)

    return scores


# Fixed-name methods; `ws:`, `rank:`, `proxy:` and `reward:` names are parsed.
METHODS: dict[str, Callable[[Truth, Context], list[float]]] = {"params": params_scores}


def ranks(scores: list[float]) -> np.ndarray:
    """Average ranks, ties shared; -inf (undefined) lowest."""
    return rankdata(np.nan_to_num(np.asarray(scores, float), nan=-np.inf))


def top_set(values: np.ndarray, share: float = 0.1) -> set[int]:
    """Indices of the top `share` of `values` (at least one)."""
    k = max(1, round(share * len(values)))
    return set(np.argsort(-values, kind="stable")[:k].tolist())


def metrics(scores: list[float], truth: Truth) -> dict[str, float]:
    """τ, τ / ceiling, ρ, top-10% overlap and the stand-alone percentile of the top-1 pick."""
    mean = truth.mean
    s = ranks(scores)
    ceiling = float(kendalltau(truth.trainings[0], truth.trainings[1]).statistic)
    tau = float(kendalltau(s, mean).statistic)
    pick = int(np.argmax(s))
    # Share of the sampled architectures the pick is at least as good as, stand-alone.
    percentile = 100.0 * float(np.mean(mean <= mean[pick]))
    return {
        "tau": tau,
        "ceiling": ceiling,
        "tau_fraction": tau / ceiling,
        "rho": float(spearmanr(s, mean).statistic),
        "top10_overlap": len(top_set(s) & top_set(mean)) / len(top_set(mean)),
        "top1_percentile": percentile,
        "top1_in_top10": float(pick in top_set(mean)),
    }


def score_path(space: str, seed: int) -> Path:
    """Where the methods' scores of (space, seed) are cached."""
    return RANKING / f"scores-{space}-seed{seed}.json"


def score_methods(space: str, seed: int, methods: list[str], force: bool) -> dict[str, Any]:
    """Each method's scores of the (space, seed) truth, computed unless cached."""
    truth = load_truth(space, seed)
    path = score_path(space, seed)
    cache: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    cfg, _ = space_config(space, seed)
    ctx = Context(cfg, load_dataset(cfg.dataset, cfg.seed), seed)
    # Scores of fewer architectures than the truth now holds (it was extended) are stale.
    cache = {k: v for k, v in cache.items() if len(v["scores"]) == len(truth.archs)}
    for name in methods:
        if name in cache and not force:
            continue
        tick = time.perf_counter()
        if name.startswith("rank:"):
            parts = name[5:].split("+")
            for part in parts:
                if part not in cache:
                    raise SystemExit(f"error: {name}: score {part} first")
            combined = np.mean([ranks(cache[part]["scores"]) for part in parts], axis=0)
            seconds = sum(cache[part]["seconds"] for part in parts)  # what its parts cost
            fresh = {name: {"scores": combined.tolist(), "seconds": seconds}}
        elif name.startswith("ws:"):
            base = name.removesuffix("/loss")
            cfg, _ = space_config(space, seed)  # a fresh evaluator config per supernet
            ctx = Context(cfg, ctx.data, seed)
            found = train_supernet(truth, ctx, base)
            seconds = round(time.perf_counter() - tick, 1)
            fresh = {key: {"scores": scores, "seconds": seconds} for key, scores in found.items()}
        else:
            if name.startswith("reward:"):
                method = proxy_reward_method(name[7:])
            elif name.startswith("proxy:"):
                method = proxy_method(name[6:])
            else:
                method = METHODS.get(name)
            if method is None:
                raise SystemExit(f"error: unknown method {name}")
            scores = method(truth, ctx)
            fresh = {name: {"scores": scores, "seconds": round(time.perf_counter() - tick, 2)}}
        cache.update(fresh)
        save_scores(path, fresh)
        print(
            f"{space} seed {seed} {name}: tau {metrics(cache[name]['scores'], truth)['tau']:.3f}"
            f" ({cache[name]['seconds']:.0f} s)",
            flush=True,
        )
    return cache


def current_scores(space: str, seed: int) -> dict[str, Any]:
    """The cached scores of (space, seed) that score every architecture of its truth now."""
    count = len(load_truth(space, seed).archs)
    cache = json.loads(score_path(space, seed).read_text())
    return {k: v for k, v in cache.items() if len(v["scores"]) == count}


def save_scores(path: Path, new: dict[str, Any]) -> None:
    """Merge `new` into the cache file (another process may be scoring the same seed)."""
    RANKING.mkdir(parents=True, exist_ok=True)
    latest = json.loads(path.read_text()) if path.exists() else {}
    latest.update(new)
    path.write_text(json.dumps(latest, indent=1) + "\n")


def fmt(values: list[float], digits: int = 2) -> str:
    """mean ± std (population std over seeds)."""
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def report(spaces: list[str], seeds: list[int], methods: list[str], tag: str) -> str:
    """The markdown table methods × spaces and one scatter plot per method."""
    rows = []
    header = (
        "| method | space | τ | τ / ceiling | ρ | top-10% overlap | top-1 percentile "
        "| top-1 in top 10% | seconds |"
    )
    lines = [header, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for space in spaces:
        truths = {seed: load_truth(space, seed) for seed in seeds}
        ceilings = [metrics(t.trainings[0], t)["ceiling"] for t in truths.values()]
        n = len(truths[seeds[0]].archs)
        lines.append(f"| *noise ceiling* | {space} ({n} archs) | {fmt(ceilings)} | 1 | | | | | |")
    for name in methods:
        for space in spaces:
            per_seed = []
            for seed in seeds:
                cache = current_scores(space, seed)
                if name in cache:
                    m = metrics(cache[name]["scores"], load_truth(space, seed))
                    per_seed.append({**m, "seconds": cache[name]["seconds"]})
            if len(per_seed) < len(seeds):
                continue
            col = lambda k, ms=per_seed: [m[k] for m in ms]  # noqa: E731
            rows.append({"method": name, "space": space, "per_seed": per_seed})
            lines.append(
                f"| {name} | {space} | {fmt(col('tau'))} | {fmt(col('tau_fraction'))} | "
                f"{fmt(col('rho'))} | {fmt(col('top10_overlap'))} | "
                f"{fmt(col('top1_percentile'), 0)} | {int(sum(col('top1_in_top10')))}/{len(seeds)}"
                f" | {np.mean(col('seconds')):.0f} |"
            )
    table = "\n".join(lines)
    (RANKING / f"table-{tag}.md").write_text(table + "\n")
    (RANKING / f"table-{tag}.json").write_text(json.dumps(rows, indent=1) + "\n")
    for name in methods:
        scatter(name, spaces, seeds, tag)
    return table


def scatter(name: str, spaces: list[str], seeds: list[int], tag: str) -> None:
    """One PNG per method: its score against the truth, one panel per (space, seed)."""
    panels = [
        (space, seed) for space in spaces for seed in seeds if name in current_scores(space, seed)
    ]
    if not panels:
        return
    figure = Figure(figsize=(3.2 * len(seeds), 3.0 * len(spaces)))
    for k, (space, seed) in enumerate(panels):
        truth = load_truth(space, seed)
        scores = current_scores(space, seed)[name]["scores"]
        ax = figure.add_subplot(len(spaces), len(seeds), k + 1)
        ax.scatter(truth.mean, scores, s=12)
        ax.set_title(f"{space} s{seed}: τ={metrics(scores, truth)['tau']:.2f}", fontsize=8)
        ax.set_xlabel("alone (mean of 2, val. acc.)", fontsize=7)
        ax.set_ylabel("cheap score", fontsize=7)
        ax.tick_params(labelsize=6)
    figure.suptitle(name, fontsize=9)
    figure.tight_layout()
    safe = "".join(c if c.isalnum() or c in "-_=." else "_" for c in name)
    figure.savefig(RANKING / f"scatter-{tag}-{safe}.png", dpi=90)


def main() -> None:
    """Score every method on every (space, seed), print and save the table and plots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", nargs="+", default=["default", "enas_mnist1d"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002])
    parser.add_argument("--methods", nargs="+", default=["params", "ws:epochs=20"])
    parser.add_argument("--tag", default="heldout")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.report_only:
        for space in args.spaces:
            for seed in args.seeds:
                score_methods(space, seed, args.methods, args.force)
    print(report(args.spaces, args.seeds, args.methods, args.tag))


if __name__ == "__main__":
    main()
