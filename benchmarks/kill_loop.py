"""Kill a default search with SIGKILL at random moments, resume it each time, and check that no
process of it is left behind and that it ends exactly as a search never stopped.

    PYTHONPATH=$PWD nice -n 5 .venv/bin/python benchmarks/kill_loop.py --kills 20 --seed 0

One uninterrupted search is run first (or --straight names one). Then a second search with the
same settings is started and, `--kills` times, killed at a random moment and resumed with
`resume=<run dir>`. A third of the moments fall in the first --startup seconds after the launch
(start-up, data loading, the worker pool's start); the others a random [0, --max-delay] seconds
after the first child this launch writes (children in training, checkpoints), so that the kills
reach the whole search however slow the machine's start-up is. After each kill every process
that carries the kill's marker (an environment variable the search's workers and
multiprocessing's resource tracker inherit) must be gone within --grace seconds. A search that
ends before the next kill is compared with the uninterrupted one, and a new one takes the
remaining kills. The runs go into --out; the record of every kill into --result.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEARCH = ROOT / "scripts" / "search.py"
MARKER = "NAS_KILL_LOOP_MARKER"
VOLATILE = ("seconds", "compile_seconds")


def marked(marker: str) -> list[int]:
    """Live processes (zombies aside) whose environment holds MARKER=`marker` (Linux /proc)."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z":
            found.append(int(entry))
    return found


def children(run_dir: Path) -> list[dict]:
    """The complete lines of children.jsonl, timings left out (a torn last line is dropped)."""
    path = run_dir / "children.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append({k: v for k, v in json.loads(line).items() if k not in VOLATILE})
        except ValueError:
            break
    return rows


def start(args: list[str], marker: str, log: Path) -> subprocess.Popen:
    """scripts/search.py `args`, its processes marked with `marker`."""
    env = {**os.environ, MARKER: marker, "PYTHONPATH": str(ROOT)}
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, str(SEARCH), *args], stdout=out, stderr=out, env=env, cwd=ROOT
        )


def ending(run_dir: Path, code: int, expected: list[dict], best: float) -> dict:
    """How a search that ended by itself ended: its exit status, and whether it is exact."""
    if code != 0:
        return {"run": run_dir.name, "exit": code, "exact": False}
    ended = json.loads((run_dir / "summary.json").read_text())["best_reward"]
    exact = children(run_dir) == expected and ended == best
    return {"run": run_dir.name, "exit": 0, "exact": exact}


def main() -> None:
    """Run the loop; print and write what happened at each kill."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="of the random kill moments")
    parser.add_argument("--startup", type=float, default=45.0, help="seconds after a launch")
    parser.add_argument("--max-delay", type=float, default=30.0, help="after its first child")
    parser.add_argument("--straight", type=Path, help="an uninterrupted run of these settings")
    parser.add_argument("--grace", type=float, default=60.0, help="seconds for orphans to go")
    parser.add_argument("--out", type=Path, default=Path("/tmp/kill_loop"), help="run dirs")
    parser.add_argument("--result", type=Path, default=ROOT / "benchmarks/results/kill_loop.json")
    parser.add_argument("overrides", nargs="*", help="search overrides (default: none)")
    opts = parser.parse_args()
    out = opts.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    settings = [*opts.overrides, "progress=false"]
    log = out / "search.log.txt"

    tick = time.perf_counter()
    straight = opts.straight or out / "straight"
    if opts.straight is None:
        proc = start([*settings, f"hydra.run.dir={straight}"], uuid.uuid4().hex, log)
        assert proc.wait() == 0, f"the uninterrupted search failed: see {log}"
    expected = children(straight)
    best = json.loads((straight / "summary.json").read_text())["best_reward"]
    print(f"uninterrupted: {len(expected)} lines, best reward {best:.4f}, "
          f"{time.perf_counter() - tick:.0f} s", flush=True)  # fmt: skip

    rng = random.Random(opts.seed)
    kills, runs, run_number = [], [], 0
    run_dir = out / f"killed-{run_number}"
    fresh = True
    while len(kills) < opts.kills:
        marker = uuid.uuid4().hex
        args = [*settings, f"hydra.run.dir={run_dir}"] if fresh else [f"resume={run_dir}"]
        early = rng.random() < 1 / 3
        delay = rng.uniform(1.0, opts.startup) if early else rng.uniform(0.0, opts.max_delay)
        lines = len(children(run_dir))
        proc = start(args, marker, log)
        launched = time.monotonic()
        while not early and proc.poll() is None and len(children(run_dir)) <= lines:
            time.sleep(0.01)  # a child written by this launch: the delay counts from here
        counted_from = launched if early else time.monotonic()
        while time.monotonic() - counted_from < delay and proc.poll() is None:
            time.sleep(0.01)
        if proc.poll() is not None:  # ended before the kill: it must have ended exactly
            runs.append(ending(run_dir, proc.returncode, expected, best))
            print(json.dumps(runs[-1]), flush=True)
            run_number += 1
            run_dir, fresh = out / f"killed-{run_number}", True
            continue
        processes = len(marked(marker))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = time.monotonic()
        while marked(marker) and time.monotonic() - killed_at < opts.grace:
            time.sleep(0.1)
        cleared = time.monotonic() - killed_at
        left = marked(marker)
        for pid in left:  # leave the machine clean for the next kill
            os.kill(pid, signal.SIGKILL)
        rows = children(run_dir)
        kills.append(
            {
                "run": run_dir.name,
                "moment": "start-up" if early else "after a child",
                "delay_s": round(delay, 2),
                "since_launch_s": round(killed_at - launched, 1),
                "processes_at_kill": processes,
                "left_after_grace": len(left),
                "seconds_to_clear": round(cleared, 2),
                "lines": len(rows),
                "lines_match": rows == expected[: len(rows)],
                "checkpoint": (run_dir / "checkpoint.pt").exists(),
            }
        )
        print(json.dumps(kills[-1]), flush=True)
        # Killed before Hydra wrote the run's settings: not yet a run, so start it anew.
        fresh = not (run_dir / ".hydra" / "config.yaml").exists()
    proc = start(
        [*settings, f"hydra.run.dir={run_dir}"] if fresh else [f"resume={run_dir}"],
        uuid.uuid4().hex,
        log,
    )
    runs.append(ending(run_dir, proc.wait(), expected, best))
    print(json.dumps(runs[-1]), flush=True)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "kills": kills,
        "runs": runs,
        "kills_leaving_processes": sum(k["left_after_grace"] > 0 for k in kills),
        "max_seconds_to_clear": max(k["seconds_to_clear"] for k in kills),
        "all_runs_exact": all(r["exact"] for r in runs),
        "all_lines_matched": all(k["lines_match"] for k in kills),
        "wall_minutes": round((time.perf_counter() - tick) / 60, 1),
    }
    opts.result.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result.items() if k not in ("kills", "runs")}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
