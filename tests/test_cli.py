"""The search CLI as users type it, run as a subprocess (or in-process, for quick refusals)."""

import json
from pathlib import Path

import pytest

from app.compare import numbered_dirs
from app.errors import RENAMED
from tests.helpers import TINY, run_script, search_cli


@pytest.mark.slow
def test_search_runs_with_overrides_and_writes_its_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    proc = search_cli(
        *TINY,
        "budget.children=3",
        "controller.lr=1e-3",
        "seed=3",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Search summary" in proc.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["children"] == 3
    assert summary["config"]["controller"]["lr"] == 1e-3
    assert summary["config"]["seed"] == 3
    assert len((run_dir / "children.jsonl").read_text().splitlines()) >= 3


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("controller.lrr=0.1", "controller.lrr"),
        ("+controller.lrr=0.1", "lrr"),
        ("controller.lr=fast", "controller.lr"),
        ("budget.children=many", "budget.children"),
        ("dataset=imagenet", "dataset"),
        ("search_space.num_layers=0", "search_space.num_layers"),
        ("search_space.ops=[]", "search_space.ops"),
        ("budget.batch=500", "budget.batch"),
        ("child.optimizer=rmsprop", "child.optimizer"),
    ],
)
def test_bad_input_gives_one_line_naming_the_key_before_any_training(tmp_path, override, expected):
    proc = search_cli(override, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "children.jsonl").exists()


def test_unknown_option_lists_the_known_ones(tmp_path):
    proc = search_cli("controller=genetic", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "lstm" in proc.stderr and "evolution" in proc.stderr


# The tuned and published controller presets that became experiments (issue 20).
OLD_PRESETS = ("enas", "zoph", "ppo", "lstm_nb201", "softmax_nb201", "evolution_nb201")
OLD_PRESETS += ("evolution_paper",)


@pytest.mark.parametrize("name", OLD_PRESETS)
def test_a_preset_that_became_an_experiment_names_its_new_spelling(tmp_path, name):
    outcome = run_script("search.py", f"controller={name}", cwd=tmp_path)
    assert outcome.code == 2
    sets = RENAMED[f"controller={name}"][1]
    assert outcome.stderr.splitlines() == [
        f"error: controller={name} is now an experiment: use experiment={name} (it sets {sets})"
    ]
    assert list(tmp_path.iterdir()) == []  # no run directory, no log


def test_every_renamed_preset_is_an_experiment_and_no_controller():
    assert sorted(RENAMED) == sorted(f"controller={name}" for name in OLD_PRESETS)
    conf = Path(__file__).resolve().parents[1] / "conf"
    for name in OLD_PRESETS:
        assert RENAMED[f"controller={name}"][0] == f"experiment={name}"
        assert not (conf / "controller" / f"{name}.yaml").exists()
        assert (conf / "experiment" / f"{name}.yaml").is_file()


@pytest.mark.slow
def test_multirun_sweeps_each_setting_into_its_own_dir(tmp_path):
    proc = search_cli(
        "-m",
        *TINY,
        "budget.children=2",
        "budget.batch=2",
        "seed=0,1",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    jobs = numbered_dirs(tmp_path / "sweep")
    # Each job is named by the overrides that vary, so TensorBoard's run list says what ran.
    assert [p.name for p in jobs] == ["0-seed=0", "1-seed=1"]
    seeds = [json.loads((p / "summary.json").read_text())["config"]["seed"] for p in jobs]
    assert seeds == [0, 1]
