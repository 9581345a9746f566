"""Bad input, as a hostile user types it: one line, exit 2, no traceback, nothing made or lost.

Every input here once slipped through (issue 10): it crashed with a traceback, was silently
ignored, hung, or lost rows. Each is run through the real script (in-process, for speed) from
an empty folder, with data loading booby-trapped, so a test also fails if the input was only
refused after the data set was loaded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import child.data.datasets
from tests.helpers import TINY, run_script, run_search


@pytest.fixture
def no_data(monkeypatch):
    """Make any data loading fail loudly: bad input must be refused before it."""

    def loaded(*args, **kwargs):
        raise AssertionError("the data set was loaded before the bad input was refused")

    monkeypatch.setattr(child.data.datasets, "make_splits", loaded)


def tree(folder: Path) -> dict[str, str]:
    """Every file below `folder` with a digest of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_refused(outcome, *words: str) -> None:
    """One `error:` line naming `words`, exit status 2, nothing on stdout, no traceback."""
    lines = outcome.stderr.strip().splitlines()
    assert outcome.code == 2, outcome.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.stderr
    assert "Traceback" not in outcome.stderr + outcome.stdout
    for word in words:
        assert word in lines[0], lines[0]


BAD_SEARCHES = [
    # (overrides, what the one line must name)
    (["controller.grad_clip=-1"], "controller.grad_clip"),
    (["controller.lr=inf"], "controller.lr"),
    (["controller.grad_clip=nan"], "controller.grad_clip"),
    (["controller.tanh_constant=inf"], "controller.tanh_constant"),
    (["reward=cost", "reward.alpha=nan"], "reward.alpha"),
    (["seed=-1"], "seed"),
    (["child.device=tpu9"], "child.device"),
    (["child.momentum=-1"], "child.momentum"),
    (["child.eval_batch_size=0"], "child.eval_batch_size"),
    (["child.label_smoothing=2"], "child.label_smoothing"),
    (["child.lr=inf"], "child.lr"),
    (["child.threads=-1"], "child.threads"),
    (["reward=val_acc", "reward.power=3"], "reward.power"),
    (
        ["evaluator=ray", "evaluator.num_cpus=1", "evaluator.cpus_per_child=2"],
        "evaluator.cpus_per_child",
    ),
    (["dataset=cifar10", "dataset.path=nowhere"], "dataset.path"),
    (["dataset=imagenet"], "dataset=imagenet"),
    (["controller.lrr=0.1"], "controller.lrr"),
    (["budget.batch=500"], "budget.batch"),
    (["budget.depth=-1"], "budget.depth"),
    (["budget.patience=-1"], "budget.patience"),
    (["evaluator.workers=0"], "evaluator.workers"),
    (["evaluator.max_retries=-1"], "evaluator.max_retries"),
    (
        ["search_space=nb201", "evaluator=table", "reward=cost", "reward.cost_metric=latency"],
        "reward.cost_metric='latency'",
    ),
    (["search_space.pool_after=[9]"], "search_space.pool_after"),
    # Weight sharing: combinations that cannot work, each with its reason.
    (["evaluator=shared", "search_space=layers"], "no one set of weights serves all paths"),
    (["evaluator=shared", "reward=zoph"], "shared-weight accuracy"),
    (["evaluator=shared", "evaluator.recipe.device=cpu"], "evaluator.recipe.device"),
    (["evaluator=shared", "evaluator.controller_steps=0"], "evaluator.controller_steps"),
    (["evaluator=shared", "evaluator.address=auto"], "evaluator.address"),
]


@pytest.mark.parametrize(
    ("overrides", "key"), BAD_SEARCHES, ids=[" ".join(o) for o, _ in BAD_SEARCHES]
)
def test_a_bad_setting_is_refused_before_any_data_and_leaves_nothing(
    tmp_path, no_data, overrides, key
):
    outcome = run_script("search.py", *overrides, cwd=tmp_path)
    assert_refused(outcome, key)
    assert tree(tmp_path) == {}  # no run directory, no outputs/ folder


def test_resuming_a_file_or_a_folder_that_is_not_a_run_writes_nothing(tmp_path, no_data):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "mine.txt").write_text("mine")
    before = tree(tmp_path)
    for target in ("notes.txt", "folder", "missing"):
        assert_refused(run_script("search.py", f"resume={target}", cwd=tmp_path), "resume=")
    assert tree(tmp_path) == before
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["mine.txt"]


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A run stopped after 6 of its 24 children: a checkpoint, 6 lines, no summary."""
    run_dir = tmp_path_factory.mktemp("stopped") / "run"
    tiny = [o for o in TINY if not o.startswith("budget.")]
    run_search(run_dir, [*tiny, "budget.children=6", "budget.batch=2", "test_best=false"])
    (run_dir / "summary.json").unlink()
    config = run_dir / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("children: 6", "children: 24"))
    return run_dir


def copy_run(run_dir: Path, to: Path) -> Path:
    """A copy of `run_dir` under `to`, to damage."""
    target = to / "run"
    for path in run_dir.rglob("*"):
        if path.is_file():
            (target / path.relative_to(run_dir)).parent.mkdir(parents=True, exist_ok=True)
            (target / path.relative_to(run_dir)).write_bytes(path.read_bytes())
    return target


def test_resume_refuses_changed_settings_and_changes_nothing(tmp_path, stopped_run, no_data):
    run = copy_run(stopped_run, tmp_path)
    before = tree(tmp_path)
    outcome = run_script("search.py", f"resume={run}", "budget.children=50", cwd=tmp_path)
    assert_refused(outcome, "budget.children=50", "start a new run")
    assert tree(tmp_path) == before  # not even .hydra/resumed-* is left


@pytest.mark.parametrize(
    "damage",
    ["garbage line 4", "truncated last counted line", "empty checkpoint", "truncated checkpoint"],
)
def test_a_damaged_run_is_refused_and_no_row_is_lost(tmp_path, stopped_run, no_data, damage):
    run = copy_run(stopped_run, tmp_path)
    children, checkpoint = run / "children.jsonl", run / "checkpoint.pt"
    lines = children.read_text().splitlines(keepends=True)
    assert len(lines) == 6
    if damage == "garbage line 4":
        lines[3] = "this is not json\n"
        children.write_text("".join(lines))
    elif damage == "truncated last counted line":
        children.write_text("".join(lines[:5]) + lines[5][: len(lines[5]) // 2])
    elif damage == "empty checkpoint":
        checkpoint.write_bytes(b"")
    else:
        checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    before = tree(tmp_path)
    outcome = run_script("search.py", f"resume={run}", cwd=tmp_path)
    assert_refused(outcome, "resume=", "nothing was changed")
    assert tree(tmp_path) == before


def test_an_intact_stopped_run_still_resumes(tmp_path, stopped_run):
    run = copy_run(stopped_run, tmp_path)
    outcome = run_script("search.py", f"resume={run}", "progress=false", cwd=tmp_path)
    assert outcome.code == 0, outcome.stderr
    rows = [json.loads(line) for line in (run / "children.jsonl").read_text().splitlines()]
    assert sum(not r["cached"] for r in rows) == 24


def test_retrain_of_a_missing_run_names_run_not_resume(tmp_path, no_data):
    outcome = run_script("retrain.py", "run=/nonexistent", cwd=tmp_path)
    assert_refused(outcome, "run='/nonexistent'")
    assert "resume" not in outcome.stderr
    assert tree(tmp_path) == {}


def test_retrain_of_a_favourite_from_a_damaged_checkpoint(tmp_path, stopped_run, no_data):
    run = copy_run(stopped_run, tmp_path)
    (run / "checkpoint.pt").write_bytes(b"\x00" * 10)
    before = tree(tmp_path)
    outcome = run_script("retrain.py", f"run={run}", "source=favourite", cwd=tmp_path)
    assert_refused(outcome, "run=", "checkpoint.pt")
    assert tree(tmp_path) == before


def test_retrain_with_a_bad_recipe_is_refused_before_data(tmp_path, stopped_run, no_data):
    outcome = run_script("retrain.py", f"run={stopped_run}", "child.lr=nan", cwd=tmp_path)
    assert_refused(outcome, "child.lr")
    assert tree(tmp_path) == {}


def test_compare_names_a_bad_overrides_file_in_one_line(tmp_path, stopped_run):
    run = copy_run(stopped_run, tmp_path)
    (run / ".hydra" / "overrides.yaml").write_text("- seed=1\n  : [unbalanced\n")
    outcome = run_script("compare.py", str(run), cwd=tmp_path)
    assert_refused(outcome, "overrides.yaml")
