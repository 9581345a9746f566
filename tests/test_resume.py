"""A search killed with SIGKILL continues with resume=<run dir> as if it had never stopped."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import SEARCH_SCRIPT, search_cli

ARGS = [
    "dataset=digits",
    "child.epochs=1",
    "child.threads=1",
    "budget.children=24",
    "budget.batch=2",
    "test_best=false",
    "seed=7",
]


def evaluated(run_dir):
    lines = (run_dir / "children.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def strip_timing(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


@pytest.mark.slow
def test_kill_9_mid_search_then_resume_matches_an_uninterrupted_run(tmp_path):
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, str(SEARCH_SCRIPT), *ARGS, f"hydra.run.dir={killed}"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children = killed / "children.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if children.exists() and len(children.read_text().splitlines()) >= 7:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "summary.json").exists()

    resumed = search_cli(f"resume={killed}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming" in resumed.stdout

    records = evaluated(killed)
    fresh = [r for r in records if not r["cached"]]
    assert [r["index"] for r in fresh] == list(range(24))  # no duplicates, none missing
    assert [r["sample"] for r in records] == list(range(len(records)))
    assert json.loads((killed / "summary.json").read_text())["children"] == 24

    straight = tmp_path / "straight"
    assert search_cli(*ARGS, f"hydra.run.dir={straight}", cwd=tmp_path).returncode == 0
    assert strip_timing(evaluated(straight)) == strip_timing(records)

    again = search_cli(f"resume={killed}", cwd=tmp_path)
    assert again.returncode == 0
    assert "already finished" in again.stdout


def test_starting_over_an_existing_run_is_refused(tmp_path, finished_run):
    proc = search_cli("dataset=digits", f"hydra.run.dir={finished_run}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "resume=" in proc.stderr
