"""The local evaluator: children trained one after another in this process."""

from __future__ import annotations

from child.data.datasets import DataSplits
from child.evaluation.config import ChildConfig
from child.evaluation.evaluator import ChildJob, InTurnEvaluator, evaluate_child
from child.evaluation.result import ChildResult
from child.evaluation.rewards import Reward
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
