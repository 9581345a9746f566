"""Parallel children and the pipelined search: throughput, utilisation at scale, learning under lag.

    python benchmarks/pipeline.py                 # children/min: pipelined vs one at a time
    python benchmarks/pipeline.py --simulate      # worker utilisation at 8, 32, 128 workers
    python benchmarks/pipeline.py --lag           # NB201: best found with pipeline depth 0, 8, 32

Throughput: the default search (MNIST-1D, `budget.children=20 seed=5 test_best=false`) run
two ways, interleaved in the same run: *one at a time* is the old default (`evaluator.workers=1
child.threads=0 budget.depth=0`: one child at a time on torch's threads over every core), and
*pipelined* is today's default (one worker process per core, one thread each, the controller
`budget.depth` = workers proposals ahead). Each pair runs once on the idle machine and once
beside one busy process that this script starts and stops itself. Rates are children per minute
of search time (summary.json `seconds`, worker start-up included).

Simulation: the real search loop with a stand-in evaluator whose children sleep for durations
drawn from those of real default children (measured by the throughput part, one thread each;
time scaled by 1/6, 32 children per worker). Synchronous steps (`budget.depth=0`,
a batch of one child per worker) against the pipeline (`budget.depth` = workers). Utilisation =
busy worker time / (workers × wall time).

Lag: `experiment=lstm_nb201` (budget.batch=1) on the NB201 table (the paper's protocol) with
`budget.depth` 0, 8 and 32, on seeds 1000-1019; best reward and the found cell's 200-epoch
CIFAR-10 test accuracy at 100 and 200 cells.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from rich.console import Console

from app.config import BudgetConfig, compose_config
from app.loops.multi_trial import MultiTrialSearch
from app.run_files import RunFiles
from app.search import search_main
from child.evaluation.evaluator import ChildJob, Evaluator
from child.evaluation.pool import default_workers
from child.evaluation.result import ChildResult
from child.spaces.macro.space import MacroSpace, MacroSpaceConfig
from controller.random_search import RandomSearch

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT = ["budget.children=20", "seed=5", "test_best=false", "progress=false", "plots=false"]
ONE_AT_A_TIME = ["evaluator.workers=1", "child.threads=0", "budget.depth=0"]


# ---------------------------------------------------------------- throughput


def search(overrides: Sequence[str], out: Path) -> dict:
    """One default search; its summary, its children's seconds and its children/min."""
    start = time.perf_counter()
    summary = search_main(compose_config([*DEFAULT, *overrides]), out, Console(file=io.StringIO()))
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in (out / "children.jsonl").read_text().splitlines()]
    seconds = [r["seconds"] for r in records if not r["cached"]]
    rate = 60 * summary["children"] / summary["seconds"]
    return {"rate": rate, "seconds": summary["seconds"], "wall": wall, "child_seconds": seconds}


def busy_process() -> subprocess.Popen:
    """One process that keeps one core busy until stopped."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def throughput() -> None:
    """One-at-a-time vs pipelined-parallel, idle and beside a busy process, interleaved."""
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for load in ("idle", "loaded"):
            hog = busy_process() if load == "loaded" else None
            try:
                for name, overrides in (("one at a time", ONE_AT_A_TIME), ("pipelined", [])):
                    result = search(overrides, Path(tmp) / f"{load}-{name.replace(' ', '_')}")
                    rows[(load, name)] = result
                    print(
                        f"{load:6s} {name:14s} {result['rate']:5.1f} children/min "
                        f"({result['seconds']:.0f} s search, {result['wall']:.0f} s wall)",
                        flush=True,
                    )
            finally:
                if hog is not None:
                    hog.kill()
    ratios = {
        load: rows[(load, "pipelined")]["rate"] / rows[(load, "one at a time")]["rate"]
        for load in ("idle", "loaded")
    }
    slowdown = {
        name: rows[("idle", name)]["rate"] / rows[("loaded", name)]["rate"]
        for name in ("one at a time", "pipelined")
    }
    print(
        f"\npipelined / one at a time: idle {ratios['idle']:.2f}x, loaded {ratios['loaded']:.2f}x"
    )
    print(
        f"loaded / idle search time: one at a time {slowdown['one at a time']:.2f}x, "
        f"pipelined {slowdown['pipelined']:.2f}x; {default_workers()} workers"
    )
    write(
        "pipeline_throughput.json",
        {
            "runs": {f"{load} / {name}": r for (load, name), r in rows.items()},
            "ratio_pipelined_over_one_at_a_time": ratios,
            "slowdown_loaded_over_idle": slowdown,
            "workers": default_workers(),
        },
    )


# ---------------------------------------------------------------- simulation

SCALE = 1 / 6  # simulated seconds per real second of a child


class SleepEvaluator(Evaluator):
    """Children that sleep for a drawn duration on `workers` threads; it measures busy time."""

    def __init__(self, workers: int, durations: Sequence[float], seed: int) -> None:
        self.workers = workers
        self.durations = list(durations)
        self.rng = np.random.default_rng(seed)
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.futures: list[Future[ChildResult]] = []
        self.busy = 0.0
        self.lock = threading.Lock()
        self.done: list[ChildResult] = []
        self.ready = threading.Condition(self.lock)

    @property
    def parallelism(self) -> int:
        """One child per thread."""
        return self.workers

    def submit(self, jobs: Sequence[ChildJob]) -> None:
        """Start each job's sleep."""
        for job in jobs:
            duration = SCALE * float(self.rng.choice(self.durations))
            self.pool.submit(self._sleep, job, duration)

    def _sleep(self, job: ChildJob, duration: float) -> None:
        time.sleep(duration)
        result = ChildResult(job.index, job.arch, 0.5, 0.5, 1, duration)
        with self.ready:
            self.busy += duration
            self.done.append(result)
            self.ready.notify()

    def next_result(self) -> ChildResult:
        """The next child to wake up."""
        with self.ready:
            while not self.done:
                self.ready.wait()
            return self.done.pop(0)

    def close(self) -> None:
        """Stop the threads."""
        self.pool.shutdown(wait=True)


class Quiet:
    """A progress display and logger that do nothing (the loop's own are not measured here)."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


def simulate_one(workers: int, depth: int, durations: Sequence[float], children: int) -> float:
    """Utilisation of `workers` over a random search of `children` sleeping children."""
    space = MacroSpace.from_config(MacroSpaceConfig())
    evaluator = SleepEvaluator(workers, durations, seed=workers)
    budget = BudgetConfig(children=children, batch=workers, patience=0, depth=depth)
    with tempfile.TemporaryDirectory() as tmp:
        search = MultiTrialSearch(
            RandomSearch(space, 0),
            evaluator,
            budget,
            0,
            RunFiles(Path(tmp)),
            Quiet(),  # type: ignore[arg-type]
            Quiet(),  # type: ignore[arg-type]
            cache=False,
            depth=depth,
        )
        start = time.perf_counter()
        search.run()
        wall = time.perf_counter() - start
    evaluator.close()
    return evaluator.busy / (workers * wall)


def simulate() -> None:
    """Synchronous steps against the pipeline at 8, 32 and 128 workers."""
    path = RESULTS / "pipeline_throughput.json"
    if not path.is_file():
        raise SystemExit("run `python benchmarks/pipeline.py` first: it measures child durations")
    measured = json.loads(path.read_text())["runs"]["idle / pipelined"]["child_seconds"]
    print(
        f"child durations: {len(measured)} real children, mean {statistics.fmean(measured):.2f} s"
    )
    out = {}
    for workers in (8, 32, 128):
        children = 32 * workers
        sync = simulate_one(workers, 0, measured, children)
        pipe = simulate_one(workers, workers, measured, children)
        out[str(workers)] = {"synchronous": sync, "pipelined": pipe, "children": children}
        print(f"{workers:4d} workers: synchronous {100 * sync:.0f}%, pipelined {100 * pipe:.0f}%")
    write("pipeline_simulation.json", {"scale": SCALE, "durations": measured, "workers": out})


# ---------------------------------------------------------------- learning under lag


def lag() -> None:
    """The tuned LSTM on the NB201 table with depth 0, 8 and 32 over 20 seeds."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import nb201_protocol as protocol  # the protocol's runner: same settings, same reading

    seeds = range(1000, 1020)
    depths = (0, 8, 32)
    raws = {
        d: protocol.compose(["experiment=lstm_nb201", f"budget.depth={d}"], 1, 200) for d in depths
    }
    jobs = [(f"depth {d}", raws[d], s) for s in seeds for d in depths]
    outcomes = protocol.run_many(jobs, (100, 200), workers=2)
    out = {}
    for d in depths:
        runs = [o for o in outcomes if o.method == f"depth {d}"]
        out[str(d)] = {}
        for b in (100, 200):
            rewards = [100 * o.reward[b] for o in runs]
            tests = [100 * o.report[b]["cifar10_test_200ep"] for o in runs]
            out[str(d)][str(b)] = {
                "reward_mean": statistics.fmean(rewards),
                "reward_se": statistics.stdev(rewards) / len(rewards) ** 0.5,
                "test_mean": statistics.fmean(tests),
                "test_std": statistics.stdev(tests),
            }
            r = out[str(d)][str(b)]
            print(
                f"depth {d:2d} @{b}: reward {r['reward_mean']:.2f} ± {r['reward_se']:.2f} (SE), "
                f"CIFAR-10 test {r['test_mean']:.2f} ± {r['test_std']:.2f}"
            )
    write("pipeline_lag.json", {"seeds": list(seeds), "depths": out})


def write(name: str, data: dict) -> None:
    """Write benchmarks/results/`name`."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote benchmarks/results/{name}")


def main() -> None:
    """Run the chosen part."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulate", action="store_true", help="utilisation at scale")
    parser.add_argument("--lag", action="store_true", help="learning under pipeline lag")
    args = parser.parse_args()
    if args.simulate:
        simulate()
    elif args.lag:
        lag()
    else:
        throughput()


if __name__ == "__main__":
    main()
