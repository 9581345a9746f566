"""Parallel children and the pipelined search: same children on any number of workers, exact
resume mid-pipeline, and workers that die."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from app.config import compose_config, typed_config
from child.data.datasets import load_dataset
from child.evaluation.evaluator import ChildJob
from child.evaluation.pool import PoolEvaluator
from child.evaluation.rewards import ValAccReward
from child.spaces.macro.space import MacroSpaceConfig
from core.architecture import Architecture, Layer
from tests.helpers import SEARCH_SCRIPT, TINY_ANYWHERE, run_search

SEARCH = [*TINY_ANYWHERE, "budget.children=8", "budget.batch=2", "test_best=false"]
VOLATILE = ("seconds", "compile_seconds")


def children(run_dir):
    """children.jsonl without the timings, which differ from run to run (none before it exists:
    the first checkpoint comes before the first child)."""
    path = run_dir / "children.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [{k: v for k, v in json.loads(line).items() if k not in VOLATILE} for line in lines]


@pytest.mark.slow
@pytest.mark.parametrize("depth", [0, 4])
def test_the_same_seed_and_depth_give_the_same_children_on_one_or_two_workers(tmp_path, depth):
    one, _ = run_search(tmp_path / "one", [*SEARCH, "evaluator.workers=1", f"budget.depth={depth}"])
    two, _ = run_search(tmp_path / "two", [*SEARCH, "evaluator.workers=2", f"budget.depth={depth}"])
    assert children(tmp_path / "one") == children(tmp_path / "two")
    assert one["children"] == two["children"] == 8
    assert one["best"]["arch_str"] == two["best"]["arch_str"]


def test_depth_lets_the_controller_run_ahead_and_the_lag_is_logged(tmp_path):
    run_search(tmp_path / "sync", [*SEARCH, "evaluator.workers=1", "budget.depth=0"])
    run_search(tmp_path / "ahead", [*SEARCH, "evaluator.workers=1", "budget.depth=4"])
    assert lags(tmp_path / "ahead") == [0, 1, 2, 2]  # proposed 0, 1 and 2 updates before
    assert lags(tmp_path / "sync") == [0, 0, 0, 0]
    # Both run the same budget; with lag the controller saw fewer results when it proposed.
    assert len([c for c in children(tmp_path / "ahead") if not c["cached"]]) == 8


def worker_pids(pid):
    """The pool workers whose parent is `pid` (Linux /proc; not multiprocessing's tracker)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                command = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:  # gone since the listing
                continue
            is_worker = b"spawn_main" in command
            if is_worker and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry))
    return pids


def alive(pid):
    """Whether `pid` runs (a zombie does not count)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def lags(run_dir):
    """The policy lag logged at each controller update."""
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [int(e.value) for e in events.Scalars("controller/policy_lag")]


@pytest.mark.slow
def test_kill_9_mid_pipeline_then_resume_gives_the_uninterrupted_run(tmp_path):
    args = [*SEARCH, "budget.children=16", "evaluator.workers=2", "budget.depth=4", "seed=4"]
    run_search(tmp_path / "whole", args)
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, str(SEARCH_SCRIPT), *args, f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = run_dir / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.exists() and len(children(run_dir)) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the search ended before it could be killed"
    workers = worker_pids(proc.pid)
    assert len(workers) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Orphaned workers leave by themselves: none keeps its memory after the search is gone.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers)
    done = subprocess.run(
        [sys.executable, str(SEARCH_SCRIPT), f"resume={run_dir}", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert children(run_dir) == children(tmp_path / "whole")
    assert json.loads((run_dir / "summary.json").read_text())["children"] == 16


def pool(max_retries):
    data = load_dataset(typed_config(compose_config(["dataset=digits"])).dataset, 0)
    cfg = typed_config(compose_config(["dataset=digits", "child.epochs=1"]))
    space = MacroSpaceConfig(num_layers=2, widths=[8])
    return PoolEvaluator(2, data, space, cfg.child, ValAccReward(), max_retries=max_retries)


ARCH = Architecture("macro", (Layer("conv3", (("width", 8),)), Layer("conv3", (("width", 8),))))


def kill_workers(evaluator):
    """SIGKILL every worker of the pool once both have started (as the OOM killer would)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        processes = list((evaluator._pool._processes or {}).values())
        if len(processes) == 2 and all(p.pid for p in processes):
            break
        time.sleep(0.05)
    for process in processes:
        os.kill(process.pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize(("max_retries", "status"), [(1, "ok"), (0, "error")])
def test_a_worker_that_dies_is_retried_or_recorded_as_failed(max_retries, status):
    evaluator = pool(max_retries)
    try:
        evaluator.submit([ChildJob(i, ARCH, i) for i in range(3)])
        kill_workers(evaluator)
        results = sorted((evaluator.next_result() for _ in range(3)), key=lambda r: r.index)
    finally:
        evaluator.close()
    assert [r.index for r in results] == [0, 1, 2]
    killed = [r for r in results if r.status != "ok"]
    if status == "ok":
        assert not killed  # every lost child trained again in the new pool
    else:
        assert killed and all("worker died" in r.message for r in killed)


# Kills at the worst moments: no process of the search may outlive it.

MARKER = "NAS_TEST_MARKER"
# Run scripts/search.py with every checkpoint after the first paused between its write and its
# rename (a flag file says when), so that a test can kill it in the middle of a checkpoint.
PAUSED_CHECKPOINT = """
import os, runpy, sys, time, types
import app.run_files as run_files
flag = sys.argv.pop(1)
def replace(src, dst):
    if str(dst).endswith("checkpoint.pt") and os.path.exists(dst):
        open(flag, "w").close()
        time.sleep(120)
    os.replace(src, dst)
run_files.os = types.SimpleNamespace(**{**vars(os), "replace": replace})
sys.argv[0] = sys.argv[1]
del sys.argv[1]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def marked_processes(marker):
    """The live processes (zombies aside) whose environment holds MARKER=`marker` (Linux /proc)."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            except OSError:  # gone since the listing, or not ours to read
                continue
            if needle in environ and alive(int(entry)):
                found.append(int(entry))
    return found


def commands(pids):
    """What each process runs, for a failure message."""
    texts = []
    for pid in pids:
        try:
            texts.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            texts.append(f"{pid}: gone")
    return texts


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["pool start-up", "a child", "a checkpoint"])
def test_a_search_killed_at_the_worst_moment_leaves_no_process_behind(tmp_path, moment):
    args = [*SEARCH, "evaluator.workers=2", "seed=2", "progress=false"]
    run_dir, flag = tmp_path / "killed", tmp_path / "in-checkpoint"
    command = [sys.executable, str(SEARCH_SCRIPT)]
    if moment == "a checkpoint":
        command = [sys.executable, "-c", PAUSED_CHECKPOINT, str(flag), str(SEARCH_SCRIPT)]
    marker = f"{os.getpid()}-{tmp_path.name}"
    env = {**os.environ, MARKER: marker, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(
        [*command, *args, f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    ready = {
        "pool start-up": lambda: worker_pids(proc.pid),  # a worker exists, still importing
        "a child": lambda: len(children(run_dir)) >= 1,
        "a checkpoint": flag.exists,
    }[moment]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.005)
    assert proc.poll() is None, "the search ended before it could be killed"
    assert len(marked_processes(marker)) >= 2  # the search and at least one worker
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and marked_processes(marker):
        time.sleep(0.2)
    left = marked_processes(marker)
    assert not left, commands(left)
    if moment == "a checkpoint":  # killed between writing a checkpoint and its rename
        resumed = subprocess.run(
            [sys.executable, str(SEARCH_SCRIPT), f"resume={run_dir}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert not marked_processes(marker)  # the resumed search's workers are gone too
        run_search(tmp_path / "whole", args)
        assert children(run_dir) == children(tmp_path / "whole")
        assert not list(run_dir.glob(".checkpoint.pt.*.tmp"))  # the torn write is cleared
