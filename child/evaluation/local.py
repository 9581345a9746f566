"""The local evaluator: children trained one after another in this process, or in a pool."""

from __future__ import annotations

from child.data.datasets import DataSplits, load_dataset
from child.evaluation.config import ChildConfig, LocalEvaluatorConfig
from child.evaluation.evaluator import (
    ChildJob,
    Evaluator,
    EvaluatorDef,
    EvaluatorSetup,
    InTurnEvaluator,
    evaluate_child,
)
from child.evaluation.pool import PoolEvaluator, default_workers
from child.evaluation.result import ChildResult
from child.evaluation.rewards import Reward
from child.evaluation.trainer import resolve_device
from child.spaces import SpaceConfig


class LocalEvaluator(InTurnEvaluator):
    """Trains children one after another in this process, on the data's device."""

    def __init__(
        self,
        data: DataSplits,
        space_cfg: SpaceConfig,
        child_cfg: ChildConfig,
        reward_cfg: Reward,
    ) -> None:
        super().__init__()
        self.data = data
        self.space_cfg = space_cfg
        self.child_cfg = child_cfg
        self.reward_cfg = reward_cfg

    def evaluate_one(self, job: ChildJob) -> ChildResult:
        """Train the job's child here and now."""
        return evaluate_child(job, self.data, self.space_cfg, self.child_cfg, self.reward_cfg)


def local_workers(cfg: LocalEvaluatorConfig, child_cfg: ChildConfig) -> int:
    """The worker processes of `evaluator=local`: as set, else one per core (1 on a GPU)."""
    if cfg.workers is not None:
        return cfg.workers
    on_gpu = resolve_device(child_cfg.device).type == "cuda"
    return 1 if on_gpu else default_workers()


def build_local(setup: EvaluatorSetup) -> tuple[Evaluator, DataSplits]:
    """One worker: a `LocalEvaluator` with the data on the recipe's device; more: a pool."""
    workers = local_workers(setup.evaluator, setup.child)
    data = load_dataset(setup.dataset, setup.seed)
    if workers == 1:
        data = data.to(resolve_device(setup.child.device))
        return LocalEvaluator(data, setup.space, setup.child, setup.reward), data
    # Workers move the data to their own device.
    retries = setup.evaluator.max_retries
    pool = PoolEvaluator(workers, data, setup.space, setup.child, setup.reward, retries)
    return pool, data


EVALUATOR = EvaluatorDef(name="local", config=LocalEvaluatorConfig, build=build_local)
