"""Build the parts of a search from its typed config: space, controller, data, evaluator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.config import SearchConfig
from child.data.datasets import DataSplits
from child.evaluation.evaluator import Evaluator, EvaluatorSetup
from child.evaluation.registry import EVALUATORS
from child.spaces import SpaceConfig, build_space
from controller.base import Controller
from controller.factory import build_controller
from core.space import SearchSpace


@dataclass
class SearchParts:
    """Everything a search loop needs, built once per run."""

    space: SearchSpace
    space_cfg: SpaceConfig
    controller: Controller
    evaluator: Evaluator
    data: DataSplits | None  # None when rewards come from a table, not from training


def build_evaluator(cfg: SearchConfig, space_cfg: SpaceConfig) -> tuple[Evaluator, Any]:
    """The evaluator the config names, and the data it trains on (None if it trains nothing)."""
    setup = EvaluatorSetup(cfg.evaluator, cfg.dataset, space_cfg, cfg.child, cfg.reward, cfg.seed)
    return EVALUATORS.find(cfg.evaluator.name).build(setup)


def build_parts(cfg: SearchConfig) -> SearchParts:
    """Space, controller, evaluator and data for `cfg`."""
    space = build_space(cfg.search_space)
    controller = build_controller(cfg.controller, space, cfg.seed)
    evaluator, data = build_evaluator(cfg, cfg.search_space)
    return SearchParts(space, cfg.search_space, controller, evaluator, data)
