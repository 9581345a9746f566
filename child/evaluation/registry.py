"""The evaluators and rewards: every `EVALUATOR` and `REWARD` declared in `child/evaluation/`.

Adding an evaluator is one module here that ends with `EVALUATOR = EvaluatorDef(...)` (its
config dataclass, with a `check()`, and its `build`) plus one YAML file in `conf/evaluator/`;
a reward, likewise, one `RewardDef` and one YAML file in `conf/reward/`.
"""

from __future__ import annotations

from child.evaluation.evaluator import EvaluatorDef
from child.evaluation.rewards import RewardDef
from core.registry import Registry

EVALUATORS: Registry[EvaluatorDef] = Registry("evaluator", __package__, EvaluatorDef, "EVALUATOR")
REWARDS: Registry[RewardDef] = Registry("reward", __package__, RewardDef, "REWARD")
