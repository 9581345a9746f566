"""Build the parts of a search from its typed config: space, controller, data, evaluator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.config import SearchConfig
from child.data.datasets import DataSplits, load_dataset
from child.evaluation.evaluator import Evaluator
from child.evaluation.local import LocalEvaluator
from child.evaluation.pool import PoolEvaluator, default_workers
from child.evaluation.shared import SharedEvaluator
from child.evaluation.trainer import resolve_device
from child.spaces import SpaceConfig, build_space, format_arch
from controller.base import Controller
from controller.factory import build_controller
from core.errors import ConfigError
from core.space import SearchSpace

EVALUATORS = ("local", "ray", "table", "shared")


@dataclass
class SearchParts:
    """Everything a search loop needs, built once per run."""

    space: SearchSpace
    space_cfg: SpaceConfig
    controller: Controller
    evaluator: Evaluator
    data: DataSplits | None  # None when rewards come from a table, not from training


def load_data(cfg: SearchConfig) -> DataSplits:
    """The data set, on the device the child recipe asks for."""
    return load_dataset(cfg.dataset, cfg.seed).to(resolve_device(cfg.child.device))


def build_evaluator(cfg: SearchConfig, space_cfg: SpaceConfig) -> tuple[Evaluator, Any]:
    """The evaluator the config names, and the data it trains on (None if it trains nothing)."""
    name = cfg.evaluator.name
    if name == "local":
        workers = local_workers(cfg)
        if workers == 1:
            data = load_data(cfg)
            return LocalEvaluator(data, space_cfg, cfg.child, cfg.reward), data
        data = load_dataset(cfg.dataset, cfg.seed)  # workers move it to their own device
        retries = cfg.evaluator.max_retries
        evaluator = PoolEvaluator(workers, data, space_cfg, cfg.child, cfg.reward, retries)
        return evaluator, data
    if name == "table":
        from child.evaluation.table import TableEvaluator

        evaluator = TableEvaluator.from_config(cfg.evaluator, cfg.reward)
        probe = build_space(space_cfg).sample(np.random.default_rng(0))
        if probe not in evaluator.table:
            raise ConfigError(
                f"evaluator=table has no entry for architectures of search_space="
                f"{space_cfg.name} (e.g. {format_arch(probe)}): use a matching space"
            )
        return evaluator, None
    if name == "ray":
        from child.evaluation.ray_evaluator import RayEvaluator  # imports ray, which takes a while

        data = load_dataset(cfg.dataset, cfg.seed)  # workers move it to their own device
        return RayEvaluator(cfg.evaluator, data, space_cfg, cfg.child, cfg.reward), data
    if name == "shared":
        data = load_data(cfg)
        return SharedEvaluator(cfg.evaluator, data, space_cfg, cfg.seed), data
    raise ConfigError(f"evaluator.name={name!r} is unknown: expected one of {EVALUATORS}")


def local_workers(cfg: SearchConfig) -> int:
    """The worker processes of `evaluator=local`: as set, else one per core (1 on a GPU)."""
    if cfg.evaluator.workers is not None:
        return cfg.evaluator.workers
    on_gpu = resolve_device(cfg.child.device).type == "cuda"
    return 1 if on_gpu else default_workers()


def build_parts(cfg: SearchConfig) -> SearchParts:
    """Space, controller, evaluator and data for `cfg`."""
    space = build_space(cfg.search_space)
    controller = build_controller(cfg.controller, space, cfg.seed)
    evaluator, data = build_evaluator(cfg, cfg.search_space)
    return SearchParts(space, cfg.search_space, controller, evaluator, data)
