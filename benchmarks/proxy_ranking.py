"""Do zero-cost proxies rank architectures as training them alone would?

    python benchmarks/proxy_ranking.py [--truth benchmarks/results/ranking] [--spaces default]

The truth is the ranking benchmark's (benchmarks/ranking_truth.py): per (space, seed), sampled
architectures each trained alone twice with the default search recipe (5 epochs) on the run
seed's split, with different child seeds; the truth is the mean of the two search-time
validation accuracies, and the noise ceiling is Kendall τ between the two trainings. Every
proxy of `child.evaluation.proxy` scores the same architectures at initialisation (child i
initialised with `child_seed(seed, i)`, the seed of its first training) on training minibatches
drawn with the run seed. Reported per (space, seed) and as mean ± std over the held-out seeds:

- Kendall τ against the truth, and τ as a fraction of the noise ceiling;
- Spearman ρ; the overlap of the top 10% (by the proxy and by the truth);
- the stand-alone percentile of the proxy's top-1 pick (100: the best sampled architecture).

Settings are tuned on the tuning seeds only (0-2 by default, of every space that has them): for
each data-reading proxy, the minibatch size (`--batch-sizes`, one minibatch) with the best mean
τ over them. The held-out seeds
(1000-1002) are scored once with those settings. An undefined score (NaN) ranks last.
Results: benchmarks/results/proxy_ranking.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from app.config import compose_config, typed_config
from child.data.datasets import load_dataset
from child.evaluation.proxy import DATA_FREE, PROXIES, proxy_scores
from core.architecture import Architecture

RESULTS = Path(__file__).resolve().parent / "results"
TRUTH = RESULTS / "ranking"  # benchmarks/ranking_truth.py writes it


def load(path: Path) -> dict[str, Any]:
    """One truth file: its config overrides, architectures and the two trainings."""
    data = json.loads(path.read_text())
    data["archs"] = [Architecture.from_dict(a) for a in data["archs"]]
    return data


def top_overlap(score: np.ndarray, truth: np.ndarray, share: float = 0.1) -> float:
    """The share of the top `share` by `score` that is also in the top `share` by `truth`."""
    k = max(1, round(share * len(score)))
    top = lambda xs: set(np.argsort(-xs, kind="stable")[:k].tolist())  # noqa: E731
    return len(top(score) & top(truth)) / k


def pick_percentile(score: np.ndarray, truth: np.ndarray) -> float:
    """Where the proxy's top-1 pick lies among the sampled archs by truth (100 = the best)."""
    pick = truth[int(np.argmax(score))]
    return 100.0 * float(np.sum(truth < pick)) / (len(truth) - 1)


def metrics(score: list[float], truth: np.ndarray, ceiling: float) -> dict[str, float]:
    """τ, τ / ceiling, ρ, top-10% overlap and the top-1 pick's percentile."""
    s = np.nan_to_num(np.asarray(score, dtype=float), nan=-np.inf, neginf=-1e300, posinf=1e300)
    s = np.where(np.isinf(s), -1e300, s)
    tau = float(kendalltau(s, truth).statistic)
    return {
        "tau": tau,
        "tau_of_ceiling": tau / ceiling,
        "rho": float(spearmanr(s, truth).statistic),
        "top10": top_overlap(s, truth),
        "pick_percentile": pick_percentile(s, truth),
    }


@functools.cache
def setup(overrides: tuple[str, ...]) -> tuple[Any, Any]:
    """The typed config of a truth file's overrides and its data set (loaded once)."""
    cfg = typed_config(compose_config(list(overrides)))
    return cfg, load_dataset(cfg.dataset, cfg.seed)


def score_file(truth: dict[str, Any], proxy: str, batch_size: int) -> tuple[list[float], float]:
    """The proxy's scores of the file's architectures, and milliseconds per architecture."""
    cfg, data = setup(tuple(truth["overrides"]))
    start = time.perf_counter()
    scores = proxy_scores(truth["archs"], data, cfg.search_space, proxy, cfg.seed, 1, batch_size)
    return scores, 1000 * (time.perf_counter() - start) / len(truth["archs"])


def summarise(rows: list[dict[str, float]]) -> dict[str, str]:
    """mean ± std of every metric over seeds."""
    return {
        key: f"{np.mean([r[key] for r in rows]):.3f} ± {np.std([r[key] for r in rows]):.3f}"
        for key in rows[0]
    }


def main() -> None:
    """Tune on the tuning seeds, score the held-out seeds, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", type=Path, default=TRUTH)
    parser.add_argument("--spaces", nargs="+", default=["default", "enas_mnist1d"])
    parser.add_argument("--tune-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002])
    parser.add_argument("--proxies", nargs="+", default=list(PROXIES), choices=PROXIES)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    args = parser.parse_args()
    torch.set_num_threads(1)
    truths: dict[tuple[str, int], dict[str, Any]] = {}
    for space in args.spaces:
        for seed in args.tune_seeds + args.seeds:
            path = args.truth / f"{space}-seed{seed}.json"
            if path.exists():
                truths[space, seed] = load(path)
    ceilings = {k: float(kendalltau(*t["trainings"][:2]).statistic) for k, t in truths.items()}
    means = {k: np.mean(np.asarray(t["trainings"]), axis=0) for k, t in truths.items()}
    tune = [k for k in truths if k[1] in args.tune_seeds]
    print(f"tuning on {tune}", flush=True)
    # One batch size per proxy, the best mean τ over every tuning (space, seed).
    settings: dict[str, int] = {}
    tuning: dict[str, dict[int, float]] = {}
    for proxy in args.proxies:
        tuning[proxy] = {}
        for size in [] if proxy in DATA_FREE or not tune else args.batch_sizes:
            taus = [
                metrics(score_file(truths[k], proxy, size)[0], means[k], ceilings[k])["tau"]
                for k in tune
            ]
            tuning[proxy][size] = float(np.mean(taus))
        settings[proxy] = max(tuning[proxy], key=tuning[proxy].get) if tuning[proxy] else 64
    results: dict[str, Any] = {
        "truth": str(args.truth),
        "tuned_on": [f"{space}-seed{seed}" for space, seed in tune],
        "tuning_tau_by_batch_size": tuning,
        "batch_size": {p: None if p in DATA_FREE else settings[p] for p in args.proxies},
        "spaces": {},
    }
    for space in args.spaces:
        held = [s for s in args.seeds if (space, s) in truths]
        if not held:
            print(f"{space}: no held-out truth in {args.truth}; skipped")
            continue
        out: dict[str, Any] = {
            "held_out_seeds": held,
            "archs": {s: len(truths[space, s]["archs"]) for s in held},
            "ceiling": {s: ceilings[space, s] for s in held},
            "proxies": {},
        }
        for proxy in args.proxies:
            per_seed, ms = {}, []
            for s in held:
                scores, milliseconds = score_file(truths[space, s], proxy, settings[proxy])
                per_seed[s] = metrics(scores, means[space, s], ceilings[space, s])
                ms.append(milliseconds)
            out["proxies"][proxy] = {
                "per_seed": per_seed,
                "mean_std": summarise(list(per_seed.values())),
                "ms_per_arch": round(float(np.mean(ms)), 1),
            }
            m = out["proxies"][proxy]["mean_std"]
            print(
                f"{space:13s} {proxy:9s} bs {settings[proxy]:4d}  τ {m['tau']}  τ/ceiling "
                f"{m['tau_of_ceiling']}  ρ {m['rho']}  top10 {m['top10']}  "
                f"pick pct {m['pick_percentile']}  {np.mean(ms):.0f} ms/arch",
                flush=True,
            )
        ceiling = [ceilings[space, s] for s in held]
        print(f"{space}: noise ceiling τ {np.mean(ceiling):.3f} ± {np.std(ceiling):.3f}")
        results["spaces"][space] = out
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "proxy_ranking.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
