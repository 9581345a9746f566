"""scripts/compare.py and controller/compare.py on fake run directories with known rewards."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from app.compare import (
    UNSET,
    Run,
    compare,
    default_budgets,
    expand_paths,
    group_label,
    group_runs,
    load_run,
    parse_budgets,
    write_outputs,
)
from tests.helpers import ROOT, search_cli

SCRIPT = ROOT / "scripts" / "compare.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# A multirun of 2 controllers × 3 seeds: (controller, seed, uncached rewards, summary seconds).
# lstm's best-so-far curves: [.1 .3 .3 .5], [.2 .2 .4 .4], [.4 .4 .6 .6]
# random's: [.5 .5 .7 .8], [.6 .9 .9 .9], [.7 .7] (stopped after 2 children, no summary.json)
SWEEP = [
    ("lstm", 0, [0.1, 0.3, 0.2, 0.5], 10.0),
    ("lstm", 1, [0.2, 0.2, 0.4, 0.4], 20.0),
    ("lstm", 2, [0.4, 0.1, 0.6, 0.3], 30.0),
    ("random", 0, [0.5, 0.5, 0.7, 0.8], 40.0),
    ("random", 1, [0.6, 0.9, 0.1, 0.1], 50.0),
    ("random", 2, [0.7, 0.2], None),
]
CHILD_SECONDS = 1.5
CACHED = {"reward": 0.99, "val_acc": 0.99, "seconds": 100.0, "cached": True}


def write_run(run_dir, overrides, rewards, seconds=None, cached_after=None, choices=None):
    """A fake run directory; a cached repeat with reward 0.99 goes after child `cached_after`."""
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if choices is not None:
        hydra = {"hydra": {"runtime": {"choices": choices}}}
        (run_dir / ".hydra" / "hydra.yaml").write_text(json.dumps(hydra))  # JSON is YAML
    lines = []
    for index, reward in enumerate(rewards):
        record = {"index": index, "reward": reward, "val_acc": reward, "status": "ok"}
        lines.append({**record, "seconds": CHILD_SECONDS, "cached": False})
        if index == cached_after:
            lines.append({**record, **CACHED})
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (run_dir / "children.jsonl").write_text(text)
    if seconds is not None:
        summary = {"seconds": seconds, "children": len(rewards), "best_reward": max(rewards)}
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


@pytest.fixture
def sweep(tmp_path):
    """A fake Hydra multirun directory shaped like `controller=lstm,random seed=0,1,2`."""
    root = tmp_path / "multirun" / "2026-01-01" / "12-00-00"
    for job, (controller, seed, rewards, seconds) in enumerate(SWEEP):
        overrides = ["dataset=digits", f"controller={controller}", f"seed={seed}"]
        cached_after = 0 if job in (1, 5) else None
        write_run(root / str(job), overrides, rewards, seconds, cached_after)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def load_script():
    spec = importlib.util.spec_from_file_location("compare_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args, cwd):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_multirun_expands_to_its_numbered_runs_in_order(sweep):
    assert expand_paths([sweep]) == [sweep / str(i) for i in range(6)]
    assert expand_paths([sweep / "2", sweep / "0", sweep / "2"]) == [sweep / "2", sweep / "0"]


def test_cached_repeats_do_not_count_as_children(sweep):
    run = load_run(sweep / "1")
    assert run.curve == (0.2, 0.2, 0.4, 0.4)
    assert run.seconds == 20.0  # from summary.json
    short = load_run(sweep / "5")
    assert short.curve == (0.7, 0.7)
    assert short.seconds == 2 * CHILD_SECONDS  # no summary: sum of the uncached children
    assert load_run(sweep / "5", metric="val_acc").curve == (0.7, 0.7)


def test_runs_are_grouped_by_the_overrides_that_differ_seed_aside(sweep):
    comparison = compare([sweep], budgets=[2, 4, 5])
    labels = [g.label for g in comparison.groups]
    assert labels == ["controller=lstm", "controller=random"]
    assert [g.settings for g in comparison.groups] == [
        {"controller": "lstm"},
        {"controller": "random"},
    ]
    assert [[r.dir.name for r in g.runs] for g in comparison.groups] == [
        ["0", "1", "2"],
        ["3", "4", "5"],
    ]


def test_separate_runs_are_labelled_by_the_keys_whose_values_differ(tmp_path):
    a = write_run(tmp_path / "a", ["controller.lr=0.01", "seed=0"], [0.5])
    b = write_run(tmp_path / "b", ["controller.lr=0.05", "seed=1"], [0.5])
    c = write_run(tmp_path / "c", ["controller.lr=0.05", "dataset=digits", "seed=2"], [0.5])
    labels = [g.label for g in compare([a, b, c]).groups]
    assert labels == [
        f"controller.lr=0.01, dataset={UNSET}",
        f"controller.lr=0.05, dataset={UNSET}",
        "controller.lr=0.05, dataset=digits",
    ]


def test_a_key_left_at_its_default_matches_the_same_value_given_explicitly(tmp_path):
    choices = {"controller": "lstm", "hydra/launcher": "basic"}
    a = write_run(tmp_path / "a", ["seed=0"], [0.5], choices=choices)
    b = write_run(tmp_path / "b", ["controller=lstm", "seed=1"], [0.5], choices=choices)
    c = write_run(tmp_path / "c", ["controller=random", "seed=0"], [0.5], choices=choices)
    groups = compare([a, b, c]).groups
    assert [(g.label, len(g.runs)) for g in groups] == [
        ("controller=lstm", 2),
        ("controller=random", 1),
    ]


def test_runs_that_differ_only_in_seed_or_hydra_settings_form_one_group(tmp_path):
    a = write_run(tmp_path / "a", ["seed=0", "hydra.verbose=true"], [0.5])
    b = write_run(tmp_path / "b", ["seed=1", "+hydra.job.chdir=false"], [0.7])
    (group,) = compare([a, b]).groups
    assert group.label == "all"
    assert group.settings == {}
    assert len(group.runs) == 2


def test_mean_and_std_at_each_budget_are_over_the_runs_that_got_that_far(sweep, tmp_path):
    data = json.loads(write_outputs(compare([sweep], budgets=[2, 4, 5]), tmp_path)[1].read_text())
    lstm, rand = data["groups"]
    assert data["metric"] == "reward"
    assert data["budgets"] == [2, 4, 5]
    # lstm: after 2 children .3 .2 .4; after 4: .5 .4 .6
    assert lstm["at_budgets"]["2"] == pytest.approx({"mean": 0.3, "std": 0.1, "n": 3})
    assert lstm["at_budgets"]["4"] == pytest.approx({"mean": 0.5, "std": 0.1, "n": 3})
    assert lstm["at_budgets"]["5"] is None
    assert lstm["final"] == pytest.approx({"mean": 0.5, "std": 0.1, "n": 3})
    assert lstm["seconds_mean"] == pytest.approx(20.0)
    # random: after 2: .5 .9 .7; after 4 only two runs: .8 .9 (std sqrt(2 · .05²) = .070711)
    assert rand["at_budgets"]["2"] == pytest.approx({"mean": 0.7, "std": 0.2, "n": 3})
    assert rand["at_budgets"]["4"] == pytest.approx({"mean": 0.85, "std": 0.0707107, "n": 2})
    assert rand["final"] == pytest.approx({"mean": 0.8, "std": 0.1, "n": 3})
    assert rand["seconds_mean"] == pytest.approx((40 + 50 + 3) / 3)
    short = rand["run_details"][2]
    assert short["at_budgets"] == {"2": 0.7, "4": None, "5": None}
    assert short["curve"] == [0.7, 0.7]
    assert short["overrides"] == {"dataset": "digits", "controller": "random"}


def test_the_table_and_files_are_written_to_the_multirun_dir(sweep, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    load_script().main([str(sweep), "--budgets", "2,4,5"])
    out = capsys.readouterr().out
    assert "controller=lstm" in out and "controller=random" in out
    assert "0.8500 ± 0.0707 (n=2)" in out
    assert (sweep / "comparison.md").read_text().splitlines() == [
        "| group | runs | reward@2 | reward@4 | reward@5 | final reward | wall time (mean) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        "| controller=lstm | 3 | 0.3000 ± 0.1000 | 0.5000 ± 0.1000 | - | 0.5000 ± 0.1000 | 20 s |",
        "| controller=random | 3 | 0.7000 ± 0.2000 | 0.8500 ± 0.0707 (n=2) | - "
        "| 0.8000 ± 0.1000 | 31 s |",
    ]
    assert json.loads((sweep / "comparison.json").read_text())["budgets"] == [2, 4, 5]
    assert not list(tmp_path.glob("comparison.*"))


def test_the_plot_is_a_png(sweep, tmp_path):
    png = write_outputs(compare([sweep]), tmp_path / "out")[2]
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    height, width, channels = matplotlib.image.imread(png).shape
    assert height > 100 and width > 100 and channels in (3, 4)


def test_plain_run_dirs_write_into_the_current_dir_or_out(sweep, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    load_script().main([str(sweep / "0"), str(sweep / "3"), "--metric", "val_acc"])
    md = (tmp_path / "comparison.md").read_text()
    assert md.startswith("| group | runs | val_acc@1 | val_acc@2 | val_acc@3 | val_acc@4 |")
    load_script().main([str(sweep / "0"), "--out", str(tmp_path / "elsewhere")])
    assert (tmp_path / "elsewhere" / "comparison.png").is_file()
    data = json.loads((tmp_path / "elsewhere" / "comparison.json").read_text())
    assert [(g["label"], g["runs"]) for g in data["groups"]] == [("all", 1)]
    assert data["groups"][0]["final"] == {"mean": 0.5, "std": None, "n": 1}
    assert "wrote" in capsys.readouterr().out


def test_default_budgets_are_the_quarter_points_of_the_shortest_run():
    def run(n):
        return Run(Path("r"), {}, tuple(range(n)), 0.0)

    assert default_budgets([run(100), run(120)]) == (25, 50, 75, 100)
    assert default_budgets([run(4)]) == (1, 2, 3, 4)
    assert default_budgets([run(2), run(10)]) == (1, 2)
    assert default_budgets([run(1)]) == (1,)
    assert parse_budgets("50, 10,25,10") == (10, 25, 50)


def test_groups_keep_the_order_runs_came_in():
    runs = [Run(Path(str(i)), {"c": c}, (0.5,), 0.0) for i, c in enumerate("bab")]
    assert [(g.label, len(g.runs)) for g in group_runs(runs)] == [("c=b", 2), ("c=a", 1)]


def test_a_bad_path_is_one_line_and_exit_2(tmp_path):
    proc = run_script("does-not-exist", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: does-not-exist is neither a run directory")
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["empty"], "is neither a run directory"),
        (["sweep", "--budgets", "10,x"], "--budgets"),
        (["sweep", "--budgets", "0"], "--budgets"),
        (["sweep", "--metric", "arch_str"], "--metric 'arch_str'"),
        (["sweep", "--frobnicate"], "unrecognized arguments"),
        ([], "required: paths"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(sweep, tmp_path, capsys, args, expected):
    (tmp_path / "empty").mkdir()
    args = [str(sweep) if a == "sweep" else str(tmp_path / a) if a == "empty" else a for a in args]
    with pytest.raises(SystemExit) as exit_:
        load_script().main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert not (sweep / "comparison.md").exists()


@pytest.mark.slow
def test_a_real_sweep_compares_two_controllers_with_two_seeds_each(tmp_path):
    sweep = tmp_path / "sweep"
    search = search_cli(
        "-m",
        "dataset=digits",
        "child.epochs=1",
        "child.threads=1",
        "budget.children=4",
        "budget.batch=2",
        "test_best=false",
        "controller=lstm,random",
        "seed=0,1",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=600,
    )
    assert search.returncode == 0, search.stderr
    proc = run_script(sweep, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "controller=lstm" in proc.stdout and "controller=random" in proc.stdout
    data = json.loads((sweep / "comparison.json").read_text())
    assert [(g["label"], g["runs"]) for g in data["groups"]] == [
        ("controller=lstm", 2),
        ("controller=random", 2),
    ]
    assert data["budgets"] == [1, 2, 3, 4]
    assert all(g["at_budgets"]["4"]["n"] == 2 for g in data["groups"])
    assert (sweep / "comparison.png").read_bytes().startswith(PNG_MAGIC)


def test_jobs_named_by_their_overrides_are_found_in_number_order(tmp_path):
    root = tmp_path / "multirun"
    names = ["10-controller=random,seed=1", "2-controller=lstm,seed=0", "3", "notes"]
    for name in names:
        write_run(root / name, [], [0.5])
    (root / "multirun.yaml").write_text("hydra: {}\n")
    found = [p.name for p in expand_paths([root])]
    assert found == ["2-controller=lstm,seed=0", "3", "10-controller=random,seed=1"]


@pytest.mark.parametrize(
    "names",
    [
        # Before sweeps were named by what varies: every override of the call.
        [
            "0-controller=lstm,dataset=digits,seed=0",
            "1-controller=lstm,dataset=digits,seed=1",
            "2-controller=lstm,dataset=digits,seed=2",
            "3-controller=random,dataset=digits,seed=0",
            "4-controller=random,dataset=digits,seed=1",
            "5-controller=random,dataset=digits,seed=2",
        ],
        # Now: only what varies across the sweep.
        [f"{job}-controller={c},seed={s}" for job, (c, s, _, _) in enumerate(SWEEP)],
        # Hydra's plain numbers, and a cut name with its hash.
        ["0", "1", "2", "3-controller=random,seed=0", "4", "5-" + "x" * 110 + "~0123abcd"],
    ],
)
def test_compare_reads_sweeps_whatever_their_jobs_are_named(sweep, tmp_path, names):
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for job, name in enumerate(names):
        (sweep / str(job)).rename(renamed / name)
    (sweep / "multirun.yaml").rename(renamed / "multirun.yaml")
    result = compare([renamed], budgets=[2])
    assert [(g.label, len(g.runs)) for g in result.groups] == [
        ("controller=lstm", 3),
        ("controller=random", 3),
    ]
    assert [run.dir.name for g in result.groups for run in g.runs] == names


def test_a_sweep_names_its_job_directories_by_their_overrides(tmp_path):
    from app.config import JOB_NAME_LIMIT, job_dir_name

    assert job_dir_name(3, "controller=lstm,seed=1") == "3-controller=lstm,seed=1"
    assert job_dir_name(0, "") == "0"
    assert job_dir_name(1, "evaluator.path=/data/t.csv") == "1-evaluator.path=_data_t.csv"
    long_a, long_b = job_dir_name(4, "x" * 300), job_dir_name(4, "x" * 299 + "y")
    assert len(long_a) == JOB_NAME_LIMIT and long_a != long_b


def test_a_group_label_leaves_out_settings_its_runs_do_not_set():
    # A sweep of experiments compared with a plain controller sweep: the plain runs set no
    # experiment, and their label names what they do set.
    assert group_label({"experiment": "None", "controller": "random"}) == "controller=random"
    assert (
        group_label({"experiment": "ppo", "controller": "lstm"})
        == "experiment=ppo, controller=lstm"
    )
    assert group_label({"budget.minutes": "None"}) == "all"
