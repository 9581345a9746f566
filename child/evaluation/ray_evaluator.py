"""Train a step's children concurrently as Ray tasks, on a local Ray instance or a cluster.

Workers receive plain values only: the job (architecture, index, seed), the data tensors through
Ray's object store, and the config dataclasses. A child's result depends on those alone, so Ray
and the in-process evaluator agree for the same seed (on the CPU, with the same thread count).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import torch

from child.data.datasets import DataSplits, load_dataset
from child.evaluation.config import ChildConfig, RayEvaluatorConfig
from child.evaluation.costs import count_params
from child.evaluation.evaluator import (
    ChildJob,
    Evaluator,
    EvaluatorDef,
    EvaluatorSetup,
    evaluate_child,
)
from child.evaluation.result import ChildResult, Status
from child.evaluation.rewards import Reward
from child.evaluation.trainer import resolve_device
from child.spaces import SpaceConfig, build_network
from core.errors import ConfigError

log = logging.getLogger(__name__)


def _train(
    job: ChildJob,
    data: DataSplits,
    space_cfg: SpaceConfig,
    child_cfg: ChildConfig,
    reward_cfg: Reward,
    threads: int,
) -> ChildResult:
    """The body of one Ray task: move the data to this worker's device and train the child."""
    torch.set_num_threads(threads)
    device = resolve_device(child_cfg.device)
    return evaluate_child(job, data.to(device), space_cfg, child_cfg, reward_cfg)


def _warm_up() -> int:
    """Import the child code in a worker, so that the first real child does not pay for it."""
    import child.evaluation.evaluator  # noqa: F401  (torch and the networks come with it)

    return os.getpid()


class RayEvaluator(Evaluator):
    """Submits each child as a Ray task; hands results back in the order they finish."""

    def __init__(
        self,
        cfg: RayEvaluatorConfig,
        data: DataSplits,
        space_cfg: SpaceConfig,
        child_cfg: ChildConfig,
        reward_cfg: Reward,
    ) -> None:
        cfg.check()
        try:
            import ray
        except ImportError as err:  # pragma: no cover - ray is in requirements.txt
            raise ConfigError("evaluator=ray needs the ray package: pip install ray") from err
        self.ray = ray
        self.cfg = cfg
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            ray.init(
                address=cfg.address,
                num_cpus=None if cfg.address else cfg.num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        self.space_cfg = space_cfg
        self.child_cfg = child_cfg
        self.reward_cfg = reward_cfg
        # Each worker trains with as many threads as CPUs it was given (at least one).
        threads = child_cfg.threads or max(1, int(cfg.cpus_per_child))
        self.threads = threads
        self.input_shape, self.num_classes = data.input_shape, data.num_classes
        self.data_ref = ray.put(data.to("cpu"))
        self.remote = ray.remote(_train).options(
            num_cpus=cfg.cpus_per_child,
            num_gpus=cfg.gpus_per_child,
            max_retries=cfg.max_retries,
            retry_exceptions=True,
        )
        resources = ray.cluster_resources()
        cfg.require_fits(resources.get("CPU", 0), resources.get("GPU", 0))
        self._warm_up_workers()
        self._pending: dict[Any, ChildJob] = {}  # running task → its job
        log.info("ray: %s", resources)

    @property
    def parallelism(self) -> int:
        """The child slots of the Ray instance."""
        return self._slots()

    def _slots(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1) // self.cfg.cpus_per_child))

    def _warm_up_workers(self) -> None:
        """Start one worker per child slot now: the search loop's clock starts warm."""
        warm = self.ray.remote(_warm_up).options(num_cpus=self.cfg.cpus_per_child)
        self.ray.get([warm.remote() for _ in range(min(self._slots(), 64))])

    def submit(self, jobs: Sequence[ChildJob]) -> None:
        """Start a task per job, largest first.

        Ray starts tasks in the order they are submitted. Submitting the children with the most
        parameters first (they tend to train longest) leaves the short ones for the end of the
        step, so workers finish closer together (the longest-processing-time-first rule).
        """
        for job in sorted(jobs, key=self._estimated_cost, reverse=True):
            task = self.remote.remote(
                job, self.data_ref, self.space_cfg, self.child_cfg, self.reward_cfg, self.threads
            )
            self._pending[task] = job

    def next_result(self) -> ChildResult:
        """The result of the next task to finish (a task whose retries are spent: failed)."""
        done, _ = self.ray.wait(list(self._pending), num_returns=1)
        job = self._pending.pop(done[0])
        try:
            return self.ray.get(done[0])
        except self.ray.exceptions.RayError as err:
            # Retries are spent: the child failed, the search goes on.
            message = f"ray task failed: {str(err).splitlines()[0][:250]}"
            return ChildResult.failed(job.index, job.arch, Status.ERROR, message)

    def _estimated_cost(self, job: ChildJob) -> int:
        """The child's parameter count, counted without allocating memory (0 if it won't build)."""
        try:
            with torch.device("meta"):
                net = build_network(job.arch, self.input_shape, self.num_classes, self.space_cfg)
            return count_params(net)
        except Exception:  # a child that cannot be built fails fast in its task anyway
            return 0

    def close(self) -> None:
        """Shut Ray down if this evaluator started it."""
        if self.started_ray and self.ray.is_initialized():
            self.ray.shutdown()


def build_ray(setup: EvaluatorSetup) -> tuple[RayEvaluator, DataSplits]:
    """A Ray evaluator; the data stays on the CPU, each worker moves it to its own device."""
    data = load_dataset(setup.dataset, setup.seed)
    evaluator = RayEvaluator(setup.evaluator, data, setup.space, setup.child, setup.reward)
    return evaluator, data


# Declaring it imports no ray: `RayEvaluator` imports it when built (it takes a while).
EVALUATOR = EvaluatorDef(name="ray", config=RayEvaluatorConfig, build=build_ray)
