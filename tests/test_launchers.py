"""Sweeps through Hydra's launchers: joblib runs a sweep's runs in parallel processes."""

import json

import pytest

from app.compare import numbered_dirs
from child.evaluation.pool import default_workers
from tests.helpers import TINY_ANYWHERE, search_cli


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
