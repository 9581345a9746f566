"""A search killed with SIGKILL continues with resume=<run dir> as if it had never stopped."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from app.loops import loop_named
from app.loops.base import CHECKPOINT_VERSION, migrate_checkpoint
from app.loops.darts import DartsSearch
from app.loops.multi_trial import MultiTrialSearch
from app.loops.shared_weights import SharedWeightSearch
from core.errors import ConfigError
from tests.helpers import SEARCH_SCRIPT, TINY, run_search, search_cli
from tests.test_darts import TINY_DARTS
from tests.test_shared_search import TINY_SHARED

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


# Checkpoints written before version 3: version 2 (multi-trial) and version 1 (shared weights).


def legacy_checkpoint(checkpoint):
    """`checkpoint` (version 3) in the layout the code before version 3 wrote for its method."""
    state, own = dict(checkpoint["state"]), checkpoint["method_state"]
    stopped = state.pop("stopped")
    shared = checkpoint["method"] != "multi_trial"
    old_state = {
        **state,
        "epoch": own["epoch"] if shared else 0,
        "depth": None if shared else own["depth"],
        "on_target": stopped,
    }
    old = {
        "version": 1 if shared else 2,
        "state": old_state,
        "controller": checkpoint["controller"],
    }
    if shared:
        old["evaluator"] = own["evaluator"]
    else:
        old["pending"] = own["pending"]
    return old


def rewrite_as_legacy(run_dir):
    path = run_dir / "checkpoint.pt"
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint["version"] == CHECKPOINT_VERSION
    old = legacy_checkpoint(checkpoint)
    torch.save(old, path)
    return checkpoint, old


def interrupt_at(monkeypatch, loop, method, call):
    """Make `loop.method` raise KeyboardInterrupt on its `call`-th call (a killed run)."""
    original, calls = getattr(loop, method), []

    def dying(self):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(loop, method, dying)
    return lambda: monkeypatch.setattr(loop, method, original)


def test_a_version_2_checkpoint_converts_to_version_3():
    old = {
        "version": 2,
        "state": {"step": 3, "evaluated": 5, "sampled": 7, "cached": 1, "seconds": 2.0,
                  "controller_seconds": 0.5, "lines": 6, "best": None, "epoch": 0,
                  "repeats": 1, "depth": 4, "on_target": None},
        "controller": {"weights": 1},
        "pending": [[{"arch": "x", "step": 2, "job": 5, "joins": None}]],
    }  # fmt: skip
    new = migrate_checkpoint(old, MultiTrialSearch)
    assert new == {
        "version": 3,
        "method": "multi_trial",
        "state": {"step": 3, "evaluated": 5, "sampled": 7, "cached": 1, "seconds": 2.0,
                  "controller_seconds": 0.5, "lines": 6, "best": None, "repeats": 1,
                  "stopped": None},
        "controller": {"weights": 1},
        "method_state": {"depth": 4, "pending": old["pending"]},
    }  # fmt: skip


def test_a_version_1_checkpoint_converts_to_version_3_of_its_configs_method():
    old = {
        "version": 1,
        "state": {"step": 4, "evaluated": 12, "sampled": 12, "cached": 0, "seconds": 2.0,
                  "controller_seconds": 0.5, "lines": 12, "best": None, "epoch": 2,
                  "repeats": 0, "depth": None, "on_target": "target reached: ..."},
        "controller": {"weights": 1},
        "evaluator": {"supernet": 2},
    }  # fmt: skip
    for loop in (SharedWeightSearch, DartsSearch):
        new = migrate_checkpoint(old, loop)
        assert new["version"] == 3 and new["method"] == loop.method
        assert new["state"]["stopped"] == "target reached: ..."
        assert "epoch" not in new["state"] and "on_target" not in new["state"]
        assert new["method_state"] == {"epoch": 2, "evaluator": {"supernet": 2}}


@pytest.mark.parametrize(
    ("checkpoint", "loop", "words"),
    [
        (
            {"version": 1, "state": {}},
            MultiTrialSearch,
            "version 1 cannot be read as a multi_trial",
        ),
        ({"version": 2, "state": {}}, SharedWeightSearch, "version 2 cannot be read as a enas"),
        ({"version": 9, "state": {}}, DartsSearch, "version 9 cannot be read"),
        ({"version": 3, "method": "darts", "state": {}}, SharedWeightSearch, "of a darts search"),
    ],
)
def test_a_checkpoint_of_another_method_or_version_is_refused_in_one_line(checkpoint, loop, words):
    with pytest.raises(ConfigError) as err:
        migrate_checkpoint(checkpoint, loop)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_every_method_has_its_own_legacy_version():
    assert {m: loop_named(m).legacy_version for m in ("multi_trial", "enas", "darts")} == {
        "multi_trial": 2,
        "enas": 1,
        "darts": 1,
    }


def without_seconds(run_dir):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in evaluated(run_dir)]


def test_a_version_2_multi_trial_checkpoint_with_pending_proposals_resumes(tmp_path, monkeypatch):
    # Two proposals ahead of learning: the checkpoint holds pending proposals to start again.
    args = [*TINY, "budget.children=8", "budget.batch=2", "budget.depth=2", "test_best=false"]
    args += ["seed=5"]
    straight, _ = run_search(tmp_path / "straight", args)
    killed = tmp_path / "killed"
    restore = interrupt_at(monkeypatch, MultiTrialSearch, "step", 3)
    with pytest.raises(KeyboardInterrupt):
        run_search(killed, args)
    restore()
    new, old = rewrite_as_legacy(killed)
    assert old["pending"] and old["state"]["depth"] == 2  # proposals in flight were saved
    resumed, printed = run_search(killed, [f"resume={killed}"])
    assert "Resuming" in printed
    assert without_seconds(killed) == without_seconds(tmp_path / "straight")
    assert resumed["best"]["index"] == straight["best"]["index"]
    assert resumed["best_reward"] == straight["best_reward"] and resumed["method"] == "multi_trial"
    assert torch.load(killed / "checkpoint.pt", weights_only=False)["version"] == 3


@pytest.mark.parametrize(
    ("args", "loop"), [(TINY_SHARED, SharedWeightSearch), (TINY_DARTS, DartsSearch)]
)
def test_a_version_1_shared_weight_checkpoint_resumes(tmp_path, monkeypatch, args, loop):
    args = [*args, "test_best=false", "seed=3"]
    straight, _ = run_search(tmp_path / "straight", args)
    killed = tmp_path / "killed"
    restore = interrupt_at(monkeypatch, loop, "epoch", 2)  # after the first epoch's checkpoint
    with pytest.raises(KeyboardInterrupt):
        run_search(killed, args)
    restore()
    _, old = rewrite_as_legacy(killed)
    assert old["version"] == 1 and old["state"]["epoch"] == 1
    resumed, printed = run_search(killed, [f"resume={killed}"])
    assert "Resuming" in printed
    derived = [json.loads((d / "derive.json").read_text()) for d in (killed, tmp_path / "straight")]
    assert derived[0] == derived[1]
    assert resumed["best"] == straight["best"] and resumed["method"] == loop.method
    assert resumed["shared"] == straight["shared"]
    if loop is SharedWeightSearch:
        assert without_seconds(killed) == without_seconds(tmp_path / "straight")


@pytest.mark.parametrize(
    ("args", "loop"),
    [
        ([*TINY, "budget.children=8", "budget.batch=2", "seed=5"], MultiTrialSearch),
        ([*TINY_SHARED, "seed=3"], SharedWeightSearch),
        ([*TINY_DARTS, "seed=3"], DartsSearch),
    ],
    ids=["multi_trial", "enas", "darts"],
)
def test_a_run_killed_in_its_first_step_resumes_from_the_checkpoint_before_it(
    tmp_path, monkeypatch, args, loop
):
    # Every run checkpoints before its first step, so children without a checkpoint can only
    # mean a lost checkpoint (which resume refuses), never a run killed early.
    args = [*args, "test_best=false"]
    straight, _ = run_search(tmp_path / "straight", args)
    killed = tmp_path / "killed"
    restore = interrupt_at(monkeypatch, loop, "checkpoint", 2)  # the first step's checkpoint
    with pytest.raises(KeyboardInterrupt):
        run_search(killed, args)
    restore()
    saved = torch.load(killed / "checkpoint.pt", weights_only=False)["state"]
    assert saved["step"] == 0 and saved["lines"] == 0
    if loop is MultiTrialSearch:
        assert evaluated(killed)  # the first step's children, which the resume trains again
    resumed, printed = run_search(killed, [f"resume={killed}"])
    assert f"Resuming {killed} at step 0: 0 children done." in printed
    if loop is not DartsSearch:  # DARTS samples no children
        assert without_seconds(killed) == without_seconds(tmp_path / "straight")
    assert strip_timing([resumed["best"]]) == strip_timing([straight["best"]])
