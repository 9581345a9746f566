"""Sweeps through Hydra's launchers: joblib runs a sweep's runs in parallel processes."""

import json

import pytest
import yaml

from app.compare import numbered_dirs
from app.sweep_names import constant_keys
from child.evaluation.pool import default_workers
from tests.helpers import TINY_ANYWHERE, run_script, search_cli

# A sweep that takes seconds in-process: table look-ups, no training.
TABLE = ["search_space=nb201", "evaluator=table", "budget.children=4", "budget.batch=2"]


@pytest.mark.slow
def test_a_two_run_joblib_sweep_runs_end_to_end(tmp_path):
    sweep = tmp_path / "sweep"
    proc = search_cli(
        "-m",
        "hydra/launcher=local_parallel",
        *TINY_ANYWHERE,
        "budget.children=2",
        "budget.batch=2",
        "test_best=false",
        "seed=0,1",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    jobs = numbered_dirs(sweep)
    assert [job.name for job in jobs] == ["0-seed=0", "1-seed=1"]  # joblib's jobs, named too
    summaries = [json.loads((job / "summary.json").read_text()) for job in jobs]
    # The parallel runs share the cores rather than each taking all of them, and say so.
    cores = default_workers()
    share = max(1, cores // 2)
    said = f"joblib runs 2 searches at once on {cores} cores: each trains with "
    assert f"{said}evaluator.workers={share}" in proc.stdout
    assert all(s["config"]["evaluator"]["workers"] == share for s in summaries)
    assert sorted(s["config"]["seed"] for s in summaries) == [0, 1]
    assert all(s["children"] == 2 for s in summaries)
    assert "joblib" in (sweep / "multirun.yaml").read_text()


def test_the_slurm_example_composes_with_the_submitit_launcher(tmp_path):
    proc = search_cli(
        "hydra/launcher=slurm",
        "--cfg",
        "hydra",
        "--package",
        "hydra.launcher",
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "SlurmLauncher" in proc.stdout
    assert "partition: gpu" in proc.stdout


def test_a_sweep_names_its_jobs_by_the_overrides_that_vary(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "controller=lstm,random", *TABLE, "seed=0", f"hydra.sweep.dir={sweep}"]
    outcome = run_script("search.py", *args, cwd=tmp_path)
    assert outcome.code == 0, outcome.stderr
    jobs = numbered_dirs(sweep)
    assert [job.name for job in jobs] == ["0-controller=lstm", "1-controller=random"]
    # Each job still records every override of its call: compare.py groups runs by those.
    overrides = yaml.safe_load((jobs[1] / ".hydra" / "overrides.yaml").read_text())
    assert overrides == ["controller=random", *TABLE, "seed=0"]
    # The sweep's record says which keys its names leave out.
    record = yaml.safe_load((sweep / "multirun.yaml").read_text())
    excluded = record["hydra"]["job"]["config"]["override_dirname"]["exclude_keys"]
    assert {"resume", "seed", "search_space", "budget.children"} <= set(excluded)
    assert "controller" not in excluded


def test_a_sweep_where_nothing_varies_names_its_job_by_number(tmp_path):
    sweep = tmp_path / "sweep"
    outcome = run_script(
        "search.py", "-m", *TABLE, "seed=0", f"hydra.sweep.dir={sweep}", cwd=tmp_path
    )
    assert outcome.code == 0, outcome.stderr
    assert [job.name for job in numbered_dirs(sweep)] == ["0"]


@pytest.mark.parametrize(
    ("arguments", "constant"),
    [
        (["controller=lstm,random", "seed=0", "budget.children=200"], ["seed", "budget.children"]),
        (["seed=range(0,3)", "x=choice(1)", "y=1,1", "+z=2", "~w"], ["x", "y", "z", "w"]),
        (["seed=0,1", "seed=2"], ["seed"]),  # the later override of a key wins, as in Hydra
        (["lr=interval(0.1,1.0)"], []),  # drawn by a sweeper that samples: it varies
    ],
)
def test_the_keys_a_sweep_leaves_out_of_its_names(arguments, constant):
    assert constant_keys(arguments) == constant


def test_another_sweeper_keeps_hydras_names():
    from omegaconf import OmegaConf

    from app.sweep_names import NameJobsByWhatVaries

    hydra = {
        "sweeper": {"_target_": "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"},
        "overrides": {"hydra": [], "task": ["controller=lstm,random", "seed=0"]},
        "job": {"config": {"override_dirname": {"exclude_keys": ["resume"]}}},
    }
    config = OmegaConf.create({"hydra": hydra})
    NameJobsByWhatVaries().on_multirun_start(config)
    assert OmegaConf.to_container(config.hydra) == hydra
    # The basic sweeper's: the shared seed joins the keys left out of the names.
    config.hydra.sweeper._target_ = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
    NameJobsByWhatVaries().on_multirun_start(config)
    assert list(config.hydra.overrides.hydra) == [
        "hydra.job.config.override_dirname.exclude_keys=['resume','seed']"
    ]
    assert list(config.hydra.job.config.override_dirname.exclude_keys) == ["resume", "seed"]
