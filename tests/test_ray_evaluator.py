"""The Ray evaluator on the 2-core machine: same results as in-process, failures contained."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from child.data.config import DigitsConfig  # noqa: E402
from child.data.datasets import load_dataset  # noqa: E402
from child.evaluation.config import ChildConfig, RayEvaluatorConfig  # noqa: E402
from child.evaluation.evaluator import ChildJob  # noqa: E402
from child.evaluation.ray_evaluator import RayEvaluator  # noqa: E402
from child.evaluation.rewards import ValAccReward  # noqa: E402
from child.spaces.macro.space import MacroSpaceConfig  # noqa: E402
from core.architecture import Architecture, Layer  # noqa: E402
from tests.helpers import SEARCH_SCRIPT, TINY_ANYWHERE, run_search, search_cli  # noqa: E402

ARCH = Architecture("macro", (Layer("conv3", (("width", 8),)),))


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def rewards(run_dir: Path) -> dict[int, float]:
    lines = (run_dir / "children.jsonl").read_text().splitlines()
    return {r["index"]: r["reward"] for r in map(json.loads, lines) if not r["cached"]}


@pytest.mark.slow
def test_ray_and_local_give_the_same_rewards_for_the_same_seed(tmp_path, local_ray):
    # depth 0 on both: by default each runs ahead by its own number of workers.
    common = [*TINY_ANYWHERE, "budget.children=4", "budget.batch=2", "budget.depth=0"]
    common += ["test_best=false"]
    run_search(tmp_path / "local", [*common, "evaluator=local"])
    run_search(tmp_path / "ray", [*common, "evaluator=ray"])
    assert rewards(tmp_path / "ray") == rewards(tmp_path / "local")
    assert len(rewards(tmp_path / "ray")) == 4


def failing_body(kind: str, attempts: Path):
    """A task body that dies or raises; defined in a closure so Ray ships it by value."""

    def body(*args, **kwargs):
        with attempts.open("a") as f:
            f.write("x")
        if kind == "dies":
            os._exit(1)
        raise RuntimeError("boom")

    return body


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dies", "raises"])
def test_a_failing_task_is_retried_then_recorded_as_a_failed_child(tmp_path, local_ray, kind):
    attempts = tmp_path / "attempts"
    data = load_dataset(DigitsConfig(), seed=0)
    evaluator = RayEvaluator(
        RayEvaluatorConfig(max_retries=2),
        data,
        MacroSpaceConfig(),
        ChildConfig(epochs=1),
        ValAccReward(),
    )
    body = failing_body(kind, attempts)
    evaluator.remote = ray.remote(body).options(max_retries=2, retry_exceptions=True)
    (result,) = list(evaluator.evaluate([ChildJob(5, ARCH, 0)]))
    evaluator.close()
    assert result.status == "error" and result.reward == 0.0 and result.index == 5
    assert "ray task failed" in result.message
    assert attempts.read_text() == "xxx"  # the first try and two retries


@pytest.mark.slow
def test_ctrl_c_stops_the_search_and_ray_then_resume_finishes_it(tmp_path):
    run_dir = tmp_path / "run"
    # 12 children: a loaded machine must not finish the search before the signal lands.
    args = [*TINY_ANYWHERE, "evaluator=ray", "budget.children=12", "budget.batch=2"]
    args += ["test_best=false"]
    proc = subprocess.Popen(
        [sys.executable, str(SEARCH_SCRIPT), *args, f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that runs the tests in the background ignores SIGINT, and its children inherit
        # that: Python would then not turn Ctrl-C into KeyboardInterrupt. Restore the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    children = run_dir / "children.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (children.exists() and children.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # Ray is shut down, nothing hangs
    assert proc.returncode == 130, err
    assert "resume=" in err.splitlines()[-1]

    resumed = search_cli(f"resume={run_dir}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run_dir / "summary.json").read_text())["children"] == 12
