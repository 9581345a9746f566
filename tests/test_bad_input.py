"""Bad input, as a hostile user types it: one line, exit 2, no traceback, nothing made or lost.

Every input here once slipped through (issue 10): it crashed with a traceback, was silently
ignored, hung, or lost rows. Each is run through the real script (in-process, for speed) from
an empty folder, with data loading booby-trapped, so a test also fails if the input was only
refused after the data set was loaded.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

import child.data.datasets
from tests.helpers import TINY, run_script, run_search
from tests.test_compare import write_run


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
    # Absurd budgets (issue 24): each would run until another stop.
    (["budget.children=100000000000000000000"], "budget.children"),
    (["budget.max_samples=100000000000000000000"], "budget.max_samples"),
    (["budget.patience=100000000000000000000"], "budget.patience"),
    (["budget.depth=100000000000000000000"], "budget.depth"),
    (["budget.minutes=1e20"], "budget.minutes"),
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


# Issue 24: nothing lost, nothing left running.


@pytest.mark.parametrize("lost", ["checkpoint.pt", "checkpoint.pt and best.json"])
def test_resume_of_a_run_whose_checkpoint_is_gone_is_refused_and_keeps_every_row(
    tmp_path, stopped_run, no_data, lost
):
    run = copy_run(stopped_run, tmp_path)
    (run / "checkpoint.pt").unlink()
    if "best.json" in lost:
        (run / "best.json").unlink()
    (run / ".hydra" / "overrides.yaml").write_text("- seed=3\n- budget.children=24\n")
    before = tree(tmp_path)
    outcome = run_script("search.py", f"resume={run}", cwd=tmp_path)
    assert_refused(
        outcome,
        "nothing was changed",
        "children.jsonl",
        "no checkpoint.pt",
        "start a new run instead: python scripts/search.py seed=3 budget.children=24",
    )
    assert tree(tmp_path) == before  # children.jsonl byte-identical, nothing added


def test_a_new_run_into_a_folder_holding_children_is_refused(tmp_path, stopped_run, no_data):
    run = copy_run(stopped_run, tmp_path)
    (run / "checkpoint.pt").unlink()
    before = tree(tmp_path)
    outcome = run_script("search.py", f"hydra.run.dir={run}", cwd=tmp_path)
    assert_refused(outcome, str(run), "children.jsonl", "run directory of its own")
    assert tree(tmp_path) == before


def test_resume_of_a_run_with_a_damaged_summary_is_refused(tmp_path, stopped_run, no_data):
    run = copy_run(stopped_run, tmp_path)
    (run / "summary.json").write_text('{"children": 6, "best')
    before = tree(tmp_path)
    outcome = run_script("search.py", f"resume={run}", cwd=tmp_path)
    assert_refused(outcome, "summary.json is damaged", "nothing was changed")
    assert tree(tmp_path) == before


# A -m sweep: every job is checked before the first one runs.


@pytest.mark.parametrize(
    ("sweep", "words"),
    [
        ("seed=0,-1,2", ["sweep job 1 (seed=-1) of 3", "seed=-1 is invalid", "no job was run"]),
        (
            "budget.children=6,100000000000000000000",
            ["sweep job 1 (budget.children=100000000000000000000) of 2", "budget.children="],
        ),
    ],
)
def test_a_sweep_with_one_bad_job_runs_no_job(tmp_path, no_data, sweep, words):
    outcome = run_script("search.py", "-m", *TINY, sweep, cwd=tmp_path)
    assert_refused(outcome, *words)
    assert tree(tmp_path) == {}  # no multirun/ folder, no job directory


# File-system errors: one line naming the path and the reason, nothing made.


def test_a_run_directory_below_a_plain_file_is_refused(tmp_path, no_data):
    (tmp_path / "notes.txt").write_text("mine")
    outcome = run_script("search.py", "hydra.run.dir=notes.txt/run", cwd=tmp_path)
    assert_refused(outcome, str(tmp_path / "notes.txt" / "run"), "notes.txt is a file")
    assert tree(tmp_path) == {"notes.txt": hashlib.sha256(b"mine").hexdigest()}


def test_a_run_directory_name_over_the_limit_is_refused_and_makes_nothing(tmp_path, no_data):
    outcome = run_script("search.py", f"hydra.run.dir=new/{'x' * 300}", cwd=tmp_path)
    assert_refused(outcome, "new/xxx", "300 bytes, over the file system's limit of 255")
    assert not any(tmp_path.iterdir())  # not even new/


@pytest.fixture
def read_only(monkeypatch):
    """`read_only(place)` makes `place` behave as a read-only mount: permission queries say
    so, and mkdir fails with EROFS.

    Tests run as root, which writes through permission bits, and cannot mount; so the calls
    the kernel would answer with EROFS are answered so for paths below `place`.
    """
    real_access, real_statvfs, real_mkdir = os.access, os.statvfs, os.mkdir

    def lock(place: Path) -> Path:
        def below(path) -> bool:
            if isinstance(path, int):
                return False
            return Path(os.path.abspath(os.fsdecode(path))).is_relative_to(place)

        def access(path, mode, *args, **kwargs):
            if below(path) and mode & os.W_OK:
                return False
            return real_access(path, mode, *args, **kwargs)

        def statvfs(path):
            result = real_statvfs(path)
            return SimpleNamespace(f_flag=result.f_flag | os.ST_RDONLY) if below(path) else result

        def mkdir(path, *args, **kwargs):
            if below(path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))
            return real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
        monkeypatch.setattr(os, "statvfs", statvfs)
        monkeypatch.setattr(os, "mkdir", mkdir)
        return place

    return lock


def test_a_read_only_place_is_refused_in_one_line(tmp_path, no_data, read_only):
    place = tmp_path / "ro"
    place.mkdir()
    read_only(place)
    outcome = run_script("search.py", cwd=place)  # outputs/<date>/<time> below it
    assert_refused(outcome, str(place / "outputs"), "read-only file system")
    assert tree(tmp_path) == {}


def test_resume_into_a_read_only_run_is_refused_in_one_line(tmp_path, stopped_run, read_only):
    run = read_only(copy_run(stopped_run, tmp_path))
    before = tree(tmp_path)
    outcome = run_script("search.py", f"resume={run}", cwd=tmp_path)
    assert_refused(outcome, f"cannot write the run directory {run}", "read-only file system")
    assert tree(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a folder without write permission")
def test_a_folder_without_write_permission_is_refused_in_one_line(tmp_path, no_data):
    place = tmp_path / "locked"
    place.mkdir(mode=0o555)
    try:
        outcome = run_script("search.py", cwd=place)
    finally:
        place.chmod(0o755)
    assert_refused(outcome, str(place / "outputs"), "permission denied")
    assert tree(tmp_path) == {}


def test_a_log_file_hydra_cannot_open_is_named_in_one_line(tmp_path, stopped_run):
    run = copy_run(stopped_run, tmp_path)
    (run / "search.log").mkdir()  # Hydra's log handler cannot open a folder
    outcome = run_script("search.py", f"resume={run}", cwd=tmp_path)
    assert_refused(outcome, str(run / "search.log"), "Is a directory")


# compare.py: a damaged line is named, and its run left out whole; a torn last line is not.


def sweep_of_two(tmp_path, damage):
    """Two runs of 20 children; the second's children.jsonl damaged as `damage` says."""
    runs = [tmp_path / "0-seed=0", tmp_path / "1-seed=1"]
    for seed, run in enumerate(runs):
        write_run(run, [f"seed={seed}"], [0.01 * (i + seed) for i in range(20)], seconds=9.0)
    children = runs[1] / "children.jsonl"
    lines = children.read_text().splitlines(keepends=True)
    if damage == "line 9":
        lines[8] = lines[8][:15] + "\n"
    else:  # a torn last line, as a search killed mid-write leaves it
        lines[-1] = lines[-1][:15]
    children.write_text("".join(lines))
    return runs


def test_compare_names_a_damaged_line_and_leaves_its_run_out(tmp_path):
    runs = sweep_of_two(tmp_path, "line 9")
    outcome = run_script("compare.py", *runs, "--out", tmp_path / "out", cwd=tmp_path)
    assert outcome.code == 0, outcome.stderr
    warnings = outcome.stderr.strip().splitlines()
    assert warnings == [
        f"warning: skipped {runs[1]}: children.jsonl line 9 of 20 is damaged (Unterminated "
        "string starting at: line 1 column 14 (char 13)), so the whole run is left out"
    ]
    result = json.loads((tmp_path / "out" / "comparison.json").read_text())
    dirs = [run["dir"] for group in result["groups"] for run in group["run_details"]]
    assert dirs == [str(runs[0])] and result["skipped"] == [warnings[0][len("warning: skipped ") :]]
    assert "Left out: " in (tmp_path / "out" / "comparison.md").read_text()


def test_compare_reads_a_torn_last_line_as_a_running_search(tmp_path):
    runs = sweep_of_two(tmp_path, "torn last line")
    outcome = run_script("compare.py", *runs, "--out", tmp_path / "out", cwd=tmp_path)
    assert outcome.code == 0 and outcome.stderr == "", outcome.stderr
    result = json.loads((tmp_path / "out" / "comparison.json").read_text())
    children = {r["dir"]: r["children"] for g in result["groups"] for r in g["run_details"]}
    assert children == {str(runs[0]): 20, str(runs[1]): 19}
